"""`streamlit run app.py` starts through ui.serve.lifespan (app.py is also an st.App)."""

import asyncio
import importlib.util
import subprocess
import sys
import threading
import time

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.web.server.app_discovery import discover_asgi_app

from tests.conftest import ROOT
from ui import serve


def test_streamlit_run_finds_app_py_as_an_asgi_app():
    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.import_string == "app:app"


def test_importing_app_py_outside_a_script_run_builds_the_app_without_running_pages():
    spec = importlib.util.spec_from_file_location("liveprop_app_module", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.app, st.App)
    assert not hasattr(module, "build_navigation")  # the navigation runs per session only


def test_lifespan_warms_up_and_switches_legacy_pages_and_post_run_gc_off(monkeypatch):
    # legacy pages/ discovery would show "Page not found" on a fresh server's first deep link
    # (tests/test_browser.py::test_first_deep_link_on_a_fresh_server)
    from streamlit import config

    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)
    monkeypatch.setattr(sys, "setswitchinterval", lambda s: switch.append(s))
    switch: list[float] = []
    import core.executors

    workers: list[str] = []  # the fork server's start: it ends 0.5 s after prepare() here,
    prepared = threading.Event()  # and the server must wait for it before its first visitor
    monkeypatch.setattr(core.executors, "warm_up", lambda: (
        prepared.wait(60), time.sleep(0.5), workers.append("ready")))
    monkeypatch.setattr(serve, "prepare", lambda p=serve.prepare: (p(), prepared.set()))
    before = (config.get_option("runner.postScriptGC"), config.get_where_defined(
        "runner.postScriptGC"))
    # as when the server starts outside the repo, where .streamlit/config.toml is not read
    config.set_option("runner.postScriptGC", True, config.ConfigOption.DEFAULT_DEFINITION)

    async def enter() -> None:
        async with serve.lifespan(None):
            assert PagesManager.uses_pages_directory is False
            assert config.get_option("runner.postScriptGC") is False
            assert switch == [0.0005], "a short GIL switch interval keeps training threads moving"
            assert workers == ["ready"], "visitors come after the worker processes can start"

    try:
        asyncio.run(enter())
    finally:
        config.set_option("runner.postScriptGC", *before)


def test_streamlit_does_not_collect_garbage_after_every_script_run():
    # Streamlit's default gc.collect(2) after each (fragment) run held the GIL ~0.5 s per
    # poll with torch loaded and starved the training threads (3x fewer steps per second)
    import tomllib

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False


def test_warm_pages_fills_the_caches_of_the_slow_first_visits():
    from core.graphs import gnn
    from core.sequences import captioning

    captioning.get_data.cache_clear()
    serve.warm_pages()  # the lifespan runs this in a background thread
    c = captioning.CaptioningConfig()
    before = captioning.get_data.cache_info().hits
    captioning.get_data(c.dataset, c.n_train, c.style)  # what /captioning asks for first
    assert captioning.get_data.cache_info().hits == before + 1
    assert "torch_geometric.utils" in sys.modules
    assert gnn.make_graph(gnn.GnnConfig()).num_nodes > 0


def test_importing_the_ui_changes_no_interpreter_setting():
    code = ("import sys; before = sys.getswitchinterval(); import ui.live, ui.charts, ui.shell; "
            "assert sys.getswitchinterval() == before, sys.getswitchinterval()")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_the_server_sets_openmp_to_sleep_before_torch_loads():
    # libgomp reads GOMP_SPINCOUNT once, when torch loads: app.py imports ui.serve first
    code = ("import os, sys; import ui.serve; assert 'torch' not in sys.modules; "
            "assert os.environ['GOMP_SPINCOUNT'] == '30000'")
    env = {k: v for k, v in __import__("os").environ.items() if k != "GOMP_SPINCOUNT"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr


def test_a_bad_worker_count_stops_the_server_with_one_line(monkeypatch):
    monkeypatch.setenv("LIVEPROP_WORKERS", "two")
    with pytest.raises(SystemExit) as stop:
        serve.check_environment()
    assert str(stop.value).startswith("Liveprop cannot start: LIVEPROP_WORKERS='two' is not allowed")
    monkeypatch.setenv("LIVEPROP_WORKERS", "3")
    serve.check_environment()
