"""AppTest: /tensors explains broadcasting and strides with real ops, trains the (N,) bug demo
and measures matmul throughput; bad shapes get one sentence."""

from tests.apptest_util import (
    assert_says,
    chart_titles,
    is_done,
    open_link,
    open_page,
    set_controls,
    train_until,
)


def test_tensors_page_explorers_and_errors(clean_streamlit):
    at = open_page("tensors")
    titles = " ".join(chart_titles(at))
    assert "Data (press Train)" in titles
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "stride (1, 0)" in specs and "stride (0, 1)" in specs  # a.expand / b.broadcast_to
    assert any("0 + 0·1 + 1·4 = 4" in m.value for m in at.markdown)  # x.t()[0, 1]
    set_controls(at, {"tensors_explore.a_shape": "2, 3", "tensors_explore.b_shape": "4, 3"})
    assert any("must match the size of tensor b (4) at non-singleton dimension 0" in c.value
               for c in at.code)
    set_controls(at, {"tensors_explore.view": "t_view"})
    assert any("view size is not compatible" in c.value for c in at.code)
    assert at.query_params["view"] == "t_view"


def test_tensors_page_trains_the_bug_and_measures_matmul(clean_streamlit):
    at = open_page("tensors")
    set_controls(at, {"tensors.steps": 100})
    train_until(at)
    titles = " ".join(chart_titles(at))
    assert "(24, 24) matrix" in titles and "Learned weight w" in titles
    labels = {m.label: m.value for m in at.metric}
    assert abs(float(labels["w, targets (N,)"])) < 0.5 < float(labels["w, targets (N, 1)"])
    set_controls(at, {"tensors_matmul.max_size": 256})
    train_until(at, lambda a: is_done(a, 2), label="Measure")
    assert "Throughput" in " ".join(chart_titles(at))
    assert at.query_params["mm.max_size"] == "256"


def test_a_crafted_link_gets_plain_sentences(clean_streamlit):
    at = open_link("tensors", {"a_shape": "[x](http://evil) 3", "op": "evil", "rows": "99"})
    errors = [e.value for e in at.error]
    assert any(e.startswith("Shape of a") for e in errors), errors
    assert not any("](http" in e for e in errors)  # shown as plain text, not as a link
    assert_says(at.warning, "op=evil", "rows=99")
