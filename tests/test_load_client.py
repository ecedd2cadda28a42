"""The protocol-level load client (``bench/load_client.py``) against ``streamlit run app.py``.

``test_two_sessions_train_over_the_protocol`` starts a server (marked ``browser`` so that it runs
with the other server tests); ``test_element_tree_follows_the_frontend`` checks the client's
element tree on hand-made messages, without a server.
"""

from __future__ import annotations

import asyncio

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.load_client import Session, StreamlitServer
from tests.conftest import ROOT


async def _train(url: str, seed: int) -> Session:
    s = Session(url, name=f"seed{seed}")
    try:
        await s.open("playground", f"steps=200&seed={seed}", timeout=60)
        assert not s.page_not_found
        assert "MLP playground" in s.texts(), s.texts()[:5]
        assert "seed=" in s.query and "steps=200" in s.query  # the app kept the link's settings
        await s.press("playground.train")
        await s.wait_for(lambda: s.stats.done_s is not None and s.stats.first_chart_s is not None,
                         60)
        # the run ended: the status poll's full rerun redefines the fragments without timers
        await s.wait_for(lambda: not s.script_running and not s.fragments_polling(), 15)
        assert s.progress_text().startswith("Done · 200 steps"), s.progress_text()
        assert s.has_chart()
    finally:
        await s.close()
    return s


@pytest.mark.browser
def test_two_sessions_train_over_the_protocol():
    srv = StreamlitServer(ROOT / "test-output" / "load_client" / "server.log")
    try:
        async def both() -> list[Session]:
            return await asyncio.gather(_train(srv.url, 1), _train(srv.url, 2))

        sessions = asyncio.run(both())
    finally:
        srv.stop()
    for s in sessions:
        st = s.stats
        assert s.exceptions == [], s.exceptions
        assert st.response_s is not None and st.response_s < 60, st
        assert st.done_s is not None and st.first_chart_s is not None, st
        assert st.response_s <= st.done_s, st


def _msg(kind: str, path: tuple[int, ...] = (), run: str = "", fragments: tuple[str, ...] = (),
         fragment_id: str = "", text: str = "", status: int = 0) -> ForwardMsg:
    m = ForwardMsg()
    if kind == "new_session":
        m.new_session.page_script_hash = "page"
        m.metadata.run.script_run_id = run
        m.metadata.run.fragment_ids.extend(fragments)
    elif kind == "script_finished":
        m.script_finished = status
    else:
        m.metadata.delta_path.extend(path)
        m.delta.fragment_id = fragment_id
        if kind == "block":
            m.delta.add_block.vertical.SetInParent()
        else:
            m.delta.new_element.markdown.body = text
    return m


def test_element_tree_follows_the_frontend():
    async def run() -> Session:
        s = Session("http://127.0.0.1:1")
        done = ForwardMsg.ScriptFinishedStatus
        for m in [
            _msg("new_session", run="r1"),
            _msg("element", (0, 0), text="title"),
            _msg("block", (0, 1), fragment_id="f"),
            _msg("element", (0, 1, 0), fragment_id="f", text="step 1"),
            _msg("element", (0, 2), text="footer"),
            _msg("script_finished", status=done.FINISHED_SUCCESSFULLY),
            # a fragment run redraws only its own block; elements outside it stay
            _msg("new_session", run="r2", fragments=("f",)),
            _msg("block", (0, 1), fragment_id="f"),
            _msg("element", (0, 1, 0), fragment_id="f", text="step 2"),
            _msg("script_finished", status=done.FINISHED_FRAGMENT_RUN_SUCCESSFULLY),
        ]:
            s._handle(m)
        assert s.texts() == ["title", "step 2", "footer"]
        assert s.page_script_hash == "page"
        # a full run that does not redraw the footer removes it
        for m in [_msg("new_session", run="r3"), _msg("element", (0, 0), text="title"),
                  _msg("block", (0, 1), fragment_id="f"),
                  _msg("script_finished", status=done.FINISHED_SUCCESSFULLY)]:
            s._handle(m)
        assert s.texts() == ["title"]
        s._start_timer("f", 1.0)
        assert s.fragments_polling() == {"f": 1.0}
        s._handle(_msg("new_session", run="r4"))  # a full run cancels every poll timer
        assert s.fragments_polling() == {}
        return s

    asyncio.run(run())
