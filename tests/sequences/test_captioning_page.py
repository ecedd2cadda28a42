"""AppTest: /captioning shows a data preview, trains three decoders and draws every live view."""

from tests.apptest_util import chart_titles, is_done, open_page, page_charts, train_until


def test_captioning_page_trains_and_shows_everything(clean_streamlit):
    at = open_page("captioning")
    assert len(at.get("image")) >= 1, "the training images are previewed before any run"
    assert any("teacher forcing" in m.value.lower() for m in at.markdown)
    at.select_slider(key="captioning.steps").set_value(50)
    at.select_slider(key="captioning.n_train").set_value(500)
    at.select_slider(key="captioning.eval_size").set_value(50)
    at.run()
    assert not at.exception
    train_until(at, is_done, timeout=240)
    keys = chart_titles(at)
    assert len(page_charts(at)) >= 3, keys  # loss, BLEU-4, gradient through time
    labels = [m.label for m in at.metric]
    assert {"vanilla RNN BLEU-4", "LSTM BLEU-4", "Transformer BLEU-4"} <= set(labels)
    text = " ".join(m.value for m in at.markdown)
    assert "reference:" in text and "Transformer:" in text
    assert at.selectbox(key="captioning.att_example") is not None
    # switching the attention example re-draws without an exception
    at.selectbox(key="captioning.att_example").set_value(1).run()
    assert not at.exception
