"""AppTest: /segmentation shows scenes, masks and the mask sanity line, then trains its models
side by side with their scores next to the all-background baseline; the prompted task reads a typed
prompt and answers unknown words with the known ones."""

from tests.apptest_util import chart_titles, is_done, open_page, train_until


def test_segmentation_page_trains_and_scores(clean_streamlit):
    at = open_page("segmentation")
    assert at.get("imgs") or at.get("image"), "scenes and masks are shown before any run"
    assert any(c.value.startswith("Mask sanity") for c in at.caption)
    at.toggle(key="segmentation.clip_decoder").set_value(False)
    at.segmented_control(key="segmentation.image_size").set_value(32)
    at.select_slider(key="segmentation.width").set_value(8)
    at.select_slider(key="segmentation.batch_size").set_value(8)
    at.select_slider(key="segmentation.steps").set_value(20)
    at.run()
    train_until(at, is_done, timeout=90)
    titles = " | ".join(chart_titles(at))
    assert "IoU on held-out scenes" in titles and "Boundary accuracy" in titles, titles
    table = at.dataframe[0].value
    assert "predict all background" in table.index and "U-Net" in table.index
    assert table.loc["predict all background", "IoU"] == 0.0


def test_a_bad_clip_run_from_a_link_gets_a_sentence(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"clip_run": "[x](http://evil)", "skips": "<b>", "image_size": "4096"})
    at.run()
    at.switch_page(page("segmentation").file)
    at.run()
    assert not at.exception
    assert at.segmented_control(key="segmentation.skips").value == "all"


def test_prompted_task_reads_a_typed_prompt(clean_streamlit):
    at = open_page("segmentation")
    at.segmented_control(key="segmentation.task").set_value("prompted")
    at.toggle(key="segmentation.clip_decoder").set_value(False)
    at.segmented_control(key="segmentation.image_size").set_value(32)
    at.select_slider(key="segmentation.batch_size").set_value(8)
    at.select_slider(key="segmentation.steps").set_value(20)
    at.run()
    assert any(c.value.startswith("Prompts, left to right") for c in at.caption)
    train_until(at, is_done, timeout=90)
    table = at.dataframe[0].value
    assert "mark every object (ignores the prompt)" in table.index
    at.text_input(key="segmentation.prompt").set_value("segment the purple [x](http://e) circle")
    at.run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert "never saw the word" in err and "purple" in err and "it knows only" in err, err
    assert "](http" not in err
    at.text_input(key="segmentation.prompt").set_value("big red squares")
    at.run()
    assert not at.exception and not at.error
    assert any(c.value.startswith("What each model marks for “big red squares”")
               and "step 20" in c.value for c in at.caption), "the typed prompt's masks"
