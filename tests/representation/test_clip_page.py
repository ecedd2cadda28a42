"""AppTest: /clip previews its scenes, trains, draws its live charts and reads typed prompts."""

from tests.apptest_util import chart_titles, is_done, open_page, train_until


def test_clip_page_trains_and_reads_typed_prompts(clean_streamlit):
    at = open_page("clip")
    assert at.get("imgs") or at.get("image"), "training scenes are shown before any run"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="clip.steps").set_value(20)
    at.select_slider(key="clip.width").set_value(8)
    at.select_slider(key="clip.batch_size").set_value(16)
    at.run()
    train_until(at, is_done, timeout=90)
    titles = " | ".join(chart_titles(at))
    for part in ("Zero-shot accuracy", "Cosine similarity", "Shared space", "Collapse meter",
                 "Zero-shot probabilities"):
        assert part in titles, titles
    assert any(m.label == "Collapse meter" for m in at.metric)
    at.text_input(key="clip.classes").set_value("a purple circle, a red square")
    at.text_input(key="clip.query").set_value("a red [link](http://x) circle")
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "purple" in errors and "it knows only" in errors
    assert "link, x" not in errors or "http" in errors  # shown, never evaluated
    assert "Zero-shot probabilities" not in " ".join(chart_titles(at))


def test_clip_page_on_digit_strips(clean_streamlit):
    at = open_page("clip")
    at.segmented_control(key="clip.data").set_value("digits")
    at.select_slider(key="clip.steps").set_value(20)
    at.select_slider(key="clip.width").set_value(8)
    at.select_slider(key="clip.batch_size").set_value(16)
    at.run()
    assert not at.exception
    assert any("Strips of" in m.value for m in at.markdown), "strips are previewed"
    train_until(at, is_done, timeout=90)
    titles = " | ".join(chart_titles(at))
    for part in ("Zero-shot accuracy", "single test digits", "Zero-shot probabilities"):
        assert part in titles, titles
    assert any(m.label == "Single digits" for m in at.metric)
    assert at.text_input(key="clip.classes.digits").value.startswith("zero, one")
    at.text_input(key="clip.query.digits").set_value("three red")
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "saw the word\\(s\\) red" in errors and "eight, five, four, nine" in errors


def test_clip_link_values_are_checked(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"loss": "<script>", "batch_size": "1e9", "temperature": "nan"})
    at.run()
    at.switch_page(page("clip").file)
    at.run()
    assert not at.exception
    assert at.segmented_control(key="clip.loss").value == "identity"
