"""Lessons on a page (teacher mode): ``?lesson=NAME`` presets the page's settings, locks some
controls, and shows the lesson's steps; the lesson files and their checks are
:mod:`core.lessons`.

* **Steps.** Each step sets the page's controls to the lesson's preset plus that step's values.
  Identical settings share one run on the server (the run engine's sharing), so a class that
  follows the same step trains it once.
* **Presenter.** ``&present=1`` opens the presenter view: larger type, the sidebar collapsed,
  the step buttons. The first presenter of a room (``&room=NAME``, default the lesson's name)
  holds it while their tab is open; every other page of that room follows the presenter's
  step within a couple of seconds. Without a presenter, everyone steps on their own.
* A bad lesson or link gets one plain sentence naming the problem; the page works as usual.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import streamlit as st

from core.lessons import LESSONS_DIR, Lesson, LessonError, load_lesson
from ui.charts import plain

if TYPE_CHECKING:
    from ui.form import ConfigForm

QUERY, STEP_QUERY, PRESENT_QUERY, ROOM_QUERY = "lesson", "lesson_step", "present", "room"
LESSON_KEYS = (QUERY, STEP_QUERY, PRESENT_QUERY, ROOM_QUERY)
FOLLOW_S = 2.0  # how often a follower's page looks at the presenter's step
_ROOM = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass
class Room:
    """A class following one presenter: their session id and the step they show."""

    presenter: str = ""
    step: int = 0


@st.cache_resource
def _rooms() -> dict[str, Room]:
    """Server-wide rooms by name (one server process; see docs/DEPLOYING.md for replicas)."""
    return {}


@functools.lru_cache(maxsize=64)
def _load(name: str, mtime: float) -> Lesson | LessonError:
    try:
        return load_lesson(name)
    except LessonError as e:
        return e


def _lesson(name: str) -> Lesson:
    path = LESSONS_DIR / f"{name}.toml"
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    got = _load(name, mtime)
    if isinstance(got, LessonError):
        raise got
    return got


def _room_name(lesson: Lesson) -> str:
    room = st.query_params.get(ROOM_QUERY, "") or lesson.name
    return room if _ROOM.match(room) else lesson.name


def _session() -> str:
    from ui.live import session_id

    return session_id()


def _presenting(lesson: Lesson) -> bool:
    """Whether this session is the presenter of the lesson's room (claims a free room)."""
    if st.query_params.get(PRESENT_QUERY, "") not in ("1", "true", "yes"):
        return False
    from ui.live import session_alive

    rooms, me = _rooms(), _session()
    room = rooms.setdefault(_room_name(lesson), Room())
    if room.presenter and room.presenter != me and session_alive(room.presenter):
        return False
    if room.presenter != me:
        room.presenter, room.step = me, _url_step(lesson)
    return True


def _url_step(lesson: Lesson) -> int:
    raw = st.query_params.get(STEP_QUERY, "1")
    step = int(raw) - 1 if raw.isdigit() else 0
    return min(max(step, 0), max(len(lesson.steps) - 1, 0))


def _followed(lesson: Lesson) -> Room | None:
    """The room's presenter, when someone else presents (this page follows their step)."""
    from ui.live import session_alive

    room = _rooms().get(_room_name(lesson))
    if room is None or not room.presenter or room.presenter == _session():
        return None
    return room if session_alive(room.presenter) else None


