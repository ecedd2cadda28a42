"""AppTest: /forecasting shows the split and the baselines before training, trains with live
charts, both panels work, and a malformed CSV gets a message instead of a traceback."""

from streamlit.testing.v1 import AppTest

from tests.apptest_util import (
    chart_titles,
    is_done,
    open_page,
    page_charts,
    progress_texts,
    train_until,
)
from tests.conftest import ROOT
from ui.pages import page


def open_with(query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update(query)
    at.run()
    at.switch_page(page("forecasting").file)
    at.run()
    at.run()
    assert not at.exception, at.exception
    return at


def test_preview_then_training_draws_every_chart(clean_streamlit):
    at = open_with({"series": "sunspots", "window": "16", "epochs": "2", "horizon": "8"})
    titles = chart_titles(at)
    assert any("chronological split" in t for t in titles), titles
    assert any("beats seasonal naive" in t for t in titles), titles
    assert at.button[0].label == "Train"
    train_until(at, is_done, timeout=90)
    titles = " | ".join(chart_titles(at))
    for want in ("Test error", "Multi-step forecast",
                 "against the horizon", "How far back", "forget gates", "Training loss"):
        assert want in titles, (want, titles)
    text = " ".join(m.value for m in [*at.success, *at.warning])
    assert "seasonal naive" in text


def test_memory_panel_trains_the_three_cells(clean_streamlit):
    at = open_with({"mem.seq_len": "10", "mem.steps": "20", "mem.hidden": "8"})
    assert any("adding sequence" in t for t in chart_titles(at))
    train_until(at, lambda a: "error signal reaches" in " | ".join(chart_titles(a)), timeout=90,
                label="Train RNN / LSTM / GRU")
    titles = " | ".join(chart_titles(at))
    assert "trivial baseline" in titles, titles
    assert any(t.startswith(("Training", "Done")) for t in progress_texts(at))


def test_malformed_csv_gets_a_message(clean_streamlit):
    at = open_with({"series": "csv", "csv": "1\n2\nthree\n" + "4\n" * 80})
    errors = " ".join(e.value for e in at.error)
    assert "Your CSV can't be used" in errors and "not a number" in errors
    assert page_charts(at)  # the page still works (on co2)


def test_hostile_link_values_fall_back(clean_streamlit):
    at = open_with({"window": "100000", "model": "<script>", "lr": "nan"})
    warnings = " ".join(w.value for w in at.warning)
    assert "window" in warnings and "model" in warnings
    assert page_charts(at)


def test_page_opens_through_the_catalogue(clean_streamlit):
    at = open_page("forecasting")
    assert page_charts(at)
