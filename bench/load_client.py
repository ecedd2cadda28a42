"""Simulated browser sessions for load tests: Streamlit's own websocket protocol, no browser.

One :class:`Session` is what one browser tab does on the wire, and costs a few MiB of client
memory and almost no CPU, so 30 sessions measure the server instead of 30 Chromium tabs:

* connect to ``ws://HOST:PORT/_stcore/stream`` with the subprotocols the frontend offers
  (``["streamlit", <xsrf token or placeholder>]``) and a same-origin ``Origin`` header;
* send ``BackMsg.rerun_script`` (a ``ClientState``): the first with ``page_name`` = the URL path
  and ``page_script_hash`` empty (``st.navigation`` resolves the page), later ones with the
  page's script hash from the ``navigation`` message; the query string is the URL's, updated from
  ``page_info_changed`` as the browser does when the app writes ``st.query_params``;
* keep the element tree from ``delta`` messages (``metadata.delta_path`` -> element or block),
  dropping elements a finished run did not redraw, as the frontend does: a full run clears every
  stale element, a fragment run only the stale elements of its fragments;
* schedule fragment reruns like the frontend: an ``auto_rerun`` message starts a timer that sends
  ``rerun_script`` with that ``fragment_id`` and ``is_auto_rerun`` every ``interval`` seconds
  (whether or not a run is in progress: the server coalesces), ``stop_auto_rerun`` cancels
  timers, and the ``new_session`` of a full run cancels all of them.

Measured per session from :meth:`Session.press` (see :class:`PressStats`): time to the first
visible response (a progress bar or the queue notice), to the first "Training · step N" (N >= 1)
or "Done" text, to the first chart drawn after that (the first *trained* chart), to "Done", and
every queue position shown.

Limits: widget states are not mirrored; a rerun sends only the pressed button's trigger (the
server keeps every other widget's value from the previous run, so the script sees what a browser
would send, but the messages are smaller). Messages are never served from the browser's
ForwardMsg cache (no ``cached_message_hashes``), so every chart arrives in full, as for a tab
with a cold cache. Charts are not drawn and their JavaScript bundles are not loaded; media
(``st.image``) URLs are fetched over HTTP only with ``fetch_media=True``.

Usage::

    async with Session("http://127.0.0.1:8501") as s:
        await s.open("playground", "steps=200")
        await s.press("playground.train")
        await s.wait_for(lambda: s.progress_text().startswith("Done"), timeout=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
CHART_TYPES = frozenset({"plotly_chart", "vega_lite_chart", "imgs", "graphviz_chart",
                         "deck_gl_json_chart", "echarts_chart"})
QUEUE_RE = re.compile(r"Waiting for a free trainer: position (\d+)")
TRAINED_RE = re.compile(r"^(Training · step [1-9]|Done\b)")
FINISHED = ForwardMsg.ScriptFinishedStatus


@dataclass
class Node:
    """One entry of the element tree: an element (``kind`` is its type) or a block."""

    kind: str
    element: Any  # streamlit.proto.Element_pb2.Element, or None for a block
    run_id: str
    fragment_id: str


@dataclass
class PressStats:
    """What one session saw after pressing Train; times in seconds after the press."""

    response_s: float | None = None  # first progress bar or queue notice
    response_text: str = ""
    started_s: float | None = None  # first "Training · step N" (N >= 1) or "Done"
    first_chart_s: float | None = None  # first chart drawn after ``started_s``
    done_s: float | None = None  # first "Done · ..." progress text
    queue_positions: list[int] = field(default_factory=list)  # each new position shown


def element_text(kind: str, el: Any) -> str:
    """The text a user reads in an element ("" for elements without text)."""
    if kind in ("markdown", "text", "heading", "alert"):
        return getattr(el, kind).body
    if kind == "progress":
        return el.progress.text
    if kind == "metric":
        return f"{el.metric.label}: {el.metric.body}"
    if kind in ("button", "download_button"):
        return getattr(el, kind).label
    if kind == "exception":
        return f"{el.exception.type}: {el.exception.message}"
    if kind == "code":
        return el.code.code_text
    return ""


class Session:
    """One simulated browser tab on a Streamlit server (see the module docstring)."""

    def __init__(self, base_url: str, name: str = "session", fetch_media: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.fetch_media = fetch_media
        self.url_path = ""
        self.query = ""
        self.page_script_hash = ""
        self.nodes: dict[tuple[int, ...], Node] = {}
        self.run_id = ""
        self.run_fragments: tuple[str, ...] = ()
        self.script_running = False
        self.runs_finished = 0
        self.exceptions: list[str] = []  # every exception element that arrived
        self.page_not_found = False
        self.msgs_in = 0
        self.bytes_in = 0
        self.msgs_out = 0
        self.media_bytes = 0
        self.press_t: float | None = None
        self.stats = PressStats()
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}
        self._media: set[asyncio.Task] = set()
        self._update = asyncio.Event()
        self.closed = False

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ actions

    async def open(self, url_path: str, query: str = "", timeout: float = 60.0,
                   wait_chart: bool = True) -> None:
        """Connect and run the page at ``/url_path?query`` like a new tab; returns when the
        first full run has finished (and, with ``wait_chart``, a chart is drawn: a page's first
        charts may come one fragment poll after its controls)."""
        self.url_path, self.query = url_path.strip("/"), query.lstrip("?")
        ws_url = "ws" + self.base_url[len("http"):] + "/_stcore/stream"
        self._ws = await connect(ws_url, subprotocols=["streamlit", "PLACEHOLDER_AUTH_TOKEN"],
                                 origin=self.base_url, max_size=None, ping_interval=None)
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}.read")
        await self._rerun()
        await self.wait_for(lambda: self.runs_finished > 0 and not self.script_running,
                            timeout)
        if wait_chart:
            await self.wait_for(self.has_chart, timeout)

    async def press(self, key: str) -> None:
        """Click the button whose widget id ends with ``key`` (e.g. ``"playground.train"``);
        starts the :class:`PressStats` clock."""
        buttons = {n.element.button.id: n.fragment_id for n in self.nodes.values()
                   if n.kind == "button"}
        match = ([i for i in buttons if i.endswith(key)] or [i for i in buttons if key in i])
        if not match:
            raise LookupError(f"{self.name}: no button {key!r} among {list(buttons)}")
        self.press_t, self.stats = time.monotonic(), PressStats()
        # a button inside a fragment reruns only that fragment, as the frontend asks
        await self._rerun([WidgetState(id=match[0], trigger_value=True)],
                          fragment_id=buttons[match[0]])

    async def run_fragment(self, fragment_id: str, auto: bool = True) -> None:
        """Request a rerun of one fragment (what the frontend's ``run_every`` timer sends)."""
        await self._rerun(fragment_id=fragment_id, auto=auto)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds, re-checked after every message received."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.closed:
                raise ConnectionError(f"{self.name}: connection closed")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: condition not met in {timeout:.0f} s; "
                                   f"texts now: {self.texts()[:12]}")
            event = self._update
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)

    async def close(self) -> None:
        """Stop the timers and close the websocket (the server then ends the session)."""
        for _, task in self._timers.values():
            task.cancel()
        self._timers.clear()
        for task in self._media:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        self.closed = True

    # ---------------------------------------------------------------- accessors

    def elements(self, kind: str | None = None) -> list[Node]:
        """Elements shown now, in delta-path order (``kind`` filters by element type)."""
        return [self.nodes[p] for p in sorted(self.nodes)
                if self.nodes[p].element is not None and kind in (None, self.nodes[p].kind)]

    def texts(self) -> list[str]:
        """Every non-empty text shown now, in page order."""
        return [t for n in self.elements() if (t := element_text(n.kind, n.element))]

    def has_chart(self) -> bool:
        return any(n.kind in CHART_TYPES for n in self.elements())

    def progress_text(self) -> str:
        """The text of the last progress bar shown now ("" if none)."""
        bars = self.elements("progress")
        return bars[-1].element.progress.text if bars else ""

    def fragments_polling(self) -> dict[str, float]:
        """Fragment id -> auto-rerun interval (s) of the timers running now."""
        return {f: interval for f, (interval, _) in self._timers.items()}

    # ----------------------------------------------------------------- protocol

    async def _rerun(self, widgets: list[WidgetState] | None = None, fragment_id: str = "",
                     auto: bool = False) -> None:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        if self.page_script_hash:
            cs.page_script_hash = self.page_script_hash
        else:
            cs.page_name = self.url_path
        cs.widget_states.widgets.extend(widgets or [])
        cs.fragment_id = fragment_id
        cs.is_auto_rerun = auto
        ctx = cs.context_info
        ctx.timezone, ctx.timezone_offset, ctx.locale = "UTC", 0, "en-US"
        ctx.url = f"{self.base_url}/{self.url_path}" + (f"?{self.query}" if self.query else "")
        ctx.is_embedded, ctx.color_scheme = False, "light"
        assert self._ws is not None, "open() first"
        await self._ws.send(msg.SerializeToString())
        self.msgs_out += 1

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self.msgs_in += 1
                self.bytes_in += len(data)
                self._handle(msg)
                self._update.set()
                self._update = asyncio.Event()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self._update.set()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "delta":
            self._delta(msg)
        elif kind == "new_session":
            self._new_run(msg)
        elif kind == "script_finished":
            self._finished(msg)
        elif kind == "session_status_changed":
            self.script_running = msg.session_status_changed.script_is_running
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            self.page_not_found = True
        elif kind == "auto_rerun":
            self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for f in msg.stop_auto_rerun.fragment_ids:
                self._stop_timer(f)

    def _new_run(self, msg: ForwardMsg) -> None:
        self.run_id = msg.metadata.run.script_run_id
        self.run_fragments = tuple(msg.metadata.run.fragment_ids)
        self.script_running = True
        if not self.run_fragments:  # a full run: the frontend cancels every auto-rerun timer
            for f in list(self._timers):
                self._stop_timer(f)
            if msg.new_session.page_script_hash:
                self.page_script_hash = msg.new_session.page_script_hash

    def _finished(self, msg: ForwardMsg) -> None:
        status = msg.script_finished
        if status == FINISHED.FINISHED_SUCCESSFULLY:
            stale = [p for p, n in self.nodes.items() if n.run_id != self.run_id]
        elif status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            stale = [p for p, n in self.nodes.items()
                     if n.fragment_id in self.run_fragments and n.run_id != self.run_id]
        else:  # stopped early for a rerun, or a compile error: the elements stay as they are
            stale = []
        for p in stale:
            self.nodes.pop(p, None)
        if status != FINISHED.FINISHED_EARLY_FOR_RERUN:
            self.runs_finished += 1

    def _drop_children(self, path: tuple[int, ...]) -> None:
        n = len(path)
        for p in [p for p in self.nodes if len(p) > n and p[:n] == path]:
            del self.nodes[p]

    def _delta(self, msg: ForwardMsg) -> None:
        path, delta = tuple(msg.metadata.delta_path), msg.delta
        which = delta.WhichOneof("type")
        if which == "add_block":
            prev = self.nodes.get(path)
            if prev is None or prev.element is not None:
                self._drop_children(path)
            self.nodes[path] = Node("block", None, self.run_id, delta.fragment_id)
        elif which == "new_element":
            el = delta.new_element
            kind = el.WhichOneof("type") or ""
            self._drop_children(path)
            self.nodes[path] = Node(kind, el, self.run_id, delta.fragment_id)
            self._observe(kind, el)

    def _observe(self, kind: str, el: Any) -> None:
        if kind == "exception":
            self.exceptions.append(element_text(kind, el))
        if kind == "imgs" and self.fetch_media:
            for img in el.imgs.imgs:
                task = asyncio.create_task(self._get_media(img.url))
                self._media.add(task)
                task.add_done_callback(self._media.discard)
        if self.press_t is None:
            return
        now, s = time.monotonic() - self.press_t, self.stats
        text = element_text(kind, el) if kind in ("progress", "alert") else ""
        if s.response_s is None and (kind == "progress" or QUEUE_RE.search(text)):
            s.response_s, s.response_text = now, text
        if (m := QUEUE_RE.search(text)) and (
                not s.queue_positions or s.queue_positions[-1] != int(m.group(1))):
            s.queue_positions.append(int(m.group(1)))
        if kind == "progress" and s.started_s is None and TRAINED_RE.match(text):
            s.started_s = now
        if kind == "progress" and s.done_s is None and text.startswith("Done"):
            s.done_s = now
        if kind in CHART_TYPES and s.started_s is not None and s.first_chart_s is None:
            s.first_chart_s = now

    async def _get_media(self, url: str) -> None:
        full = url if "://" in url else f"{self.base_url}/{url.lstrip('/')}"

        def get() -> int:
            with urllib.request.urlopen(full, timeout=30) as r:
                return len(r.read())

        with contextlib.suppress(OSError):
            self.media_bytes += await asyncio.to_thread(get)

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if not fragment_id:
            return
        if fragment_id in self._timers and self._timers[fragment_id][0] == interval:
            return  # same timer as before: it keeps its phase, as in the frontend
        self._stop_timer(fragment_id)
        task = asyncio.create_task(self._poll(fragment_id, interval),
                                   name=f"{self.name}.poll.{fragment_id[:8]}")
        self._timers[fragment_id] = (interval, task)

    def _stop_timer(self, fragment_id: str) -> None:
        entry = self._timers.pop(fragment_id, None)
        if entry is not None:
            entry[1].cancel()

    async def _poll(self, fragment_id: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.run_fragment(fragment_id)
            except ConnectionClosed:
                return


class StreamlitServer:
    """``python -m streamlit run app.py`` on a free loopback port, as ``tests/test_browser.py``
    starts it (headless, offline data); ``stop()`` terminates it."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None,
                 health_timeout_s: float = 90.0) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        full_env = dict(os.environ, SDL_VIDEODRIVER="dummy", LIVEPROP_OFFLINE="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.start_s = self._wait_healthy(health_timeout_s)

    def _wait_healthy(self, timeout: float) -> float:
        t0 = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return time.monotonic() - t0
            except OSError:
                pass
            if time.monotonic() - t0 > timeout:
                self.stop()
                raise TimeoutError(f"server not healthy in {timeout:.0f} s")
            time.sleep(0.3)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
