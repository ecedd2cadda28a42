"""The run panel every live page uses: settings form with URL sync, Train/Stop/Resume/Reset,
background training, a polling fragment, progress with ETA, queue position, divergence messages
and an overlay of earlier runs for comparison.

A page is three steps (see ``pages/foundations/playground.py``)::

    DEMO = get_demo("playground")
    form = ConfigForm("playground", DEMO)             # ui.form: the settings, kept in the URL
    with st.sidebar:
        form.section("Data", ["dataset", "noise"])    # widgets built from the config's param()s
    cfg = form.config()                               # validated, mirrored in the URL
    run_panel("playground", DEMO, cfg, render, compare=("test_loss", "train_loss"))

Demos are looked up by name (:func:`core.registry.get_demo`), never by position in a list.

``render(view)`` draws the page's live charts from a :class:`RunView`; it runs inside a fragment
that re-runs every ``POLL_S`` seconds while the run trains, and once with ``view.latest is None``
before any run (draw a preview of the data then, so the page shows something at once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.engine import BudgetError, Limits, Run, RunCache, RunPool, RunState, make_executor
from core.protocol import (
    Demo,
    Snapshot,
    config_diff,
)
from ui.charts import line_chart, plain, show_chart
from ui.diagnostics import diagnostics_panel
from ui.form import ConfigForm as ConfigForm  # re-exported: pages take both from here
from ui.form import url_choice as url_choice
from ui.shell import SCRIPT_RUN_KEY
from ui.takehome import download_button, show_code

POLL_S = 1.0
LIVE_REDRAWS_PER_S = 8.0  # chart redraws per second the server spends on all sessions together
MAX_PAST_RUNS = 5
FIRST_PAINT_S = 1.0  # the first charts of a browser session come this long after its controls
_FIRST_PAINT_KEY = "_liveprop_first_paint_run"


# ------------------------------------------------------------------------------ shared state


def warm_up() -> None:
    """Pay the one-off costs before the first Train: torch's first optimizer takes seconds, and
    so does parsing the bundled MNIST digits on a fresh machine (then cached on disk)."""
    import torch

    from core.data import load_images

    torch.optim.Adam([torch.zeros(1, requires_grad=True)]).step()
    load_images("mnist", "train")


@st.cache_resource(show_spinner=False)
def get_pool() -> RunPool:
    """The server-wide run pool: the executor of ``$LIVEPROP_BACKEND`` (worker processes by
    default), the server's :class:`core.engine.Limits` and the cache of finished runs (with the
    Ray backend, one cache shared by every app replica)."""
    import threading

    threading.Thread(target=warm_up, daemon=True, name="liveprop-warm-up").start()
    limits = Limits.from_env()
    executor = make_executor()
    if executor.name == "ray":
        from core.ray_backend import RayRunCache

        cache: Any = RayRunCache(max_bytes=limits.cache_bytes)
    else:
        cache = RunCache(max_bytes=limits.cache_bytes)
    return RunPool(cache=cache, limits=limits, executor=executor, session_alive=session_alive)


def session_alive(session: str) -> bool:
    """Whether the browser session ``session`` is still connected (a closed tab is not).
    Outside a Streamlit server (tests, scripts) every session counts as alive."""
    from streamlit import runtime

    if not runtime.exists():
        return True
    return runtime.get_instance().is_active_session(session)


def session_id() -> str:
    """This browser session's id (runs are owned and watched by session)."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


class SessionRuns:
    """This browser session's runs, per page: ``pages[page] = [run, ...]`` (newest last)."""

    def __init__(self, session: str = "") -> None:
        self.session = session
        self.pages: dict[str, list[Run]] = {}

    def runs(self, page: str) -> list[Run]:
        return self.pages.setdefault(page, [])

    def all(self) -> list[Run]:
        return [r for runs in self.pages.values() for r in runs]

    def touch(self) -> None:
        for r in self.all():
            r.touch()

    def close(self) -> None:
        for r in self.all():
            r.release(self.session)
        self.pages.clear()


def _release(store: SessionRuns) -> None:
    store.close()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def session_runs() -> SessionRuns:
    """This session's :class:`SessionRuns`; its runs are released when the session ends."""
    return SessionRuns(session_id())


# ------------------------------------------------------------------------------ run panel


@dataclass
class RunView:
    """What ``render`` gets: the run, its metric history as a DataFrame and latest snapshot."""

    run: Run | None
    history: pd.DataFrame
    latest: Snapshot | None
    config: Any

    @property
    def alive(self) -> bool:
        return self.run is not None and self.run.alive

    @property
    def model(self) -> Any:
        """The newest frozen model copy of the run (snapshots carry one only now and then)."""
        return self.run.model if self.run is not None else None

    @property
    def model_step(self) -> int:
        """The training step of :attr:`model`."""
        return self.run.model_step if self.run is not None else 0


