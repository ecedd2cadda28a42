"""AppTest: /gnn shows the graph before training, trains live, and its extra sections work."""


from tests.apptest_util import (
    assert_says,
    chart_specs,
    is_done,
    link_params,
    open_page,
    set_controls,
    train_until,
)


def test_gnn_page_trains_and_explains(clean_streamlit):
    at = open_page("gnn")
    titles = chart_specs(at)
    assert "press Train" in titles, "the graph preview is drawn before training"
    assert "messages into node" in titles, "message-passing bars before training"
    set_controls(at, {"gnn.epochs": 50})
    train_until(at)
    labels = [m.label for m in at.metric]
    assert "Test accuracy" in labels and "Test acc., selected epoch" in labels
    set_controls(at, {"gnn.projection": "t-SNE"})
    titles = chart_specs(at)
    assert "(t-SNE to 2-D)" in titles
    assert "Predictions at epoch 50" in titles and "Node embeddings" in titles
    assert "Accuracy per epoch" in titles
    assert any("trained model" in c.value for c in at.caption)
    # the graph-classification section trains too, with its settings from its own form
    set_controls(at, {"gnn_graph.epochs": 10})
    train_until(at, lambda a: is_done(a, 2), label="Train graph classifier")
    assert "Graph accuracy" in chart_specs(at)
    q = link_params(at)
    assert q.get("graph.epochs") == "10", q  # the graph form's own key, the node form's kept


def test_gnn_page_bad_node_and_offline_note(clean_streamlit):
    at = set_controls(open_page("gnn"), {"gnn.dataset": "citeseer"})
    assert_says(at.warning, "CiteSeer is not available")
