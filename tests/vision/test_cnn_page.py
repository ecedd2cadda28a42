"""AppTest: /cnn shows its shape table before training, trains the CNN and the MLP with live
charts, flags impossible settings in plain words, and answers uploads (good and bad)."""

import io

import numpy as np
from PIL import Image

from tests.apptest_util import (
    assert_says,
    chart_titles,
    open_link,
    open_page,
    set_controls,
    train_until,
    upload_images,
)


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_cnn_page_trains_and_answers_uploads(clean_streamlit):
    at = open_page("cnn")
    assert len(at.dataframe) == 1, "the shape table is drawn before any run"
    assert at.get("imgs") or at.get("image"), "held-out images are previewed before any run"
    set_controls(at, {"cnn.epochs": 1, "cnn.n_train": 1000})
    assert at.query_params["epochs"] == "1"
    train_until(at, timeout=120)
    labels = [m.label for m in at.metric]
    assert "CNN test accuracy" in labels and "MLP test accuracy" in labels
    titles = chart_titles(at)
    for title in ("Loss", "Accuracy", "Confusion matrix (held-out)", "kernel w"):
        assert title in titles, titles
    # shape table, per-class precision / recall / F1, and (once opened) the diagnostics'
    # activation table
    assert len(at.dataframe) == 2
    at.session_state["cnn.diagnostics"] = True
    at.run()
    assert len(at.dataframe) == 3
    assert "Diagnostics: gradients, updates and activations per layer" in [
        e.label for e in at.expander]
    uploader = at.file_uploader(key="cnn.upload")
    uploader.upload("note.png", b"this is not an image", "image/png")
    at.run()
    assert not at.exception, at.exception
    assert any("not a PNG or JPEG" in e.value for e in at.error), [e.value for e in at.error]
    digit = np.full((100, 80), 255, np.uint8)
    digit[15:85, 35:47] = 0
    at.file_uploader(key="cnn.upload").upload("one.png", _png(digit), "image/png")
    at.run()
    assert not at.exception, at.exception
    assert "Top-5 probabilities" in chart_titles(at)


def test_impossible_settings_are_flagged_in_plain_words(clean_streamlit):
    at = set_controls(open_page("cnn"), {"cnn.n_layers": 4, "cnn.kernel_size": 9, "cnn.padding": 0})
    assert_says(at.error, "map vanishes", "can't be trained")


def test_hostile_link_values_get_a_notice(clean_streamlit):
    at = open_link("cnn", {"kernel_size": "[x](javascript:alert(1))", "stride": "1e9",
                           "dataset": "../../etc/passwd"})
    assert_says(at.warning, "kernel_size", "stride", "dataset")
    assert at.select_slider(key="cnn.kernel_size").value == 5


def test_an_image_zip_trains_on_the_page_and_stays_out_of_the_link(clean_streamlit):
    from tests.vision.test_cnn import digit_zip

    at = upload_images(open_page("cnn"), "cnn", digit_zip())
    set_controls(at, {"cnn.epochs": 12})
    assert any("90 images, 3 classes" in c.value for c in at.caption)
    train_until(at, timeout=120)
    acc = next(m.value for m in at.metric if m.label == "CNN test accuracy")
    assert float(acc.rstrip("%")) >= 70, acc  # chance: 33%
    assert at.query_params["dataset"] == "upload" and "upload" not in at.query_params