def _label(run: Run, reference: Any) -> str:
    diff = config_diff(run.config, reference)
    if not diff:
        return f"#{run.id} (current settings)"
    parts = [f"{k}={v[0]}" for k, v in list(diff.items())[:3]]
    return f"#{run.id} " + ", ".join(parts) + (" …" if len(diff) > 3 else "")


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return ""
    return f" · about {s:.0f} s left" if s < 120 else f" · about {s / 60:.1f} min left"


def _status(run: Run) -> None:
    if run.state == RunState.RUNNING and not run.latest:
        st.progress(0.0, text="Starting…")
    elif run.state == RunState.QUEUED:
        st.info(f"Waiting for a free trainer: position {max(run.queue_position, 1)} in the "
                "queue. Other visitors are training right now; this starts by itself.",
                icon=":material/hourglass_top:")
        st.progress(0.0, text="queued")
    elif run.state == RunState.RUNNING:
        total = f"/{run.total_steps}" if run.total_steps else ""
        doing = plain(run.phase) if run.phase else f"step {run.step}{total}"
        st.progress(run.progress, text=f"Training · {doing}{_fmt_eta(run.eta_s)}")
    elif run.state == RunState.PAUSED:
        total = f"/{run.total_steps}" if run.total_steps else ""
        st.progress(run.progress, text=f"Stopped at step {run.step}{total} · press Resume to "
                    "continue")
        if run.message:
            st.caption(plain(run.message))
    elif run.state == RunState.DONE:
        src = " (finished earlier with these settings; loaded from the cache)" if run.from_cache \
            else ""
        st.progress(1.0, text=f"Done · {run.step} steps in "
                    f"{run.latest.time_s if run.latest else 0:.1f} s{src}")
    elif run.state == RunState.DIVERGED:
        st.error(plain(run.message), icon=":material/trending_up:")
    elif run.state == RunState.ERROR:
        st.error(plain(f"This run failed: {run.message}"), icon=":material/error:")
    elif run.state == RunState.STOPPED:
        st.warning(plain(run.message), icon=":material/block:")
    elif run.state == RunState.CANCELLED:
        st.caption("Run cancelled.")


def compare_chart(runs: list[Run], current: Run | None, metrics: Sequence[str], key: str) -> None:
    """Overlay one metric of up to ``MAX_PAST_RUNS`` earlier runs with the current run (drawn
    thicker), each labelled by the settings that differ from the current ones."""
    if len(runs) < 2 or not metrics:
        return
    with st.expander(f"Compare runs ({len(runs)})", expanded=True):
        metric = st.selectbox("Metric to compare", list(metrics), key=f"{key}.cmp_metric")
        ref = current.config if current else runs[-1].config
        curves, emphasis = [], None
        for r in runs:
            hist, _ = r.view()
            if not hist or metric not in hist[-1]:
                continue
            label = _label(r, ref)
            curves.append(pd.DataFrame(hist)[["step", metric]].rename(columns={metric: label}))
            emphasis = label if r is current else emphasis
        wide = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame({"step": []})
        show_chart(line_chart(wide, [c for c in wide.columns if c != "step"], y_title=metric,
                              height=300, emphasis=emphasis, legend="bottom"),
                   key=f"{key}.cmp_chart")
        st.caption("Each line is one of your runs on this page, labelled by the settings that "
                   "differ from the current ones.")


def live_poll_s(pool: RunPool) -> float:
    """Seconds between two redraws of a training run's charts: :data:`POLL_S`, or longer when
    more sessions watch runs than the server redraws for in a second
    (:data:`LIVE_REDRAWS_PER_S`; a page's redraw is pure Python in the server's one
    interpreter, so 30 sessions at 1 s would leave no time for clicks)."""
    return POLL_S * max(1.0, pool.watching_sessions() / LIVE_REDRAWS_PER_S)


