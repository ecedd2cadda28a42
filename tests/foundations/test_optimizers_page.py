"""AppTest: /optimizers races live, explains the quadratic, and each lab trains without errors."""

from tests.apptest_util import (
    assert_says,
    chart_titles,
    open_link,
    open_page,
    page_charts,
    set_controls,
    train_until,
)


def _lab(at, lab):
    set_controls(at, {"optimizers.lab": lab})
    at.run()
    return at


def test_race_trains_and_shows_paths_losses_and_gradients(clean_streamlit):
    at = open_page("optimizers")
    assert page_charts(at), "the surface is drawn before any run"
    set_controls(at, {"optimizers.steps": 100, "optimizers.animate_s": 0.0})
    train_until(at)
    titles = " ".join(chart_titles(at))
    assert "Loss above the minimum" in titles and "Gradient norm" in titles
    assert at.query_params["steps"] == "100"


def test_quadratic_shows_distill_rates_next_to_measured(clean_streamlit):
    at = open_page("optimizers")
    set_controls(at, {"optimizers.surface": "quadratic"})
    assert at.slider(key="optimizers.x0").value == -2.5  # the surface's own start
    next(b for b in at.button if b.label.startswith("Set Distill")).click()
    at.run()
    set_controls(at, {"optimizers.steps": 100, "optimizers.animate_s": 0.0})
    train_until(at)
    assert any("(κ-1)/(κ+1)" in m.label for m in at.metric)
    table = at.dataframe[0].value
    assert list(table["optimizer"])[:2] == ["SGD", "Momentum"]
    assert abs(float(table["measured rate"][0]) - float(table["theory rate at this α (β)"][0])) \
        < 0.01


def test_bad_link_values_get_a_sentence(clean_streamlit):
    at = open_link("optimizers", {"surface": "<script>", "lr_adam": "1e9",
                                  "optimizers": "adam,os"})
    assert_says(at.warning, "surface", "adam", "out of range")


def test_lr_finder_and_sweep_labs_train(clean_streamlit):
    at = _lab(open_page("optimizers"), "lr")
    assert page_charts(at)
    set_controls(at, {"lr_finder.steps": 50, "lr_finder.num_it": 40, "lr_finder.hidden": 8})
    train_until(at, timeout=120)
    assert "Loss against learning rate (range test)" in chart_titles(at)
    table = at.dataframe[0].value
    assert list(table["rule"]) == ["valley", "slide", "minimum", "steep"]
    at = _lab(at, "sweep")  # its training is covered by tests/foundations/test_optimizers.py
    assert any("random starts" in t for t in chart_titles(at))
    at = _lab(at, "slice")
    assert list(at.dataframe[0].value["optimizer"]) == ["SGD", "Momentum", "Adam"]
