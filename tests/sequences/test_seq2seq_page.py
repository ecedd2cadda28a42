"""AppTest: /seq2seq previews the data, trains, draws its live charts and answers typed
questions (bad input gets a plain message, never a traceback)."""

from tests.apptest_util import open_page, page_charts, progress_texts, train_until


def _done(at) -> bool:
    return any(t.startswith("Done") for t in progress_texts(at))


def test_seq2seq_trains_and_answers_typed_questions(clean_streamlit):
    at = open_page("seq2seq")
    assert at.get("dataframe"), "training questions are previewed before any run"
    assert len(at.latex) >= 3  # LSTM gates and teacher forcing
    at.select_slider(key="seq2seq.hidden").set_value(32)
    at.select_slider(key="seq2seq.steps").set_value(200)
    at.run()
    train_until(at, _done, timeout=120)
    assert len(page_charts(at)) >= 4  # accuracy, loss, error heatmap, gates
    labels = [m.label for m in at.metric]
    assert "Exact match, unseen" in labels and "Exact match, seen" in labels
    assert any(s.value.startswith("**45+23 =") for s in [*at.success, *at.warning])
    at.text_input(key="seq2seq.question").set_value("__import__('os')").run()
    assert not at.exception
    assert any("can't read" in e.value for e in at.error)
    at.text_input(key="seq2seq.question").set_value("7 - 12").run()
    assert not at.exception and not at.error


def test_seq2seq_image_modalities_preview(clean_streamlit):
    at = open_page("seq2seq")
    for modality in ("image2text", "text2image"):
        at.radio(key="seq2seq.modality").set_value(modality).run()
        assert not at.exception, at.exception
        assert len(at.get("image")) >= 6, f"{modality}: digit images are previewed"