def _in_fragment_rerun() -> bool:
    """True when this script run is a fragment-only rerun (a ``run_every`` poll).

    Only then does an ended run need a full rerun to stop polling; a full run that sees the run
    end already redefines the fragment without a timer on the next full run.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def first_paint_deferred() -> bool:
    """True when this full script run is the first of the browser session with a run panel.

    Streamlit's frontend loads chart components on first use (Plotly's bundle is 4.7 MB, ~2 s of
    parsing and first drawing on a 2-core machine; Vega-Lite's 0.8 MB) and shows the *whole*
    update, controls included, as skeletons until it is ready. So the session's first run panel
    draws its controls with a placeholder in place of the charts, and the charts come one
    fragment poll (:data:`FIRST_PAINT_S`) later with a full rerun: the Train button is usable at
    once and the chart bundles load behind it. Every later run (a widget change, another page)
    draws directly. Pages that draw charts outside a run panel skip them too while this is True
    (the full rerun that follows draws the whole page).
    """
    this_run = st.session_state.get(SCRIPT_RUN_KEY)
    if this_run is None:  # a page run without app.py's navigation: no run count, no deferral
        return False
    return st.session_state.setdefault(_FIRST_PAINT_KEY, this_run) == this_run


@dataclass
class _Clicks:
    """The run panel's buttons as pressed in this script run, and the caption column."""

    train: bool
    stop: bool
    resume: bool
    reset: bool
    note: Any  # the column for the "settings changed" caption
    download: Any  # the column for Download run (drawn after the click is applied)


def _buttons(page: str, runs: list[Run], current: Run | None, train_label: str,
             session: str) -> _Clicks:
    c1, c2, c3, c4, c5, c6 = st.columns([1.2, 1, 1, 1, 1.5, 2])
    return _Clicks(
        train=c1.button(train_label, type="primary", key=f"{page}.train",
                        icon=":material/play_arrow:", width="stretch"),
        stop=c2.button("Stop", key=f"{page}.stop", disabled=not (current and current.alive
                                                                   and session in current.watchers),
                       icon=":material/stop:", width="stretch"),
        resume=c3.button("Resume", key=f"{page}.resume",
                         disabled=not (current and current.state == RunState.PAUSED),
                         icon=":material/resume:", width="stretch"),
        reset=c4.button("Reset", key=f"{page}.reset", disabled=not runs,
                        icon=":material/restart_alt:", width="stretch"),
        note=c6, download=c5)


def _start(pool: RunPool, runs: list[Run], current: Run | None, demo: Demo, config: Any,
           session: str) -> Run | None:
    """Train ``config``: watch an identical run someone is training, else submit a new one; the
    session's previous run stops unless another session watches it. A run the server's budgets
    refuse is not started: its sentence is shown and the previous runs are kept."""
    if current is not None and current.alive:
        pool.stop(current, session)
    run = pool.shared(demo, config)
    if run is None or run in runs:
        run = Run(demo, config, session=session)
        try:
            pool.submit(run, make_room=True)
        except BudgetError as e:
            st.warning(plain(str(e)), icon=":material/block:")
            return current
    run.watchers.add(session)
    runs.append(run)
    while len(runs) > MAX_PAST_RUNS + 1:
        runs.pop(0).release(session)
    return run


def _act(clicks: _Clicks, pool: RunPool, runs: list[Run], current: Run | None, demo: Demo,
         config: Any, session: str) -> Run | None:
    """Apply the pressed button; returns the page's current run afterwards."""
    if clicks.train:
        return _start(pool, runs, current, demo, config, session)
    if clicks.stop and current is not None:
        shared = len(current.watchers - {session}) > 0
        pool.stop(current, session)
        if shared:  # the run goes on for the other sessions; this one keeps what it saw
            clicks.note.caption("You stopped watching this run; it goes on for the others who "
                                "train the same settings.")
        else:
            current.wait(timeout=3.0)
    elif clicks.resume and current is not None and current.state == RunState.PAUSED:
        current.message = ""
        try:
            pool.submit(current)
        except BudgetError as e:
            st.warning(plain(str(e)), icon=":material/block:")
    elif clicks.reset:
        for r in runs:
            r.release(session)
        runs.clear()
        return None
    return current


def _view(run: Run | None, config: Any) -> RunView:
    if run is None:
        return RunView(None, pd.DataFrame([]), None, config)
    run.touch()
    history, latest = run.view()
    return RunView(run, pd.DataFrame(history), latest, run.config)


