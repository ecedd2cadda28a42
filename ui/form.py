"""The settings form of every live page: widgets built from a config dataclass's
:func:`core.protocol.param` metadata, kept in the URL so a link reproduces the settings.

A page builds one :class:`ConfigForm` per trainable demo, draws its widgets in the sidebar and
hands :meth:`ConfigForm.config` to :func:`ui.live.run_panel`::

    form = ConfigForm("playground", get_demo("playground"))   # shows the link's notices
    with st.sidebar:
        form.section("Data", ["dataset", "noise"])
        form.section("Training", ["lr", "steps"])
        form.run_options()
    cfg = form.config()
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from core.protocol import (
    Demo,
    FieldSpec,
    check_value,
    field_specs,
    parse_value,
    resolve_keys,
)
from ui.charts import plain
from ui.lessons import LESSON_KEYS, LessonState

# how the image-set choices read in every sidebar
DATASET_LABELS = {
    "mnist": "MNIST (bundled 4,000)", "mnist_full": "MNIST (60,000)",
    "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10 (32x32 colour)",
    "cifar100": "CIFAR-100", "translated": "translated digits (40x40)",
    "upload": "your images (zip)",
}
# the ``dataset`` field's widget options: ``form.section("Data", ["dataset"], dataset=DATASET)``
DATASET = {"kind": "selectbox", "format_func": lambda d: DATASET_LABELS.get(d, d)}



def select_slider(*ticks: Any, **kwargs: Any) -> dict[str, Any]:
    """Widget options for a select slider over ``ticks`` (plus :meth:`ConfigForm.widget`'s
    ``kwargs``): ``form.section("Training", ["steps"], steps=select_slider(100, 500, 1000))``."""
    return {"kind": "select_slider", "options": list(ticks), **kwargs}


# config fields never read from or written to a link: an upload's id names a visitor's images
URL_PRIVATE = ("upload",)

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
        self._notices_shown = False
        self.show_notices()

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

    def widgets(self, names: Sequence[str], **options: dict[str, Any]) -> None:
        """Draw several fields' widgets in order: each with its default widget type, or with
        the keyword arguments of :meth:`widget` given under its name in ``options``."""
        for n in names:
            self.widget(n, **options.get(n, {}))

    def section(self, header: str, names: Sequence[str], **options: dict[str, Any]) -> None:
        """A sidebar header followed by :meth:`widgets` of ``names`` (``options`` as there)."""
        st.header(header)
        self.widgets(names, **options)

    def run_options(self, *extra: str, title: str = "Seed and device", device: bool = True,
                    **options: dict[str, Any]) -> None:
        """The collapsed expander with the seed (typed), the device (unless ``device=False``:
        demos that always run on the CPU) and the fields ``extra`` (``options`` as in
        :meth:`widgets`)."""
        with st.expander(title):
            self.widget("seed", kind="number")
            self.widgets((["device"] if device else []) + list(extra), **options)

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
        ignored URL value, where the form is built (the constructor calls this; later calls
        do nothing)."""
        if self._notices_shown:
            return
        self._notices_shown = True
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
