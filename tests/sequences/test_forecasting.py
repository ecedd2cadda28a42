"""Forecasting and long memory: series loaders and CSV validation, baselines, the GRU cell, the
fused kernels against the step-by-step cells, chrono initialisation, and learning on fixed
seeds (the LSTM beats last-value on co2; on the adding problem the LSTM solves length 50 while
the vanilla RNN stays at the baseline and its gradient at the first step vanishes)."""

import numpy as np
import pytest
import torch

from core.blocks.recurrent import GRUCell, LSTMCell
from core.data import series as sr
from core.sequences import forecasting as fc


@pytest.fixture(autouse=True)
def one_thread():
    """Small recurrent nets run fastest on one thread (and do not fight other tests)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_packaged_series_load_offline_with_their_periods():
    co2 = sr.load_series("co2")
    assert len(co2.values) == 2284
    assert np.isfinite(co2.values).all() and "59 missing weeks" in co2.note
    assert co2.period == 52 and co2.times[0] == "1958-03-29"
    temps = sr.load_series("seattle_temps")
    assert len(temps.values) == 8759 and temps.period == 24
    assert sr.load_series("sunspots").period == 11
    assert len(sr.load_series("elnino").values) == 61 * 12
    assert len(sr.load_series("nile").values) == 100
    assert len(sr.load_series("seattle_weather").values) == 1461


def test_csv_with_a_header_and_a_time_column_parses():
    rows = "\n".join(f"2020-01-{i % 28 + 1:02d},{np.sin(i / 5):.4f}" for i in range(80))
    values, times = sr.parse_series_csv("date,value\n" + rows)
    assert values.shape == (80,) and times[0] == "2020-01-01"
    values, times = sr.parse_series_csv("\n".join(str(i % 7) for i in range(70)))
    assert values[:3].tolist() == [0, 1, 2] and times[0] == "1"


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("value\n" + "\n".join(["1"] * 30 + ["abc"] + ["2"] * 40), "row 32 .*not a number"),
    ("\n".join(["1", "inf"] + ["2"] * 70), "row 2 .*not finite"),
    ("\n".join(str(i) for i in range(10)), "at least 60"),
    ("\n".join(f"{i},{i},{i}" for i in range(70)), "one value column"),
    ("\n".join(["5"] * 70), "all equal"),
    ("\n".join(["1,2", "3"] * 40), "same layout"),
])
def test_malformed_csv_gets_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message):
        sr.parse_series_csv(text)


def test_a_csv_config_reports_its_problem():
    with pytest.raises(ValueError, match="not a number"):
        fc.ForecastConfig(series="csv", csv="1\n2\nfoo\n" + "3\n" * 80)


def test_window_too_long_for_the_series_is_refused():
    with pytest.raises(ValueError, match="shorter window"):
        fc.ForecastConfig(series="nile", window=90)


def test_baselines_on_a_pure_seasonal_series():
    t = np.arange(400)
    v = np.sin(2 * np.pi * t / 12) + 5
    base = fc.baselines(v, 280, 340, 24, 12, 5.0, 1.0)
    assert base["seasonal naive (12)"]["mae"] < 1e-9
    assert base["linear"]["mae"] < 1e-3  # a sine is a linear recurrence
    assert base["last value"]["mae"] > 0.3


def test_gru_cell_matches_torch():
    torch.manual_seed(0)
    ours, ref = GRUCell(3, 5), torch.nn.GRUCell(3, 5)
    with torch.no_grad():
        ref.weight_ih.copy_(ours.W_x.weight)
        ref.bias_ih.copy_(ours.W_x.bias)
        ref.weight_hh.copy_(ours.W_h.weight)
        ref.bias_hh.zero_()
    x, h = torch.randn(4, 3), torch.randn(4, 5)
    got, gates = ours(x, h, record=True)
    assert torch.allclose(got, ref(x, h), atol=1e-6) and gates.shape == (4, 3, 5)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_fused_kernels_compute_what_the_stepped_cells_compute(kind):
    """Training runs torch's native kernels with our cells' parameters; recording steps the
    cells. Both must give the same outputs and the same gradients (two layers)."""
    torch.manual_seed(0)
    net = fc.RecurrentNet(kind, 3, 8, 2, 2)
    for cell in net.cells:
        fc.chrono_init_(cell, 30)
    x = torch.randn(4, 30, 3)
    steps = []
    net.cells[0].register_forward_hook(lambda *_: steps.append(1))
    fused, _ = net(x)
    assert not steps  # the native kernel ran, not the cell
    stepped, gates = net(x, record=True)
    assert len(steps) == 30
    assert torch.allclose(fused, stepped, atol=1e-5)
    assert (gates is None) == (kind == "rnn")
    g_fused = torch.autograd.grad(fused.pow(2).sum(), list(net.parameters()))
    g_stepped = torch.autograd.grad(stepped.pow(2).sum(), list(net.parameters()))
    for a, b in zip(g_fused, g_stepped):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_chrono_init_spreads_the_lstm_memory_time_scales():
    torch.manual_seed(0)
    cell = LSTMCell(2, 64)
    fc.chrono_init_(cell, 100)
    b = cell.x2h.bias.detach()
    forget, inp = b[64:128], b[:64]
    assert torch.equal(inp, -forget)
    assert forget.min() >= 0 and forget.max() <= np.log(99) + 1e-6
    assert forget.max() > np.log(40)  # time scales 1 / (1 - sigmoid(b_f)) up to ~T
    gru = GRUCell(2, 8)
    before = gru.W_x.bias.detach().clone()
    fc.chrono_init_(gru, 100)  # only the update gate z (keep the old state) changes
    after = gru.W_x.bias.detach()
    assert (after[8:16] > 0).all() and torch.equal(after[:8], before[:8])
    assert torch.equal(after[16:], before[16:])


def test_untrained_forecaster_is_the_last_value_forecaster():
    cfg = fc.ForecastConfig(series="sunspots", window=16, device="cpu")
    model, ev, _ = fc.setup(cfg, torch.device("cpu"))
    pred = fc.one_step(model, ev.v, np.arange(ev.b, len(ev.v)), cfg.window)
    assert np.allclose(pred, ev.v[ev.b - 1:-1], atol=1e-3)


def test_large_recurrent_weights_make_gradients_explode_backwards():
    torch.manual_seed(0)
    x = torch.randn(32, 40, 1)

    def loss(y):
        return y[:, -1].pow(2).mean()

    small = fc.input_gradient_norms(fc.RecurrentNet("rnn", 1, 32, 1, 1), x, loss)
    large = fc.input_gradient_norms(fc.RecurrentNet("rnn", 1, 32, 1, 1, large_init=True), x, loss)
    assert small[0] < 1e-4 * small[-1]  # vanishing: the first step gets almost nothing
    assert large[0] > 1e3 * small[0]


def test_lstm_beats_last_value_on_co2():
    cfg = fc.ForecastConfig(series="co2", window=32, horizon=8, epochs=3, lr=5e-3, seed=0,
                            device="cpu")
    snaps = list(fc.train(cfg))
    final = snaps[-1]
    m = final.metrics
    assert m["test_mae"] < 0.85 * m["last_value_mae"], m
    assert m["seasonal_naive_mae"] > m["last_value_mae"]  # co2's trend defeats seasonal naive
    art = final.artifacts
    assert art["grad_norms"].shape == (32,) and art["forget_gates"].shape == (32, 32)
    assert art["horizon"]["free_running"].shape == (8,)
    f = art["future"]
    assert (f["lo"] <= f["median"]).all() and (f["median"] <= f["hi"]).all()
    assert snaps[0].time_s < 5.0


def test_adding_problem_lstm_solves_length_50_and_rnn_stays_at_baseline():
    """The lesson on a fixed seed in a few seconds: the LSTM's test MSE falls far below the
    trivial 0.167 while the vanilla RNN's stays on it, its gradient at the first step vanished."""
    cfg = fc.MemoryConfig(task="adding", seq_len=50, models="rnn,lstm", steps=250, seed=0,
                          device="cpu")
    final = list(fc.train_memory(cfg))[-1]
    m = final.metrics
    assert m["test_loss_lstm"] < 0.1 * fc.ADDING_BASELINE, m
    assert m["test_loss_rnn"] > 0.8 * fc.ADDING_BASELINE, m
    g = final.artifacts["grad_norms"]
    assert g["rnn"][0] < 1e-3 * g["lstm"][0], (g["rnn"][0], g["lstm"][0])
    assert final.artifacts["forget_gates"].shape == (50, cfg.hidden)