class LessonState:
    """The lesson of one form in this script run (None when the link has none for it)."""

    def __init__(self, form: ConfigForm) -> None:
        self.form = form
        self.lesson: Lesson | None = None
        self.error: str | None = None
        self.step = 0
        name = st.query_params.get(QUERY, "")
        if not name:
            return
        try:
            lesson = _lesson(name)
        except LessonError as e:
            self.error = str(e)
            return
        if lesson.demo != form.demo.name:
            if not form.url_prefix:
                self.error = (f"The lesson {lesson.title!r} is for the page /{lesson.page}, not "
                              "this one: open it there.")
            return
        self.lesson = lesson
        self.presenting = _presenting(lesson)
        self.room = None if self.presenting else _followed(lesson)
        key = f"_liveprop_lesson_step.{form.page}"
        if self.presenting:
            self.step = _rooms()[_room_name(lesson)].step
        elif self.room is not None:
            self.step = self.room.step
        else:
            self.step = st.session_state.get(key, _url_step(lesson))
        st.session_state[key] = self.step
        self._apply()

    @property
    def locked(self) -> set[str]:
        return set(self.lesson.locked) if self.lesson else set()

    def value(self, name: str) -> Any:
        """The lesson's value of ``name`` at the current step."""
        return self.lesson.values_at(self.step)[name]

    def _apply(self) -> None:
        """Set the form's controls to the step's values once per step change; locked ones on
        every run (a URL edit cannot move them)."""
        form, lesson = self.form, self.lesson
        marker = f"_liveprop_lesson_applied.{form.page}"
        values = lesson.values_at(self.step)
        fresh = st.session_state.get(marker) != (lesson.name, self.step)
        for name, v in values.items():
            if fresh or name in lesson.locked:
                st.session_state[form.key(name)] = form._to_widget(form.specs[name], v)
        st.session_state[marker] = (lesson.name, self.step)

    def goto(self, step: int) -> None:
        """Move to ``step`` (0-based): the presenter moves the room with them."""
        step = min(max(step, 0), len(self.lesson.steps) - 1)
        if self.presenting:
            _rooms()[_room_name(self.lesson)].step = step
        st.session_state[f"_liveprop_lesson_step.{self.form.page}"] = step
        st.query_params[STEP_QUERY] = str(step + 1)

    # -- drawing -----------------------------------------------------------------------------
    def show(self) -> None:
        """The lesson panel (title, the step's text, the step buttons) or its one-line error."""
        if self.error:
            st.warning(plain(self.error), icon=":material/school:")
            return
        if self.lesson is None:
            return
        lesson, n = self.lesson, len(self.lesson.steps)
        if self.presenting:
            _presenter_style()
        with st.container(border=True):
            st.markdown(f"**:material/school: Lesson: {plain(lesson.title)}**"
                        + (f" · step {self.step + 1} of {n}" if n else ""))
            if lesson.intro and self.step == 0:
                st.caption(plain(lesson.intro))
            if n:
                st.markdown(plain(lesson.steps[self.step].text))
            if lesson.locked:
                st.caption(":material/lock: Locked by the lesson: "
                           + ", ".join(plain(k) for k in lesson.locked))
            if n > 1 and self.room is None:
                self._step_buttons(n)
            elif self.room is not None:
                st.caption("Following the presenter's steps.")
        if self.room is not None:
            self._follow()

    def _step_buttons(self, n: int) -> None:
        cols = st.columns(min(n, 10) + 2)
        page = self.form.page
        if cols[0].button("Previous", key=f"{page}.lesson_prev", disabled=self.step == 0,
                          icon=":material/chevron_left:"):
            self.goto(self.step - 1)
            st.rerun()
        for i in range(min(n, 10)):
            if cols[i + 1].button(f"{i + 1}", key=f"{page}.lesson_step{i}",
                                  type="primary" if i == self.step else "secondary"):
                self.goto(i)
                st.rerun()
        if cols[-1].button("Next", key=f"{page}.lesson_next", disabled=self.step >= n - 1,
                           icon=":material/chevron_right:"):
            self.goto(self.step + 1)
            st.rerun()

    def _follow(self) -> None:
        step_then, room = self.step, self.room

        @st.fragment(run_every=FOLLOW_S)
        def follow() -> None:
            if room.step != step_then:
                st.rerun()

        follow()


def _presenter_style() -> None:
    """Larger type for a projector; the sidebar starts collapsed."""
    st.html("<style>html { font-size: 20px; } [data-testid='stMarkdownContainer'] p "
            "{ font-size: 1.15rem; }</style>")
