"""Lessons (core.lessons, ui.lessons): every shipped lesson is valid, a bad lesson names its
problem, a lesson link presets and locks the page's controls, and its steps change them."""

from __future__ import annotations

import pytest

from core.lessons import LessonError, lesson_names, load_lesson
from tests.apptest_util import assert_says, open_link
from ui.pages import PAGES, SECTION_DIRS, page


def test_every_shipped_lesson_is_valid_and_every_section_has_one():
    names = lesson_names()
    sections = set()
    for name in names:
        lesson = load_lesson(name)
        assert lesson.steps and lesson.title
        sections.add(page(lesson.page).section)  # raises for an unknown page
        for i in range(len(lesson.steps)):
            assert set(lesson.locked) <= set(lesson.values_at(i))
    wanted = {"Foundations", "Generative", "Sequences", "Representation learning", "Graphs",
              "Reinforcement learning"}
    assert wanted <= sections, wanted - sections
    assert set(SECTION_DIRS) >= sections and PAGES


@pytest.mark.parametrize("text, message", [
    ('title = "t"\npage = "playground"\n[preset]\nnosuch = 1\n', "'nosuch', which is not a setting"),
    ('title = "t"\npage = "playground"\n[preset]\nlr = 99.0\n', "bad value for 'lr'"),
    ('title = "t"\npage = "nosuchpage"\n', "demo 'nosuchpage', which does not exist"),
    ('title = "t"\npage = "playground"\ncolour = 1\n', "unknown keys: colour"),
    ('title = "t"\npage = "playground"\nlocked = ["lr"]\n', "locks 'lr' but gives it no value"),
    ('title = = "t"\n', "not valid TOML"),
    ('title = "t"\npage = "playground"\n[[steps]]\ntext = "a"\nset = { lr = "fast" }\n',
     "step 1 has a bad value for 'lr'"),
])
def test_a_bad_lesson_names_its_problem(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(LessonError, match=message.replace("(", r"\(")):
        load_lesson("bad", tmp_path)


def test_lesson_names_cannot_reach_other_files():
    for name in ("../README", "/etc/passwd", "a b", "", "x" * 80):
        with pytest.raises(LessonError):
            load_lesson(name)
    with pytest.raises(LessonError, match="There is no lesson 'nosuch'; lessons here:"):
        load_lesson("nosuch")


def test_a_lesson_link_presets_locks_and_steps_the_controls(clean_streamlit):
    at = open_link("playground", {"lesson": "overfitting"}, first_paint=True)
    lesson = load_lesson("overfitting")
    assert any("Lesson: Overfitting on the playground" in m.value for m in at.markdown)
    assert at.session_state["playground.dataset"] == "spiral"
    assert at.session_state["playground.noise"] == lesson.preset["noise"]
    noise = at.slider(key="playground.noise")
    assert noise.disabled, "a locked control is shown disabled"
    assert not at.select_slider(key="playground.lr").disabled
    # step 2 sets L2 regularization on top of the preset
    next(b for b in at.button if b.label == "2").click()
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["playground.regularization"] == "L2"
    assert any("L2 regularization" in m.value for m in at.markdown)
    # a crafted link cannot move a locked control
    at.query_params["noise"] = "0.9"
    at.run()
    assert at.session_state["playground.noise"] == lesson.preset["noise"]


def test_a_bad_lesson_link_gets_a_message_and_the_page_still_works(clean_streamlit):
    at = open_link("playground", {"lesson": "no-such-lesson"}, first_paint=True)
    assert_says(at.warning, "There is no lesson", "overfitting")
    assert not at.slider(key="playground.noise").disabled
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at = open_link("dqn", {"lesson": "overfitting"}, first_paint=True)
    assert_says(at.warning, "is for the page /playground")
