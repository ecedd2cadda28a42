"""The run panel every live page uses: settings form with URL sync, Train/Stop/Resume/Reset,
background training, a polling fragment, progress with ETA, queue position, divergence messages
and an overlay of earlier runs for comparison.

A page is three steps (see ``pages/foundations/playground.py``)::

    DEMO = get_demo("playground")
    form = ConfigForm("playground", DEMO)
    with st.sidebar:
        form.widgets(["dataset", "noise", "lr"])      # widgets built from the config's param()s
    cfg = form.config()                               # validated, mirrored in the URL
    run_panel("playground", DEMO, cfg, render, compare=("test_loss", "train_loss"))

Demos are looked up by name (:func:`core.registry.get_demo`), never by position in a list.

``render(view)`` draws the page's live charts from a :class:`RunView`; it runs inside a fragment
that re-runs every ``POLL_S`` seconds while the run trains, and once with ``view.latest is None``
before any run (draw a preview of the data then, so the page shows something at once).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.engine import BudgetError, Limits, Run, RunCache, RunPool, RunState, make_executor
from core.protocol import (
    Demo,
    FieldSpec,
    Snapshot,
    check_value,
    config_diff,
    field_specs,
    parse_value,
    resolve_keys,
)
from ui.charts import line_chart, plain, show_chart
from ui.diagnostics import diagnostics_panel
from ui.lessons import LESSON_KEYS, LessonState
from ui.shell import SCRIPT_RUN_KEY
from ui.takehome import download_button, show_code

POLL_S = 1.0
MAX_PAST_RUNS = 5
FIRST_PAINT_S = 1.0  # the first charts of a browser session come this long after its controls
_FIRST_PAINT_KEY = "_liveprop_first_paint_run"
# config fields never read from or written to a link: an upload's id names a visitor's images
URL_PRIVATE = ("upload",)


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


# -------------------------------------------------------------------------- settings form


def _log_options(spec: FieldSpec) -> list[float]:
    """1-3-10 values between lo and hi (inclusive), for log-scale sliders."""
    lo, hi = float(spec.lo), float(spec.hi)
    out, e = [], math.floor(math.log10(lo))
    while True:
        for m in (1, 3):
            v = float(f"{m}e{e}")
            if lo <= v <= hi:
                out.append(v)
        e += 1
        if float(f"1e{e}") > hi:
            break
    if hi not in out and float(f"1e{e}") == hi:
        out.append(hi)
    return sorted(set(out)) or [lo]


def _default_kind(spec: FieldSpec, choices: list | None) -> tuple[str, list | None]:
    """The widget type a field gets from its metadata, and its choices (log sliders get 1-3-10
    steps)."""
    if spec.type is bool:
        return "toggle", choices
    if choices is not None and spec.type in (int, float):
        return "select_slider", choices
    if choices is not None:
        return ("selectbox" if len(choices) > 4 else "segmented"), choices
    if spec.log and spec.lo is not None and spec.hi is not None:
        return "select_slider", _log_options(spec)
    if spec.lo is not None and spec.hi is not None:
        return "slider", None
    return ("text" if spec.type is str else "number"), None


def _draw_widget(kind: str, spec: FieldSpec, label: str, key: str, help: str | None,  # noqa: A002
                 choices: list | None, format_func: Callable[[Any], str] | None,
                 kwargs: dict[str, Any]) -> Any:
    """Draw the Streamlit widget of ``kind`` bound to ``key``; returns its value."""
    fmt = format_func or str
    if kind == "toggle":
        return st.toggle(label, key=key, help=help, **kwargs)
    if kind == "select_slider":
        fmt2 = format_func or (lambda v: f"{v:g}" if isinstance(v, float) else str(v))
        return st.select_slider(label, options=choices, key=key, help=help, format_func=fmt2,
                                **kwargs)
    if kind == "selectbox":
        return st.selectbox(label, choices, key=key, help=help, format_func=fmt, **kwargs)
    if kind == "radio":
        return st.radio(label, choices, key=key, help=help, format_func=fmt, horizontal=True,
                        **kwargs)
    if kind == "segmented":
        return st.segmented_control(label, choices, key=key, help=help, format_func=fmt,
                                    **kwargs)
    if kind == "slider":
        step = spec.step if spec.step is not None else (1 if spec.type is int else None)
        return st.slider(label, min_value=spec.type(spec.lo), max_value=spec.type(spec.hi),
                         step=step, key=key, help=help, **kwargs)
    if kind == "text":
        return st.text_input(label, key=key, help=help, **kwargs)
    return st.number_input(label, key=key, help=help, step=1 if spec.type is int else None,
                           **kwargs)


class ConfigForm:
    """Widgets for a config dataclass, built from its :func:`core.protocol.param` metadata.

    The form reads the URL query string on the session's first visit to the page and whenever
    the URL holds settings the form did not write itself (a link from another page, or an
    edited address); a bad or out-of-range value falls back to the default with a one-line
    notice. :meth:`config` mirrors every non-default setting back into the URL, so a link
    reproduces the settings.

    A page with two forms gives the second one a ``url_prefix`` (e.g. ``"graph."``): each form
    reads and writes only its own keys, so neither overwrites the other's settings in the URL.
    """

    def __init__(self, page: str, demo: Demo, defaults: Any = None, url_prefix: str = "") -> None:
        self.page = page
        self.demo = demo
        self.url_prefix = url_prefix
        self.cls = config_cls = demo.config_cls
        self.base = defaults if defaults is not None else config_cls()
        self.specs = {s.name: s for s in field_specs(config_cls)}
        self.values: dict[str, Any] = {}
        self.notices: list[str] = []
        self._load_query()
        self.lesson = LessonState(self)  # ?lesson=NAME: presets, locks, steps (ui.lessons)

    def key(self, name: str) -> str:
        return f"{self.page}.{name}"

    def _owns(self, key: str) -> bool:
        """True for the URL keys this form reads and writes: its fields (and their earlier
        names), or every key with its ``url_prefix``; other keys (another form's, a page-level
        :func:`url_choice`) are left as they are."""
        if key in LESSON_KEYS:
            return False
        if self.url_prefix:
            return key.startswith(self.url_prefix)
        if key in self.specs:
            return True
        resolved, dropped = resolve_keys(self.cls, {key: ""})
        return bool(dropped) or next(iter(resolved)) in self.specs

    def _own_query(self) -> dict[str, str]:
        n = len(self.url_prefix)
        return {k[n:]: v for k, v in st.query_params.to_dict().items() if self._owns(k)}

    def _load_query(self) -> None:
        flag = f"_liveprop_qp_loaded.{self.page}"
        query = self._own_query()
        if st.session_state.get(flag) and (
                not query or query == st.session_state.get(self._written_key)):
            return  # seen before, and the URL holds nothing new (only what the form wrote)
        st.session_state[flag] = True
        query, _ = resolve_keys(self.cls, query)  # earlier field names of old links still work
        for name, raw in query.items():
            if name not in self.specs or name in URL_PRIVATE:
                continue
            spec = self.specs[name]
            try:
                value = parse_value(spec, raw)
                check_value(spec, value)
            except ValueError as e:
                self.notices.append(f"Ignored `{name}={raw}` from the link ({e}); using the "
                                    f"default {getattr(self.base, name)!r}.")
                continue
            st.session_state[self.key(name)] = self._to_widget(spec, value)
        st.session_state[f"_liveprop_qp_notices.{self.page}"] = self.notices

    def _to_widget(self, spec: FieldSpec, value: Any) -> Any:
        return value

    def current(self, name: str) -> Any:
        """The value of a field: its widget's, else the URL's, else the default."""
        if name in self.values:
            return self.values[name]
        return st.session_state.get(self.key(name), getattr(self.base, name))

    def widget(self, name: str, label: str | None = None, kind: str | None = None,
               help: str | None = None, options: Sequence | None = None,  # noqa: A002
               format_func: Callable[[Any], str] | None = None, **kwargs: Any) -> Any:
        """Draw one field's widget where the caller is (sidebar, column, expander...).

        ``kind`` forces a widget type: ``"slider"``, ``"select_slider"``, ``"selectbox"``,
        ``"radio"``, ``"segmented"``, ``"toggle"``, ``"number"``, ``"text"`` (the default for a
        string field without choices). ``options`` narrows the
        choices shown. Returns the value.
        """
        spec = self.specs[name]
        key = self.key(name)
        default = getattr(self.base, name)
        if key not in st.session_state:
            st.session_state[key] = default
        choices = list(options) if options is not None else (
            list(spec.choices) if spec.choices is not None else None)
        if kind is None:
            kind, choices = _default_kind(spec, choices)
        if name in self.lesson.locked:
            kwargs = {**kwargs, "disabled": True}
            help = ((help or spec.help or "")  # noqa: A001
                    + "  \n:material/lock: Locked by the lesson.").strip()
        if choices is not None and st.session_state[key] not in choices:
            if spec.type in (int, float) and kind == "select_slider":
                choices = sorted(set(choices) | {st.session_state[key]})
            else:
                st.session_state[key] = default if default in choices else choices[0]
        v = _draw_widget(kind, spec, label or spec.label or name.replace("_", " ").capitalize(),
                         key, help if help is not None else (spec.help or None), choices,
                         format_func, kwargs)
        if v is None:  # segmented controls can be deselected: keep a valid value
            v = default
        self.values[name] = spec.type(v) if spec.type in (int, float) else v
        return self.values[name]

    def widgets(self, names: Sequence[str]) -> None:
        """Draw several fields' widgets in order with their default widget types."""
        for n in names:
            self.widget(n)

    def config(self, **overrides: Any) -> Any:
        """The config from the widgets drawn so far (URL values or defaults for the others),
        plus ``overrides`` from the page's own widgets; mirrored into the URL query string.

        A value that fails validation (e.g. from a custom widget) falls back to the default
        with a notice instead of raising.
        """
        values = {n: self.current(n) for n in self.specs}
        values.update(overrides)
        values.update({n: self.lesson.value(n) for n in self.lesson.locked})
        for name, v in list(values.items()):
            try:
                check_value(self.specs[name], v)
            except ValueError as e:
                self.notices.append(f"{e}; using the default.")
                values[name] = getattr(self.base, name)
        try:
            cfg = dataclasses.replace(self.base, **values)
        except ValueError as e:  # a cross-field check in the config's __post_init__
            st.error(f"These settings can't be trained: {e}. Fix them in the sidebar; until then "
                     "**Train** uses the default settings.", icon=":material/error:")
            cfg = self.base
        self._write_query(cfg)
        return cfg

    def _write_query(self, cfg: Any) -> None:
        wanted = {}
        for name in self.specs:
            if name in ("embed", "embed_options") or name in URL_PRIVATE:  # reserved / private
                continue
            v = getattr(cfg, name)
            if v != getattr(self.base, name) and len(str(v)) <= 200:
                wanted[name] = str(v).lower() if isinstance(v, bool) else str(v)
        st.session_state[self._written_key] = wanted
        current = st.query_params.to_dict()
        merged = {k: v for k, v in current.items() if not self._owns(k)}
        merged.update({self.url_prefix + k: v for k, v in wanted.items()})
        if current != merged:
            st.query_params.from_dict(merged)

    @property
    def _written_key(self) -> str:
        return f"_liveprop_qp_written.{self.page}"

    def show_notices(self) -> None:
        """The lesson panel when the link opens a lesson (:mod:`ui.lessons`), and one line per
        ignored URL value (call where the page wants them)."""
        self.lesson.show()
        notices = st.session_state.get(f"_liveprop_qp_notices.{self.page}", []) + [
            n for n in self.notices if n not in st.session_state.get(
                f"_liveprop_qp_notices.{self.page}", [])]
        for n in notices:  # the text comes from the link: shown as typed, never as Markdown
            st.warning(plain(n), icon=":material/link_off:")