def test_chrono_init_lets_the_lstm_learn_the_adding_problem_sooner():
    """Same seed, same batches, 250 updates at length 50: with chrono initialisation the LSTM
    has solved it; with the plain forget bias of 1 it is still near the baseline."""
    kw = dict(task="adding", seq_len=50, models="lstm", steps=250, seed=0, device="cpu")
    chrono = list(fc.train_memory(fc.MemoryConfig(**kw)))[-1].metrics["test_loss_lstm"]
    plain = list(fc.train_memory(fc.MemoryConfig(**kw, chrono_init=False)))[-1].metrics[
        "test_loss_lstm"]
    assert chrono < 0.1 * fc.ADDING_BASELINE, chrono
    assert plain > 0.5 * fc.ADDING_BASELINE, plain


def test_copy_task_shapes_and_baseline():
    x, y = sr.copy_memory(4, 10, torch.Generator().manual_seed(0))
    assert x.shape == (4, 20, 10) and y.shape == (4, 5)
    assert (x[:, 15].argmax(-1) == 9).all()  # the delimiter after the gap
    cfg = fc.MemoryConfig(task="copy", seq_len=10, models="gru", hidden=16, steps=5)
    final = list(fc.train_memory(cfg))[-1]
    assert 0 <= final.metrics["test_acc_gru"] <= 1
    assert final.metrics["baseline"] == pytest.approx(np.log(8))


def test_demos_are_registered():
    from core.registry import get_demo

    assert get_demo("forecasting").config_cls is fc.ForecastConfig
    assert get_demo("adding").config_cls is fc.MemoryConfig
