"""AppTest: /autograd parses a typed expression, draws and steps its graph, checks it against
torch, shows the pitfalls, and trains the custom nn.Module live; bad input gets one sentence."""

from tests.apptest_util import chart_titles, is_done, open_page, train_until


def _errors(at) -> list[str]:
    """The error sentences as the user reads them (the page escapes Markdown)."""
    return [e.value.replace("\\", "") for e in at.error]


def test_expression_graph_steps_and_checks(clean_streamlit):
    at = open_page("autograd")
    assert at.get("graphviz_chart"), "the graph of the default expression is drawn"
    assert "Iris flowers (press Train)" in chart_titles(at)
    at.pills(key="autograd_expr.example").set_value("micrograd README").run()
    assert not at.exception and not _errors(at)
    checks = next(d.value for d in at.dataframe if "engine" in d.value.columns)
    row = checks.set_index("variable")
    assert round(row.loc["a", "engine"], 4) == 138.8338
    assert round(row.loc["b", "torch.autograd"], 4) == 645.5773
    assert abs(row.loc["a", "finite differences"] - 138.8338) < 1e-3
    assert at.query_params["values"] == "a=-4, b=2"
    step = next(s for s in at.slider if s.key and s.key.startswith("autograd_expr.step"))
    step.set_value(0).run()
    assert any("Step 1 of" in m.value and "input a" in m.value for m in at.markdown)
    assert "data ?" in at.get("graphviz_chart")[0].proto.spec  # nothing computed yet but a
    graphs = at.get("graphviz_chart")
    assert len(graphs) == 2 and "rbf (RBF)" in graphs[1].proto.spec  # the network, collapsed
    at.pills(key="autograd.expand").set_value(["rbf"]).run()
    assert "rbf.centers" in at.get("graphviz_chart")[1].proto.spec
    at.segmented_control(key="autograd_expr.pitfall").set_value("twice").run()
    assert any("backward through the graph a second time" in c.value for c in at.code)


def test_bad_expressions_get_one_sentence_naming_the_position(clean_streamlit):
    at = open_page("autograd")
    for text, msg in [("x.__class__", "At position 1: attribute access"),
                      ("x / (y - y)", "At position 6: division by zero"),
                      ("exp(x * 1000)", "At position 1: the result overflows"),
                      ("[x](javascript:alert(1))", "At position 15: syntax error"),
                      ("x +* 2", "syntax error")]:
        at.text_area(key="autograd_expr.expr").set_value(text).run()
        assert not at.exception, text
        errors = _errors(at)
        assert any(msg in e for e in errors), (text, errors)


def test_module_trains_live(clean_streamlit):
    at = open_page("autograd")
    at.select_slider(key="autograd.steps").set_value(50).run()
    train_until(at, is_done)
    labels = {m.label: m.value for m in at.metric}
    assert float(labels["Test accuracy"]) > 0.5
    titles = " ".join(chart_titles(at))
    assert "Predicted species and RBF centres, step 50" in titles and "Accuracy" in titles
    assert any("the trained model" in m.value for m in at.markdown)