def url_choice(label: str, options: Sequence[str], key: str, url_key: str,
               format_func: Callable[[str], str] | None = None) -> str:
    """A page-level choice that is not a config field (which lab, which view), drawn as a
    segmented control and kept in the URL as ``?url_key=option`` (the first option, the
    default, is left out), so a link opens the same view. A value from a link that is not an
    option is ignored. The link also wins when the control has no state (Streamlit drops a
    widget's state after a run that did not draw it)."""
    seen = f"_liveprop_url_choice.{key}"
    linked = st.query_params.get(url_key)
    if linked in options and (st.session_state.get(seen) != linked or key not in st.session_state):
        st.session_state[key] = linked
    value = st.segmented_control(label, list(options), default=options[0], key=key,
                                 format_func=format_func or str,
                                 label_visibility="collapsed") or options[0]
    st.session_state[seen] = value
    if value != options[0]:
        if st.query_params.get(url_key) != value:
            st.query_params[url_key] = value
    elif url_key in st.query_params:
        del st.query_params[url_key]
    return value


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


def _fragments(page: str, runs: list[Run], current: Run | None, config: Any,
               render: Callable[[RunView], None], compare: Sequence[str], defer: bool,
               session: str) -> None:
    """Two fragments: a cheap status line that polls while the run is alive (queued runs only
    poll this), and the page's charts, which poll only while the run trains. A state change
    seen by a poll (queued -> running -> ended) triggers one full rerun, which redefines both
    fragments with the right timers."""
    state_then = current.state if current is not None else None
    following = current is not None and (session in current.watchers or not current.alive)
    alive = current is not None and current.alive and following

    @st.fragment(run_every=POLL_S if alive else None)
    def status() -> None:
        if current is None:
            return
        if not following:
            st.caption("You stopped watching this run; it goes on for the others who train "
                       "the same settings. Press Train to watch it again.")
            return
        current.touch()
        _status(current)
        if current.state != state_then and _in_fragment_rerun():
            st.rerun()

    @st.fragment(run_every=FIRST_PAINT_S if defer else
                 POLL_S if state_then == RunState.RUNNING and following else None)
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

    status()
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
    runs = store.runs(page)
    current = runs[-1] if runs else None
    clicks = _buttons(page, runs, current, train_label, store.session)
    current = _act(clicks, pool, runs, current, demo, config, store.session)
    download_button(page, current, clicks.download)  # the run this click left current
    if current is not None and current.config != config and not clicks.train:
        clicks.note.caption("Settings changed since this run: press **Train** to train with them.")
    if code:
        show_code(page, demo, current.config if current is not None else config)
    _fragments(page, runs, current, config, render, compare,
               defer=defer_first_paint and first_paint_deferred(), session=store.session)
    return _view(current, config)