def _controls(page: str, demo: Demo, config: Any, train_label: str, store: SessionRuns,
              pool: RunPool, drawn: dict[str, Any]) -> None:
    """The buttons, in a fragment, around the status line, a nested fragment that polls while
    the run is alive.

    A click reruns only the buttons' fragment: Train answers with its progress bar after a few
    milliseconds of server work even when a whole class presses it at once (the page above the
    buttons is not rerun first). The full rerun that redraws the charts around the new run comes
    from the status line's next poll, which compares the run and its state with ``drawn`` (what
    the last full run drew); a full rerun right after the click would throw away the progress
    bar before it is sent (Streamlit clears a session's outgoing messages when a full run
    starts). Stop and Reset rerun the page at once: they change what is drawn, not a wait."""
    runs = store.runs(page)

    @st.fragment
    def controls() -> None:
        before = runs[-1] if runs else None
        clicks = _buttons(page, runs, before, train_label, store.session)
        now = _act(clicks, pool, runs, before, demo, config, store.session)
        download_button(page, now, clicks.download)  # the run this click left current
        if now is not None and now.config != config and not clicks.train:
            clicks.note.caption("Settings changed since this run: press **Train** to train "
                                "with them.")
        if (clicks.stop or clicks.reset) and _in_fragment_rerun():
            st.rerun()
        _status_fragment(now, store.session, drawn)

    controls()


def _status_fragment(run: Run | None, session: str, drawn: dict[str, Any]) -> None:
    """The status line of ``run``, polling every :data:`POLL_S` while the run is alive and this
    session watches it; a poll that finds the run or its state changed since the last full
    run drew the page triggers one full rerun (which sets the charts' own polling)."""
    alive = run is not None and run.alive and session in run.watchers
    first = {"call": True}  # the call from the enclosing run draws; polls compare

    @st.fragment(run_every=POLL_S if alive else None)
    def status() -> None:
        _status_line(run, session)
        if first.pop("call", False) or not _in_fragment_rerun():
            return
        if run is not drawn.get("run") or (run is not None and run.state != drawn.get("state")):
            st.rerun()

    status()


def _status_line(run: Run | None, session: str) -> None:
    if run is None:
        return
    if session not in run.watchers and run.alive:
        st.caption("You stopped watching this run; it goes on for the others who train "
                   "the same settings. Press Train to watch it again.")
        return
    run.touch()
    _status(run)


def _live(page: str, runs: list[Run], current: Run | None, config: Any,
          render: Callable[[RunView], None], compare: Sequence[str], defer: bool,
          session: str) -> None:
    """The page's charts, in a fragment that polls only while the run trains and this session
    watches it (or once, :data:`FIRST_PAINT_S` after the controls, when the first paint is
    deferred)."""
    following = current is not None and (session in current.watchers or not current.alive)
    training = current is not None and current.state == RunState.RUNNING and following

    @st.fragment(run_every=FIRST_PAINT_S if defer else live_poll_s(get_pool()) if training
                 else None)
    def live() -> None:
        if defer:  # see first_paint_deferred
            if _in_fragment_rerun():
                st.rerun()  # a full run draws the charts and redefines this fragment's timer
            st.caption(":material/hourglass_top: Drawing the charts…")
            return
        view = _view(current, config)
        render(view)
        compare_chart(runs, current, compare, key=page)
        if view.latest is not None:
            diagnostics_panel(view.history, view.latest.artifacts, key=page)

    live()


def run_panel(page: str, demo: Demo, config: Any, render: Callable[[RunView], None], *,
              compare: Sequence[str] = ("loss",), train_label: str = "Train",
              defer_first_paint: bool = True, code: bool = True) -> RunView:
    """Buttons, status and the live view of this page's current run.

    Args:
        page: the page's id (its URL path), used for widget keys and the session's run list.
        demo: the :class:`core.protocol.Demo` to train.
        config: the config built by :meth:`ConfigForm.config`.
        render: draws the page's charts from a :class:`RunView`; called inside a polling
            fragment while the run is alive, and with ``latest=None`` before any run.
        compare: metrics offered in the "Compare runs" overlay.
        defer_first_paint: draw the charts one poll after the controls when this is the
            session's first run panel (:func:`first_paint_deferred`). Pass ``False`` when
            ``render`` draws no chart before a run (images and text only): the preview then
            shows at once and the session's first page with charts still defers.
        code: draw **Show code** (the trainer's source, :mod:`ui.takehome`); a page with its
            own standalone script (the playground) passes ``False``.

    Every panel also has **Download run** (the run's bundle, :mod:`core.bundle`).

    Returns:
        the :class:`RunView` as of this script run (pages may use it for static parts).
    """
    store = session_runs()
    store.touch()
    pool = get_pool()
    drawn: dict[str, Any] = {}  # the run and state this full run draws (see _controls)
    _controls(page, demo, config, train_label, store, pool, drawn)
    runs = store.runs(page)
    current = runs[-1] if runs else None
    drawn.update(run=current, state=current.state if current is not None else None)
    if code:
        show_code(page, demo, current.config if current is not None else config)
    _live(page, runs, current, config, render, compare,
          defer=defer_first_paint and first_paint_deferred(), session=store.session)
    return _view(current, config)
