"""End-to-end in real Chromium against `streamlit run app.py` on a free loopback port.

Every page in the catalogue: deep-link to its URL, check that the app shell (navigation) ran,
press Train, wait until training progress and a chart show, assert no exception element, and
save a screenshot under test-output/browser/. Run alone with `make test-browser`.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from bench.load_client import StreamlitServer
from tests.conftest import ROOT
from ui.pages import existing_pages

# one server and one Chromium for each pytest-xdist worker that runs tests of this module: the
# tests share one worker (`--dist loadgroup`), but for every second page's, which run in the other
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUT = ROOT / "test-output" / "browser"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VISUALS = ".js-plotly-plot, [data-testid='stImage'], [data-testid='stVegaLiteChart']"
PREVIEW = VISUALS + ", [data-testid='stDataFrame'], [data-testid='stTable']"


class Server(StreamlitServer):
    """`streamlit run app.py` on a free loopback port (plain command: the harshest deep-link
    case), logging to test-output/browser/."""

    def __init__(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        # no per-run time budget: beside the other pytest-xdist worker's training, a default run
        # (SimCLR) was estimated over 30 min and stopped; the budget has its own engine tests
        super().__init__(OUT / f"server-{time.time_ns()}.log", env={"LIVEPROP_MAX_RUN_S": "0"})


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (make test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(browser):
    s = Server()
    yield s
    s.stop()


def assert_app_shell(page, title: str) -> None:
    """The page ran inside app.py: our navigation is there, no 'Page not found', no exception."""
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=60_000)
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
    nav = page.locator("[data-testid='stSidebarNav']").inner_text()
    assert "Home" in nav, f"navigation of app.py missing (legacy pages mode?): {nav!r}"
    assert page.get_by_text("Page not found").count() == 0
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("url_path", ["playground", existing_pages()[-1].url_path])
def test_first_deep_link_on_a_fresh_server(browser, url_path):
    info = next(p for p in existing_pages() if p.url_path == url_path)
    srv = Server()
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{srv.url}/{url_path}")
        # the first navigation to appear is already app.py's (ui.serve.prepare switches legacy
        # pages/ discovery off before the first visitor), not the legacy list of file names
        first_nav = page.wait_for_selector("[data-testid='stSidebarNav']", timeout=60_000)
        assert "Home" in first_nav.inner_text(), first_nav.inner_text()
        assert_app_shell(page, info.title)
        page.close()
    finally:
        srv.stop()


def test_charts_follow_the_controls_unasked(browser, server):
    """A new tab's first page draws its controls first and its charts one fragment poll later
    (``ui.live.first_paint_deferred``): the charts must come without any click."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server.url}/playground")
    page.get_by_role("button", name="Train", exact=True).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.get_by_text("Drawing the charts").count() == 0
    page.close()


PROGRESS = re.compile(r"^(Training · |Done · )")


def run_status(page) -> str:
    """The lines of the page that say what its run is doing (for failure messages)."""
    text = page.locator("[data-testid='stMain']").inner_text(timeout=5_000)
    keys = ("Training", "Waiting", "Stopped", "Paused", "Done", "Dropped", "would take", "failed",
            "can't")
    return " | ".join(line for line in text.splitlines() if any(k in line for k in keys))[:600]


def _half(i: int):
    """The other xdist worker takes every second page, with its own server and Chromium (one
    worker alone spent ~13 min of the suite's ~21 here)."""
    return pytest.mark.xdist_group("browser" if i % 2 == 0 else "browser-2")


@pytest.mark.parametrize("info", [pytest.param(p, marks=_half(i), id=p.url_path)
                                  for i, p in enumerate(existing_pages())])
def test_page_trains_in_the_browser(browser, server, info):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})  # tall: charts in the shot
    page.goto(f"{server.url}/{info.url_path}")
    assert_app_shell(page, info.title)
    page.locator(PREVIEW).first.wait_for(timeout=60_000)  # something shows before training
    page.get_by_role("button", name="Train", exact=True).first.click()
    progress = page.get_by_text(PROGRESS)
    try:
        progress.first.wait_for(timeout=90_000)
    except Exception:
        pytest.fail(f"no training progress 90 s after Train; the page says: {run_status(page)}"
                    f" (at {page.url})")
    first = progress.first.inner_text()
    deadline = time.time() + 60
    while time.time() < deadline:  # the live view updates: the step count moves or it finishes
        now = progress.first.inner_text() if progress.count() else run_status(page)
        if now != first or now.startswith("Done"):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"progress did not move from {first!r}; the page says: {run_status(page)}")
    assert PROGRESS.match(now), f"training did not go on: {run_status(page)}"
    time.sleep(1.5)
    page.locator(VISUALS).first.wait_for(timeout=30_000)  # charts are there (not mid-redraw)
    assert page.locator("[data-testid='stException']").count() == 0, \
        page.locator("[data-testid='stException']").first.inner_text()[:300]
    page.screenshot(path=str(OUT / f"{info.url_path}.png"), full_page=True)
    page.close()


def test_a_lesson_locks_controls_and_the_presenter_moves_the_class(browser, server):
    """Two tabs are two sessions: the presenter's step buttons move the follower's page."""
    presenter = browser.new_page(viewport={"width": 1400, "height": 1200})
    presenter.goto(f"{server.url}/playground?lesson=overfitting&present=1")
    presenter.get_by_text("Lesson: Overfitting on the playground").first.wait_for(timeout=60_000)
    student = browser.new_page(viewport={"width": 1400, "height": 1200})
    student.goto(f"{server.url}/playground?lesson=overfitting")
    student.get_by_text("Following the presenter's steps.").first.wait_for(timeout=60_000)
    student.get_by_text("Locked by the lesson:").first.wait_for(timeout=10_000)
    assert student.get_by_text("L2 regularization").count() == 0
    presenter.get_by_role("button", name="2", exact=True).first.click()
    presenter.get_by_text("step 2 of 3").first.wait_for(timeout=30_000)
    student.get_by_text("step 2 of 3").first.wait_for(timeout=60_000)  # followed, unasked
    student.get_by_text("Same network with L2 regularization").first.wait_for(timeout=10_000)
    assert student.locator("[data-testid='stException']").count() == 0
    student.screenshot(path=str(OUT / "lesson-follower.png"), full_page=True)
    presenter.screenshot(path=str(OUT / "lesson-presenter.png"), full_page=True)
    presenter.close()
    student.close()


def test_a_digit_drawn_on_the_cnn_pad_is_classified(browser, server):
    """/cnn's drawing pad (streamlit-drawable-canvas) takes mouse strokes, and the model that
    just trained answers with its view of the drawing."""
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(f"{server.url}/cnn?dataset=mnist&epochs=1&n_train=1000")
    page.get_by_role("button", name="Train", exact=True).first.click()
    page.get_by_text("Done · ").first.wait_for(timeout=120_000)
    page.get_by_role("tab", name="Your digit").click()
    page.get_by_text("…or draw one:").first.scroll_into_view_if_needed()
    pads = page.locator("canvas")
    pads.last.wait_for(timeout=30_000)
    box = next(b for b in (pads.nth(i).bounding_box() for i in range(pads.count()))
               if b and b["width"] == 200 and b["height"] == 200)
    x, y = box["x"] + 100, box["y"] + 40
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 21):  # a vertical stroke: a "1"
        page.mouse.move(x, y + 6 * i, steps=2)
    page.mouse.up()
    page.get_by_text("as the network sees it").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0
    page.close()
