"""Helpers for AppTest page tests: open a page, press Train, poll until snapshots arrive."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.pages import page


def open_page(url_path: str, timeout: float = 60, first_paint: bool = True,
              params: dict[str, str] | None = None) -> AppTest:
    """Run app.py and switch to the catalogue's page at ``/<url_path>``; asserts no exception.

    ``params`` is the link's query string, there from the session's first run as when a shared
    link is opened. A session's first run with a run panel draws the controls only and asks for
    the charts one fragment poll later (``ui.live.first_paint_deferred``); AppTest never fires
    that timer, so with ``first_paint`` this runs the page once more, as the browser would.
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params.update(params or {})
    at.run()
    assert not at.exception, at.exception
    if url_path:
        at.switch_page(page(url_path).file)
        at.run()
        assert not at.exception, at.exception
        if first_paint:
            at.run()
            assert not at.exception, at.exception
    return at


def open_link(url_path: str, params: dict[str, str], timeout: float = 60,
              first_paint: bool = False) -> AppTest:
    """Open the link ``/<url_path>?<params>`` (old, crafted or hostile values alike) and return
    the page as its first run draws it: the controls the link set and the notices about its
    values (``first_paint``: one run more, see :func:`open_page`); asserts no exception."""
    return open_page(url_path, timeout, first_paint=first_paint, params=params)


def link_params(at: AppTest) -> dict[str, str]:
    """The page's query string now, one value a key (AppTest may hold a value as a 1-list)."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def set_controls(at: AppTest, values: dict[str, object]) -> AppTest:
    """Set widgets by key (``{"gan.steps": 200}``), whatever their kind, then run the page once;
    asserts no exception."""
    for key, value in values.items():
        at.get_by_key(key).set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def assert_says(elements, *fragments: str) -> None:
    """Assert that each fragment stands in one of ``elements`` (``at.warning``, ``at.error``,
    ``at.caption``, ...) as the reader sees it, Markdown's escaping backslashes removed."""
    shown = [e.value.replace("\\", "") for e in elements]
    missing = [f for f in fragments if not any(f in text for text in shown)]
    assert not missing, f"{missing} not said in {shown}"


def button(at: AppTest, label: str):
    """The first button with this label."""
    for b in at.button:
        if b.label == label:
            return b
    raise AssertionError(f"no button {label!r}; buttons: {[b.label for b in at.button]}")


def wait_until(at: AppTest, done, timeout: float = 60.0) -> AppTest:
    """Re-run the page (AppTest never fires ``run_every`` timers) until ``done(at)``, at first
    every 0.3 s, then less often (at most every 2 s); asserts no exception on any run;
    AssertionError after ``timeout`` seconds."""
    t0, pause = time.time(), 0.3
    while not done(at):
        if time.time() - t0 > timeout:
            raise AssertionError("page did not reach the expected state in time")
        time.sleep(pause)
        pause = min(2.0, pause * 1.5)  # each rerun redraws the page: CPU the run would use
        at.run()
        assert not at.exception, at.exception
    return at


def train_until(at: AppTest, done=None, timeout: float = 60.0, label: str = "Train") -> AppTest:
    """Click Train (or the button ``label``), then re-run until ``done(at)`` (:func:`wait_until`);
    by default until the run is done (:func:`is_done`)."""
    button(at, label).click()
    at.run()
    assert not at.exception, at.exception
    return wait_until(at, done or is_done, timeout)


def page_charts(at: AppTest) -> list:
    """Every chart on the page, Plotly (``plotly_chart``) and Vega-Lite (``vega_lite_chart``:
    ``ui.charts.line_chart`` curves), in that order. Each has ``.proto.spec`` (the figure as
    JSON, titles included); only Plotly charts carry their ``key`` in ``.proto.id``."""
    return [*at.get("plotly_chart"), *at.get("vega_lite_chart")]


def chart_specs(at: AppTest) -> str:
    """Every chart's JSON (:func:`page_charts`), joined by `` | ``: where a test looks for words
    anywhere in the figures, titles, axis labels and legends included."""
    return " | ".join(c.proto.spec for c in page_charts(at))


def chart_titles(at: AppTest) -> list[str]:
    """The titles of every chart on the page (Plotly and Vega-Lite), for tests that look for a
    chart by what it shows rather than by how many there are."""
    import json

    titles = []
    for c in page_charts(at):
        spec = json.loads(c.proto.spec)
        title = spec.get("title") or spec.get("layout", {}).get("title", "")  # Vega-Lite, Plotly
        if isinstance(title, dict):
            title = title.get("text", "")
        titles.append(str(title))
    return titles


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def is_done(at: AppTest, n: int = 1) -> bool:
    """True once ``n`` of the page's progress lines (one a run panel) say their run is done."""
    return sum(t.startswith("Done") for t in progress_texts(at)) >= n


def upload_images(at: AppTest, page_key: str, zip_bytes: bytes) -> AppTest:
    """Choose "your images" as the dataset of ``page_key``'s form: the page asks for a zip, a
    file that is not a zip gets its sentence, then ``zip_bytes`` is uploaded (not yet run)."""
    at.selectbox(key=f"{page_key}.dataset").set_value("upload")
    at.run()
    assert not at.exception, at.exception
    assert any("Upload a zip" in i.value for i in at.info), "the page says what to upload"
    at.file_uploader(key=f"{page_key}.image_zip").upload("mine.zip", b"not a zip",
                                                         "application/zip")
    at.run()
    assert any("not a zip archive" in e.value for e in at.error), [e.value for e in at.error]
    at.file_uploader(key=f"{page_key}.image_zip").upload("digits.zip", zip_bytes,
                                                         "application/zip")
    return at
