"""No page sends a chart (Plotly or Vega-Lite) in a browser session's first run; every page
draws its run panel (Train, Stop, Resume, Reset) in that first run and keeps it.

Streamlit's frontend keeps the whole page (Train button included) as skeletons while it loads
a chart library's bundle on first use, so a session's first page draws its controls first:
either its run panel defers the charts by one poll (``ui.live.first_paint_deferred``), or the
page's pre-training preview has no chart and it says so with ``defer_first_paint=False``.
"""

import pytest

from tests.apptest_util import open_page, page_charts
from ui.pages import existing_pages

RUN_PANEL = ["Train", "Stop", "Resume", "Reset"]


def run_panel(at) -> list[str]:
    """The four button labels from the page's first Train button on (``/simclr`` draws its
    augmentation viewer's button before)."""
    labels = [b.label for b in at.button]
    return labels[labels.index("Train"):][:4] if "Train" in labels else labels


@pytest.mark.parametrize("info", existing_pages(), ids=lambda p: p.url_path)
def test_first_run_of_a_session_draws_the_controls_and_no_chart(clean_streamlit, info):
    at = open_page(info.url_path, first_paint=False)
    assert not page_charts(at), (
        f"/{info.url_path} draws a chart in a session's first run: its run panel must "
        "defer the first paint (the default) rather than pass defer_first_paint=False")
    assert run_panel(at) == RUN_PANEL
    at.run()  # the browser's first poll
    assert not at.exception, at.exception
    assert not any("Drawing the" in c.value for c in at.caption), "the charts never came"
    assert run_panel(at) == RUN_PANEL
