"""Start the app with heavy modules imported up front: ``python -m ui.serve [streamlit args]``.

``make run`` uses this instead of a bare ``streamlit run app.py`` so that the first visitor does
not wait for torch to import (a page shows within a second), and so that Streamlit never enters
its legacy ``pages/`` discovery mode (see :func:`ui.charts.ensure_entry`).
"""

import sys
from pathlib import Path


def main() -> None:
    import plotly.graph_objects  # noqa: F401  (warm imports)
    import torch  # noqa: F401
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    import core.live  # noqa: F401
    import ui.live

    ui.live.warm_up()  # the first optimizer step and the bundled digits cost seconds
    PagesManager.uses_pages_directory = False
    app = str(Path(__file__).resolve().parents[1] / "app.py")
    sys.argv = ["streamlit", "run", app, *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
