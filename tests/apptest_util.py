"""Helpers for AppTest page tests: open a page, press Train, poll until snapshots arrive."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from ui.pages import page


def open_page(url_path: str, timeout: float = 60, first_paint: bool = True) -> AppTest:
    """Run app.py and switch to the catalogue's page at ``/<url_path>``; asserts no exception.

    A session's first run with a run panel draws the controls only and asks for the charts one
    fragment poll later (``ui.live.first_paint_deferred``); AppTest never fires that timer, so
    with ``first_paint`` this runs the page once more, as the browser would.
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
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


def button(at: AppTest, label: str):
    """The first button with this label."""
    for b in at.button:
        if b.label == label:
            return b
    raise AssertionError(f"no button {label!r}; buttons: {[b.label for b in at.button]}")


def train_until(at: AppTest, done, timeout: float = 60.0, label: str = "Train") -> AppTest:
    """Click Train, then re-run (AppTest never fires run_every timers) until ``done(at)``."""
    button(at, label).click()
    at.run()
    assert not at.exception, at.exception
    t0 = time.time()
    while not done(at):
        if time.time() - t0 > timeout:
            raise AssertionError("page did not reach the expected state in time")
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception
    return at


def page_charts(at: AppTest) -> list:
    """Every chart on the page, Plotly (``plotly_chart``) and Vega-Lite (``vega_lite_chart``:
    ``ui.charts.line_chart`` curves), in that order. Each has ``.proto.spec`` (the figure as
    JSON, titles included); only Plotly charts carry their ``key`` in ``.proto.id``."""
    return [*at.get("plotly_chart"), *at.get("vega_lite_chart")]


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


def is_done(at: AppTest) -> bool:
    """True once the page's progress line says the run is done."""
    return any(t.startswith("Done") for t in progress_texts(at))


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
