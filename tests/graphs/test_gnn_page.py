"""AppTest: /gnn shows the graph before training, trains live, and its extra sections work."""


from tests.apptest_util import button, open_page, page_charts, progress_texts


def _done(at, n=1):
    return sum(t.startswith("Done") for t in progress_texts(at)) >= n


def _wait(at, cond, timeout=60.0):
    import time

    t0 = time.time()
    while not cond(at):
        assert time.time() - t0 < timeout, "page did not reach the expected state in time"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception


def _specs(at) -> list[str]:
    """Every chart's JSON (titles included), Plotly and Vega-Lite."""
    return [c.proto.spec for c in page_charts(at)]


def test_gnn_page_trains_and_explains(clean_streamlit):
    at = open_page("gnn")
    titles = _specs(at)
    assert any("press Train" in t for t in titles), "the graph preview is drawn before training"
    assert any("messages into node" in t for t in titles), "message-passing bars before training"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="gnn.epochs").set_value(50)
    at.run()
    button(at, "Train").click()
    at.run()
    _wait(at, _done)
    labels = [m.label for m in at.metric]
    assert "Test accuracy" in labels and "Test acc., selected epoch" in labels
    at.radio(key="gnn.projection").set_value("t-SNE")
    at.run()
    assert not at.exception
    titles = " ".join(_specs(at))
    assert "(t-SNE to 2-D)" in titles
    assert "Predictions at epoch 50" in titles and "Node embeddings" in titles
    assert "Accuracy per epoch" in titles
    assert any("trained model" in c.value for c in at.caption)
    # the graph-classification section trains too, with its settings from its own form
    at.select_slider(key="gnn_graph.epochs").set_value(10)
    at.run()
    button(at, "Train graph classifier").click()
    at.run()
    _wait(at, lambda a: _done(a, 2))
    assert "Graph accuracy" in " ".join(_specs(at))
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("graph.epochs") == "10", q  # the graph form's own key, the node form's kept


def test_gnn_page_bad_node_and_offline_note(clean_streamlit):
    at = open_page("gnn")
    at.selectbox(key="gnn.dataset").set_value("citeseer")
    at.run()
    assert not at.exception
    assert any("CiteSeer is not available" in w.value for w in at.warning)


def test_gnn_old_links_set_the_renamed_fields(clean_streamlit):
    """``layers``/``heads`` (before n_layers/n_heads) in a link still set the controls."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"model": "gat", "layers": "3", "heads": "4"})
    at.run()
    at.switch_page(page("gnn").file)
    at.run()
    assert not at.exception
    assert at.slider(key="gnn.n_layers").value == 3
    assert at.slider(key="gnn.n_heads").value == 4
