"""AppTest: /gnn shows the graph before training, trains live, and its extra sections work."""


from tests.apptest_util import button, open_page, progress_texts


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


def test_gnn_page_trains_and_explains(clean_streamlit):
    at = open_page("gnn")
    titles = [c.proto.spec for c in at.get("plotly_chart")]
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
    assert any("(t-SNE to 2-D)" in c.proto.spec for c in at.get("plotly_chart"))
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "Predictions at epoch 50" in specs and "Node embeddings" in specs
    assert "Accuracy per epoch" in specs
    assert any("trained model" in c.value for c in at.caption)
    # the graph-classification section trains too
    at.select_slider(key="gnn_graph.epochs").set_value(10)
    at.run()
    button(at, "Train graph classifier").click()
    at.run()
    _wait(at, lambda a: _done(a, 2))
    assert "Graph accuracy" in " ".join(c.proto.spec for c in at.get("plotly_chart"))


def test_gnn_page_bad_node_and_offline_note(clean_streamlit):
    at = open_page("gnn")
    at.selectbox(key="gnn.dataset").set_value("citeseer")
    at.run()
    assert not at.exception
    assert any("CiteSeer is not available" in w.value for w in at.warning)
