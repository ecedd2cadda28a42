"""The app shell: page config and the sectioned navigation over the page catalogue."""

from __future__ import annotations

import streamlit as st

from ui.pages import SECTIONS, existing_pages

SCRIPT_RUN_KEY = "_liveprop_script_run"  # full script runs of this browser session so far


def home() -> None:
    """The home page: what Liveprop is, and every page with its line and thumbnail."""
    st.title("Liveprop")
    st.markdown(
        "Every page here trains a small PyTorch model **live**, in your browser session, and "
        "shows what it learns while it learns. Pick a page, press **Train**, move a slider, "
        "train again and compare. Every experiment also runs headless: "
        "`python -m core train DEMO --set key=value`.")
    for section in SECTIONS:
        pages = [p for p in existing_pages() if p.section == section]
        if not pages:
            continue
        st.subheader(section)
        cols = st.columns(3)
        for i, p in enumerate(pages):
            with cols[i % 3].container(border=True):
                if p.thumbnail is not None:
                    st.image(str(p.thumbnail), width="stretch")
                st.page_link(p.file, label=p.title, icon=p.icon)
                st.caption(p.blurb)


def build_navigation():
    """Set the page config and declare the navigation; returns the page to run.

    A page's URL path comes from the catalogue (:mod:`ui.pages`), not from its file name.
    Also counts the session's full script runs in ``st.session_state[SCRIPT_RUN_KEY]`` (fragment
    reruns do not run this), which :func:`ui.live.run_panel` uses to defer its first charts.
    """
    st.session_state[SCRIPT_RUN_KEY] = st.session_state.get(SCRIPT_RUN_KEY, 0) + 1
    presenting = st.query_params.get("present", "") in ("1", "true", "yes")  # ui.lessons
    st.set_page_config(page_title="Liveprop", page_icon=":material/model_training:",
                       layout="wide",
                       initial_sidebar_state="collapsed" if presenting else "auto")
    nav: dict[str, list] = {"": [st.Page(home, title="Home", icon=":material/home:",
                                         default=True, url_path="home")]}
    for section in SECTIONS:
        pages = [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path)
                 for p in existing_pages() if p.section == section]
        if pages:
            nav[section] = pages
    return st.navigation(nav, expanded=True)
