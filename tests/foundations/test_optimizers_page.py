"""AppTest: /optimizers races live, explains the quadratic, and each lab trains without errors."""

from tests.apptest_util import chart_titles, is_done, open_page, page_charts, train_until


def _lab(at, lab):
    at.segmented_control(key="optimizers.lab").set_value(lab)
    at.run()
    assert not at.exception, at.exception
    at.run()
    return at


def test_race_trains_and_shows_paths_losses_and_gradients(clean_streamlit):
    at = open_page("optimizers")
    assert page_charts(at), "the surface is drawn before any run"
    at.select_slider(key="optimizers.steps").set_value(100)
    at.slider(key="optimizers.animate_s").set_value(0.0)
    at.run()
    train_until(at, is_done)
    titles = " ".join(chart_titles(at))
    assert "Loss above the minimum" in titles and "Gradient norm" in titles
    assert at.query_params["steps"] == "100"


def test_quadratic_shows_distill_rates_next_to_measured(clean_streamlit):
    at = open_page("optimizers")
    at.selectbox(key="optimizers.surface").set_value("quadratic")
    at.run()
    assert at.slider(key="optimizers.x0").value == -2.5  # the surface's own start
    next(b for b in at.button if b.label.startswith("Set Distill")).click()
    at.run()
    at.select_slider(key="optimizers.steps").set_value(100)
    at.slider(key="optimizers.animate_s").set_value(0.0)
    at.run()
    train_until(at, is_done)
    assert any("(κ-1)/(κ+1)" in m.label for m in at.metric)
    table = at.dataframe[0].value
    assert list(table["optimizer"])[:2] == ["SGD", "Momentum"]
    assert abs(float(table["measured rate"][0]) - float(table["theory rate at this α (β)"][0])) \
        < 0.01


def test_bad_link_values_get_a_sentence(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"surface": "<script>", "lr_adam": "1e9", "optimizers": "adam,os"})
    at.run()
    at.switch_page(page("optimizers").file)
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "surface" in warnings and "adam" in warnings and "out of range" in warnings


def test_lr_finder_and_sweep_labs_train(clean_streamlit):
    at = _lab(open_page("optimizers"), "lr")
    assert page_charts(at)
    at.select_slider(key="lr_finder.steps").set_value(50)
    at.slider(key="lr_finder.num_it").set_value(40)
    at.slider(key="lr_finder.hidden").set_value(8)
    at.run()
    train_until(at, is_done, timeout=120)
    assert "Loss against learning rate (range test)" in chart_titles(at)
    table = at.dataframe[0].value
    assert list(table["rule"]) == ["valley", "slide", "minimum", "steep"]
    at = _lab(at, "sweep")  # its training is covered by tests/foundations/test_optimizers.py
    assert any("random starts" in t for t in chart_titles(at))
    at = _lab(at, "slice")
    assert list(at.dataframe[0].value["optimizer"]) == ["SGD", "Momentum", "Adam"]
