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


def _lab_page():
    import streamlit as st

    from ui.live import url_choice

    if st.session_state.get("skip"):  # a run that does not draw the control
        st.session_state["skip"] = False
        return
    st.text(url_choice("Lab", ["race", "sweep", "lr"], key="opt.lab", url_key="lab"))


def test_a_lab_link_survives_a_run_that_did_not_draw_its_control(clean_streamlit):
    """?lab=lr opens the LR lab, and still does after Streamlit dropped the control's state."""
    at = AppTest.from_function(_lab_page, default_timeout=30)
    at.query_params["lab"] = "lr"
    at.run()
    assert at.text[0].value == "lr"
    at.session_state["skip"] = True
    at.run()  # stops before the control: Streamlit forgets its state
    at.run()
    assert not at.exception, at.exception
    assert at.text[0].value == "lr" and at.query_params["lab"] in ("lr", ["lr"])
