"""AppTest: /transformer shows a preview, trains, draws attention maps and answers typed input."""

from tests.apptest_util import chart_titles, is_done, open_page, page_charts, train_until


def _texts(at) -> str:
    return " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)


def test_transformer_page_trains_and_answers(clean_streamlit):
    at = open_page("transformer")
    assert page_charts(at) or at.dataframe, "a preview is drawn before any run"
    assert len(at.latex) >= 1
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="transformer.steps").set_value(100)
    at.select_slider(key="transformer.batch_size").set_value(64)
    at.run()
    train_until(at, is_done, timeout=180)  # page reruns and 2 test workers share the cores
    keys = chart_titles(at)
    assert len(keys) >= 5  # loss, accuracy, attention, typed attention, PE, ablation
    labels = [m.label for m in at.metric]
    assert "Held-out exact match" in labels
    exact = next(m.value for m in at.metric if m.label == "Held-out exact match")
    assert float(exact.rstrip("%")) >= 90.0  # 100 steps of reversal
    at.text_input(key="transformer.typed").set_value("12345678").run()
    assert not at.exception
    assert "`87654321`" in _texts(at) and "✓ correct" in _texts(at)
    at.text_input(key="transformer.typed").set_value("12ab5678").run()
    assert not at.exception
    assert any("outside this task's alphabet" in e.value for e in at.error)
    at.selectbox(key="transformer.example").set_value(3).run()
    assert not at.exception
