"""ConfigForm: two forms on one page keep their own settings in the URL (issue 14)."""

from streamlit.testing.v1 import AppTest


def _two_forms_page():
    from core.registry import get_demo
    from ui.live import ConfigForm

    node = ConfigForm("gnn", get_demo("gnn"))
    node.widget("n_layers")
    graph = ConfigForm("gnn_graph", get_demo("gnn_graph"), url_prefix="graph.")
    graph.widget("n_layers")
    node.config()
    graph.config()


def test_two_forms_on_one_page_do_not_overwrite_each_other(clean_streamlit):
    at = AppTest.from_function(_two_forms_page, default_timeout=60)
    at.query_params.update({"n_layers": "4", "graph.n_layers": "5", "graph.heads": "2"})
    at.run()
    assert not at.exception, at.exception
    node, graph = at.slider(key="gnn.n_layers"), at.slider(key="gnn_graph.n_layers")
    assert (node.value, graph.value) == (4, 5)
    graph.set_value(2)
    at.run()
    assert at.slider(key="gnn.n_layers").value == 4, "the graph form overwrote the node form"
    assert at.query_params["n_layers"] == ["4"] or at.query_params["n_layers"] == "4"
    q = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert q.get("graph.n_layers") == "2" and "layers" not in q
