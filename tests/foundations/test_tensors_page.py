"""AppTest: /tensors explains broadcasting and strides with real ops, trains the (N,) bug demo
and measures matmul throughput; bad shapes get one sentence."""

from tests.apptest_util import button, chart_titles, open_page, progress_texts


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


def test_tensors_page_explorers_and_errors(clean_streamlit):
    at = open_page("tensors")
    titles = " ".join(chart_titles(at))
    assert "Data (press Train)" in titles
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert "stride (1, 0)" in specs and "stride (0, 1)" in specs  # a.expand / b.broadcast_to
    assert any("0 + 0·1 + 1·4 = 4" in m.value for m in at.markdown)  # x.t()[0, 1]
    at.selectbox(key="tensors_explore.a_shape").set_value("2, 3")
    at.selectbox(key="tensors_explore.b_shape").set_value("4, 3")
    at.run()
    assert not at.exception
    assert any("must match the size of tensor b (4) at non-singleton dimension 0" in c.value
               for c in at.code)
    at.selectbox(key="tensors_explore.view").set_value("t_view")
    at.run()
    assert any("view size is not compatible" in c.value for c in at.code)
    assert at.query_params["view"] == "t_view"


def test_tensors_page_trains_the_bug_and_measures_matmul(clean_streamlit):
    at = open_page("tensors")
    at.select_slider(key="tensors.steps").set_value(100)
    at.run()
    button(at, "Train").click()
    at.run()
    _wait(at, _done)
    titles = " ".join(chart_titles(at))
    assert "(24, 24) matrix" in titles and "Learned weight w" in titles
    labels = {m.label: m.value for m in at.metric}
    assert abs(float(labels["w, targets (N,)"])) < 0.5 < float(labels["w, targets (N, 1)"])
    at.select_slider(key="tensors_matmul.max_size").set_value(256)
    at.run()
    button(at, "Measure").click()
    at.run()
    _wait(at, lambda a: _done(a, 2))
    assert "Throughput" in " ".join(chart_titles(at))
    assert at.query_params["mm.max_size"] == "256"


def test_a_crafted_link_gets_plain_sentences(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"a_shape": "[x](http://evil) 3", "op": "evil", "rows": "99"})
    at.run()
    at.switch_page(page("tensors").file)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Shape of a") for e in errors), errors
    assert not any("](http" in e for e in errors)  # shown as plain text, not as a link
    warnings = " ".join(w.value for w in at.warning)
    assert "op=evil" in warnings and "rows=99" in warnings
