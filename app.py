"""Liveprop: every page trains a small PyTorch model live and shows what it learns.

Run with ``make run`` or ``streamlit run app.py``. This file plays two roles:

* Streamlit runs it as the entry *script* of every browser session: page config and the
  sectioned navigation over ``pages/``.
* ``streamlit run`` first *imports* it (no script context then) and finds ``app = st.App(...)``:
  the server starts through :func:`ui.serve.lifespan`, which imports torch and pays the other
  one-off costs before the first visitor arrives, and switches off Streamlit's legacy ``pages/``
  discovery (see :func:`ui.serve.prepare`).
"""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

if get_script_run_ctx(suppress_warning=True) is None:  # `streamlit run` imports it: the server
    from ui.serve import check_environment, lifespan

    check_environment()
    app = st.App(__file__, lifespan=lifespan)
else:  # a browser session's script run
    from ui.shell import build_navigation

    build_navigation().run()
