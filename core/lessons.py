"""Lessons: a page, preset settings, locked controls and ordered steps, in a small TOML file
under ``assets/lessons/`` (the page opens it with ``?lesson=NAME``). No Streamlit here; the page
side is :mod:`ui.lessons`.

A lesson file::

    title = "Overfitting on the playground"
    page = "playground"          # the page's URL path
    demo = "playground"          # the demo whose config fields the presets set
    intro = "What this lesson shows, in a sentence or two."
    locked = ["dataset"]         # fields shown but disabled (steps may still set them)

    [preset]                     # values for the whole lesson (config field = value)
    dataset = "spiral"

    [[steps]]
    text = "Train with these settings and watch the test loss."

    [[steps]]
    text = "Now raise the learning rate to 3 and press Train: what happens to the loss?"
    set = { lr = 3.0 }           # this step's values on top of the preset

The settings of step ``i`` are the preset with that step's ``set`` on top (steps do not add
up), so a student who joins late gets the same settings as everyone else.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.protocol import check_value, field_specs, parse_value, resolve_keys

__all__ = ["Lesson", "Step", "LessonError", "LESSONS_DIR", "load_lesson", "lesson_names"]

LESSONS_DIR = Path(__file__).resolve().parents[1] / "assets" / "lessons"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TOP_KEYS = {"title", "page", "demo", "intro", "locked", "preset", "steps"}
MAX_STEPS = 20
MAX_TEXT = 600


class LessonError(ValueError):
    """A lesson that cannot be used; the message is one plain sentence naming the problem."""


@dataclass(frozen=True)
class Step:
    """One step: what to do and watch (``text``) and its settings on top of the preset."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    """A validated lesson (see the module docstring)."""

    name: str
    title: str
    page: str
    demo: str
    intro: str
    preset: dict[str, Any]
    locked: tuple[str, ...]
    steps: tuple[Step, ...]

    def values_at(self, step: int) -> dict[str, Any]:
        """The settings of step ``step`` (0-based, clamped to the steps there are)."""
        if not self.steps:
            return dict(self.preset)
        step = min(max(step, 0), len(self.steps) - 1)
        return {**self.preset, **self.steps[step].values}


def lesson_names(folder: Path = LESSONS_DIR) -> list[str]:
    """The names of the lessons shipped in ``folder``."""
    return sorted(p.stem for p in folder.glob("*.toml"))


def _values(config_cls: type, raw: Any, where: str, lesson: str) -> dict[str, Any]:
    """Config values from a TOML table, checked against the config's fields."""
    if not isinstance(raw, dict):
        raise LessonError(f"Lesson {lesson!r}: {where} must be a table of field = value.")
    specs = {s.name: s for s in field_specs(config_cls)}
    resolved, _ = resolve_keys(config_cls, raw)
    out = {}
    for key, value in resolved.items():
        if key not in specs:
            raise LessonError(f"Lesson {lesson!r}: {where} sets {key!r}, which is not a setting "
                              f"of this page; known: {', '.join(specs)}.")
        spec = specs[key]
        try:
            text = str(value).lower() if isinstance(value, bool) else (
                ",".join(map(str, value)) if isinstance(value, list) else value)
            parsed = parse_value(spec, text)
            check_value(spec, parsed)
        except (TypeError, ValueError) as e:
            raise LessonError(f"Lesson {lesson!r}: {where} has a bad value for {key!r} ({e}).") \
                from None
        out[key] = parsed
    return out


def _text(raw: Any, what: str, lesson: str) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TEXT:
        raise LessonError(f"Lesson {lesson!r}: {what} must be text of 1 to {MAX_TEXT} "
                          "characters.")
    return raw.strip()


def load_lesson(name: str, folder: Path = LESSONS_DIR) -> Lesson:
    """Read and validate the lesson ``name`` (``folder/NAME.toml``).

    Raises:
        LessonError: one plain sentence naming the problem: a bad or unknown name, a file that
            is not TOML, an unknown key, a missing title/page/demo, an unknown demo or field,
            a value out of range, a locked field without a preset value, too many steps.
    """
    from core.registry import get_demo

    if not isinstance(name, str) or not _NAME.match(name):
        raise LessonError("A lesson name is lower-case letters, digits, '-' and '_' only.")
    path = folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(lesson_names(folder)) or "none"
        raise LessonError(f"There is no lesson {name!r}; lessons here: {known}.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LessonError(f"Lesson {name!r} is not valid TOML ({e}).") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise LessonError(f"Lesson {name!r} has unknown keys: {', '.join(unknown)}; allowed: "
                          f"{', '.join(sorted(_TOP_KEYS))}.")
    title, page = _text(data.get("title"), "title", name), _text(data.get("page"), "page", name)
    demo_name = _text(data.get("demo", page), "demo", name)
    try:
        demo = get_demo(demo_name)
    except KeyError:
        raise LessonError(f"Lesson {name!r} names the demo {demo_name!r}, which does not "
                          "exist.") from None
    preset = _values(demo.config_cls, data.get("preset", {}), "[preset]", name)
    locked = data.get("locked", [])
    if not isinstance(locked, list) or not all(isinstance(k, str) for k in locked):
        raise LessonError(f"Lesson {name!r}: locked must be a list of setting names.")
    locked = list(resolve_keys(demo.config_cls, {k: "" for k in locked})[0])
    fields = {s.name for s in field_specs(demo.config_cls)}
    for key in locked:
        if key not in fields:
            raise LessonError(f"Lesson {name!r} locks {key!r}, which is not a setting of this "
                              "page.")
        if key not in preset:
            raise LessonError(f"Lesson {name!r} locks {key!r} but gives it no value in "
                              "[preset].")
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list) or len(raw_steps) > MAX_STEPS:
        raise LessonError(f"Lesson {name!r}: steps must be a list of at most {MAX_STEPS} tables.")
    steps = []
    for i, raw in enumerate(raw_steps, 1):
        if not isinstance(raw, dict) or set(raw) - {"text", "set"}:
            raise LessonError(f"Lesson {name!r}: step {i} may only have text and set.")
        values = _values(demo.config_cls, raw.get("set", {}), f"step {i}", name)
        steps.append(Step(_text(raw.get("text"), f"step {i}'s text", name), values))
    intro = _text(data["intro"], "intro", name) if "intro" in data else ""
    return Lesson(name, title, page, demo.name, intro, preset, tuple(locked), tuple(steps))
