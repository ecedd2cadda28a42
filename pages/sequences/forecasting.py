"""/forecasting: RNN / LSTM / GRU forecast real series against baselines; vanishing gradients
made visible on the adding and copy-memory problems."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data import series as sr
from core.registry import get_demo
from core.sequences import forecasting as fc
from ui.charts import MARGIN, PALETTE, data_note, line_chart, page_header, plain, show_chart
from ui.live import ConfigForm, RunView, run_panel

PAGE, MEM = "forecasting", "forecasting_memory"
DEMO, MEM_DEMO = get_demo("forecasting"), get_demo("adding")
MODEL_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU", "cnn": "1-D CNN (causal)",
               "transformer": "small Transformer"}
KIND_COLORS = {"rnn": PALETTE[3], "lstm": PALETTE[0], "gru": PALETTE[2]}

page_header(
    "Forecasting and long memory",
    "A recurrent network reads a window of past values and predicts the next one. Is it any "
    "good? Only a comparison says: every model here is measured against three baselines, the "
    "**last value**, the **seasonal naive** forecast (the value one season ago) and a **linear** "
    "model on the same window. The series is split in time order: the model trains on the past "
    "(blue), is tuned on the validation part (orange) and scored on the test part (green) it "
    "never saw. Further down, the **adding problem** shows why LSTMs and GRUs exist: the error "
    "signal of a vanilla RNN fades as it travels back in time.",
    [r"\text{RNN: } h_t = \tanh(W_x x_t + W_h h_{t-1} + b) \qquad "
     r"\text{LSTM: } c_t = f_t \odot c_{t-1} + i_t \odot g_t,\; h_t = o_t \odot \tanh c_t",
     r"\text{GRU: } h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1},\; "
     r"n_t = \tanh\!\big(W_n x_t + r_t \odot (U_n h_{t-1})\big)",
     r"\frac{\partial \mathcal{L}_T}{\partial x_k} = \frac{\partial \mathcal{L}_T}{\partial h_T}"
     r"\Big(\prod_{t=k+1}^{T} \frac{\partial h_t}{\partial h_{t-1}}\Big)"
     r"\frac{\partial h_k}{\partial x_k},\qquad "
     r"\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\, W_h "
     r"\;\text{(RNN)}, \quad \frac{\partial c_t}{\partial c_{t-1}} = \operatorname{diag}(f_t)"
     r"\;\text{(LSTM)}"],
    try_this="in **Long memory** below, train the adding problem at **Sequence length** 100 "
    "and watch the RNN's test loss stay on the dashed 0.167 line while the LSTM's and GRU's "
    "fall; the gradient-per-step curve shows why. Switch off **Chrono initialisation** and "
    "the LSTM needs about twice as many steps. Then switch on **Initialise recurrent weights "
    "large** with **Gradient clipping** 0 and watch the gradients explode.",
)

# ---------------------------------------------------------------------------- sidebar

form = ConfigForm(PAGE, DEMO)
csv_text = form.current("csv")
with st.sidebar:
    st.header("Data")
    series_name = form.widget("series", kind="selectbox",
                              format_func=lambda k: sr.SERIES[k][0])
    if series_name == "csv":
        up = st.file_uploader("Your series: CSV of one value per row, or time,value",
                              type=["csv", "txt"], key=f"{PAGE}.upload")
        if up is not None and up.size > sr.MAX_CSV_BYTES:
            csv_text = ""
            st.error(f"That file has {up.size / 1e6:.1f} MB; upload at most "
                     f"{sr.MAX_CSV_BYTES // 1_000_000} MB.")
        elif up is not None:
            try:
                csv_text = up.getvalue().decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                csv_text = ""
                st.error("That file is not UTF-8 text; upload a CSV of numbers.")
        example = "\n".join(["month,value"] + [f"{i},{10 + 5 * np.sin(i * np.pi / 6):.2f}"
                                              for i in range(120)])
        st.download_button("Example CSV", example, file_name="series.csv",
                           key=f"{PAGE}.fig_example")
    form.widget("window", kind="select_slider", options=[8, 16, 24, 32, 48, 64, 96, 128, 192,
                                                         256])
    form.widget("horizon", kind="select_slider", options=[1, 4, 8, 12, 24, 48, 52, 100, 200])
    form.widget("normalization", kind="selectbox")
    form.widget("val_frac")
    form.widget("test_frac")
    st.header("Model")
    form.widget("model", kind="selectbox", format_func=MODEL_NAMES.get)
    form.widget("hidden", kind="select_slider", options=[4, 8, 16, 32, 64, 128, 256])
    form.widget("n_layers")
    form.widget("dropout")
    st.header("Training")
    form.widget("lr")
    form.widget("max_grad_norm", kind="select_slider",
                options=[0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0])
    form.widget("large_init")
    form.widget("epochs", kind="select_slider", options=[1, 2, 3, 5, 10, 20, 50, 100, 200, 500])
    form.widget("batch_size")
    with st.expander("Seed and device"):
        form.widget("seed", kind="number")
        form.widget("device")

csv_problem = None
if series_name == "csv":
    try:
        sr.parse_series_csv(csv_text)
    except ValueError as e:
        csv_problem = str(e)
if csv_problem:
    st.error(f"Your CSV can't be used: {plain(csv_problem)}. Until it can, the page shows "
             "co2.", icon=":material/error:")
    cfg = form.config(series="co2", csv="")
else:
    cfg = form.config(csv=csv_text if series_name == "csv" else "")


@st.cache_data(max_entries=16, show_spinner=False)
def cached_preview(cfg: fc.ForecastConfig):
    return fc.preview(cfg)


# ---------------------------------------------------------------------------- figures


def latest_value(h: pd.DataFrame, column: str) -> float:
    """The newest measured value of a metric (test errors come on evaluation snapshots only);
    inf when there is none yet."""
    values = h[column].dropna() if column in h else ()
    return float(values.iloc[-1]) if len(values) else float("inf")


def series_figure(series: sr.Series, a: int, b: int, test_pred: np.ndarray | None,
                  future: dict | None, horizon: int) -> go.Figure:
    v, n = series.values, len(series.values)
    x = np.arange(n)
    fig = go.Figure()
    for (lo, hi), name, color in (((0, a), "train", PALETTE[0]), ((a - 1, b), "validation",
                                                                    PALETTE[1]),
                                  ((b - 1, n), "test", PALETTE[2])):
        fig.add_scatter(x=x[lo:hi], y=v[lo:hi], name=name, mode="lines",
                        line={"color": color, "width": 1.2}, customdata=series.times[lo:hi],
                        hovertemplate="%{customdata}: %{y:.4g}<extra></extra>")
    if test_pred is not None:
        fig.add_scatter(x=x[b:], y=test_pred, name="one-step prediction", mode="lines",
                        line={"color": "black", "width": 1, "dash": "dot"})
    if future is not None:
        fx = np.arange(n, n + len(future["median"]))
        fig.add_scatter(x=np.r_[fx, fx[::-1]], y=np.r_[future["hi"], future["lo"][::-1]],
                        fill="toself", fillcolor="rgba(214,39,40,0.2)", line={"width": 0},
                        name="90% band", hoverinfo="skip")
        fig.add_scatter(x=fx, y=future["median"], name=f"forecast past the end ({horizon})",
                        mode="lines", line={"color": PALETTE[3]})
    fig.update_layout(title=f"{series.title}: chronological split", height=330, margin=MARGIN,
                      xaxis_title=f"step (first: {series.times[0]}, last: {series.times[-1]})",
                      yaxis_title=series.unit, legend={"orientation": "h", "y": -0.25})
    return fig


def test_window_figure(series: sr.Series, b: int, test_pred: np.ndarray) -> go.Figure:
    v = series.values
    x = np.arange(b, len(v))
    fig = go.Figure()
    fig.add_scatter(x=x, y=v[b:], name="true", mode="lines", line={"color": PALETTE[2]},
                    customdata=series.times[b:], hovertemplate="%{customdata}: %{y:.4g}")
    fig.add_scatter(x=x, y=test_pred, name="one-step prediction", mode="lines",
                    line={"color": "black", "width": 1, "dash": "dot"})
    fig.update_layout(title="Test window: the model's one-step predictions", height=300,
                      margin=MARGIN, yaxis_title=series.unit,
                      legend={"orientation": "h", "y": -0.25})
    return fig


def error_bars(base: dict, model_err: dict | None, model_name: str, season_key: str
               ) -> go.Figure:
    rows = [(k, d["mae"], d["rmse"]) for k, d in base.items()]
    if model_err is not None:
        rows.append((model_name, model_err["mae"], model_err["rmse"]))
    season = base[season_key]["mae"]
    names = [k if k == season_key else k + (" ✓" if m < season else " ✗") for k, m, _ in rows]
    fig = go.Figure()
    fig.add_bar(x=names, y=[r[1] for r in rows], name="MAE", marker_color=PALETTE[0])
    fig.add_bar(x=names, y=[r[2] for r in rows], name="RMSE", marker_color=PALETTE[7])
    fig.update_layout(title="Test error (lower is better; ✓ beats seasonal naive, ✗ does not)",
                      height=330,
                      margin=MARGIN, barmode="group", legend={"orientation": "h", "y": -0.2})
    return fig


def multi_step_figure(v: np.ndarray, origin: int, window: int, res: dict) -> go.Figure:
    h = len(res["true"])
    xs = np.arange(origin, origin + h)
    fig = go.Figure()
    fig.add_scatter(x=np.arange(origin - window, origin + h), y=v[origin - window:origin + h],
                    name="true", mode="lines", line={"color": "#555"})
    fig.add_scatter(x=xs, y=res["teacher_forced"], name="teacher-forced (one step ahead)",
                    mode="lines+markers", marker={"size": 4}, line={"color": PALETTE[0]})
    fig.add_scatter(x=xs, y=res["free_running"], name="free-running (own predictions fed back)",
                    mode="lines+markers", marker={"size": 4}, line={"color": PALETTE[3]})
    fig.add_vline(x=origin - 0.5, line_dash="dash", line_color="#999")
    fig.update_layout(title=f"Multi-step forecast from step {origin}", height=320, margin=MARGIN,
                      legend={"orientation": "h", "y": -0.25})
    return fig


def horizon_figure(hz: dict) -> go.Figure:
    k = np.arange(1, len(hz["free_running"]) + 1)
    fig = go.Figure()
    fig.add_scatter(x=k, y=hz["teacher_forced"], name="teacher-forced", mode="lines",
                    line={"color": PALETTE[0]})
    fig.add_scatter(x=k, y=hz["free_running"], name="free-running", mode="lines",
                    line={"color": PALETTE[3]})
    fig.update_layout(title="Test MAE against the horizon (mean over origins)", height=320,
                      margin=MARGIN, xaxis_title="steps ahead", legend={"orientation": "h",
                                                                       "y": -0.25})
    return fig


def gradient_figure(curves: dict[str, np.ndarray], title: str) -> go.Figure:
    fig = go.Figure()
    for name, g in curves.items():
        t = np.arange(1, len(g) + 1)
        fig.add_scatter(x=t, y=np.maximum(g, 1e-30), name=MODEL_NAMES.get(name, name),
                        mode="lines", line={"color": KIND_COLORS.get(name, PALETTE[0])})
    fig.update_layout(title=title, height=320, margin=MARGIN, xaxis_title="input time step "
                      "(the loss is at the last step)", yaxis_title="|dL / dx_t|",
                      legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


def gate_figure(gates: np.ndarray, title: str) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=gates.T, zmin=0, zmax=1, colorscale="Viridis",
                               colorbar={"title": "f"}))
    fig.update_layout(title=title, height=320, margin=MARGIN, xaxis_title="time step",
                      yaxis_title="hidden unit")
    return fig


# ---------------------------------------------------------------------------- forecasting

def verdict(model_mae: float, base: dict, season_key: str, name: str) -> None:
    season, last = base[season_key]["mae"], base["last value"]["mae"]
    if model_mae < season:
        st.success(f"The {name} beats seasonal naive: test MAE {model_mae:.4g} against "
                   f"{season:.4g} (last value {last:.4g}, linear {base['linear']['mae']:.4g}).",
                   icon=":material/check_circle:")
    else:
        st.warning(f"The {name} does **not** beat seasonal naive yet: test MAE {model_mae:.4g} "
                   f"against {season:.4g}. A forecaster that loses to a baseline is not worth "
                   "deploying; train longer or change the window.", icon=":material/warning:")


def render_multi_step(view: RunView, v: np.ndarray, b: int) -> None:
    c = view.config
    horizon = min(c.horizon, len(v) - b)
    col1, col2 = st.columns(2)
    with col1:
        origin = st.slider("Forecast origin (test part)", b, len(v) - horizon, b,
                           key=f"{PAGE}.origin")
        if view.model is not None:
            memo_key = (id(view.model), origin, horizon)
            memo = st.session_state.get(f"{PAGE}.multi_memo")
            if memo is None or memo[0] != memo_key:  # the model copy changes every few seconds
                memo = (memo_key, fc.multi_step(view.model, v, origin, horizon, c.window))
                st.session_state[f"{PAGE}.multi_memo"] = memo
            res = memo[1]
            show_chart(multi_step_figure(v, origin, c.window, res), key=f"{PAGE}.fig_multi")
        else:
            st.caption("The multi-step forecast appears with the first model copy.")
    with col2:
        hz = view.latest.artifacts.get("horizon") if view.latest else None
        if hz is not None:
            show_chart(horizon_figure(hz), key=f"{PAGE}.fig_horizon")
            st.caption("Teacher-forced errors stay flat (every step starts from true values); "
                       "free-running errors grow as mistakes are fed back in.")


def render_gradients(art: dict, c: fc.ForecastConfig) -> None:
    g1, g2 = st.columns(2)
    if art.get("grad_norms") is not None:
        show_chart(gradient_figure({c.model: art["grad_norms"]},
                                   "How far back the error signal reaches"),
                   key=f"{PAGE}.fig_grads", where=g1)
    if art.get("forget_gates") is not None:
        show_chart(gate_figure(art["forget_gates"], "LSTM forget gates on a test window"),
                   key=f"{PAGE}.fig_forget", where=g2)
    else:
        g2.caption("Forget gates exist in the LSTM only: pick **LSTM** to see them.")


def render(view: RunView) -> None:
    c = view.config
    try:
        series, a, b, base = cached_preview(c)
    except ValueError as e:
        st.error(plain(str(e)))
        return
    data_note(series.note)
    season_key = next(k for k in base if k.startswith("seasonal"))
    art = view.latest.artifacts if view.latest else {}
    test_pred = art.get("test_pred")
    # the newest evaluation's errors (a snapshot between evaluations carries none)
    mae = latest_value(view.history, "test_mae")
    model_err = ({"mae": mae, "rmse": latest_value(view.history, "test_rmse")}
                 if np.isfinite(mae) else None)
    left, right = st.columns([3, 2])
    show_chart(series_figure(series, a, b, test_pred, art.get("future"), c.horizon),
               key=f"{PAGE}.fig_series", where=left)
    show_chart(error_bars(base, model_err, MODEL_NAMES[c.model], season_key),
               key=f"{PAGE}.fig_bars", where=right)
    if view.latest is None:
        st.caption(f"{len(series.values):,} values: {a:,} train, {b - a:,} validation, "
                   f"{len(series.values) - b:,} test. Season: {series.period_label}. Press "
                   "**Train**.")
        return
    if model_err is not None:
        verdict(model_err["mae"], base, season_key, MODEL_NAMES[c.model])
    if test_pred is not None:
        show_chart(test_window_figure(series, b, test_pred), key=f"{PAGE}.fig_test")
    render_multi_step(view, series.values, b)
    h = view.history
    l1, l2 = st.columns(2)
    show_chart(line_chart(h, ["train_loss"], "Training loss (one-step MSE, scaled)",
                          log_y=True), key=f"{PAGE}.fig_loss", where=l1)
    show_chart(line_chart(h, ["test_mae", "val_mae", "last_value_mae", "seasonal_naive_mae",
                              "linear_mae"], "MAE: the model against the baselines",
                          names={"test_mae": "test", "val_mae": "validation",
                                 "last_value_mae": "last value (test)",
                                 "seasonal_naive_mae": "seasonal naive (test)",
                                 "linear_mae": "linear (test)"}, legend="bottom"),
               key=f"{PAGE}.fig_mae", where=l2)
    st.subheader("Vanishing and exploding gradients")
    render_gradients(art, c)
    show_chart(line_chart(h, ["grad_norm"], "Gradient norm before clipping", log_y=True,
                          height=220), key=f"{PAGE}.fig_gradnorm")


run_panel(PAGE, DEMO, cfg, render, compare=("test_mae", "val_mae", "train_loss", "grad_norm"))

# ---------------------------------------------------------------------------- long memory

st.header("Long memory: the adding problem")
st.markdown("Each sequence has two channels: random numbers in [0, 1] and a marker that is 1 "
            "at two positions (one in each half). The target is the sum of the two marked "
            "numbers, read only at the **last** step, so the network must carry them across "
            "the whole sequence. Always answering 1 gives MSE 1/6 ≈ **0.167**: a model on that "
            "line has learned nothing. The copy task asks the network to repeat 5 symbols "
            "after a gap (guessing: cross-entropy log 8 ≈ 2.08). RNN, LSTM and GRU train side "
            "by side on the same batches. **Chrono initialisation** (Tallec & Ollivier 2018) "
            "starts the LSTM's forget gates (the GRU's update gates) with memory time scales "
            "spread up to the sequence length, instead of all near one step.")
mform = ConfigForm(MEM, MEM_DEMO, url_prefix="mem.")
m1, m2, m3, m4 = st.columns(4)
with m1:
    mform.widget("task", kind="segmented")
    mform.widget("models", kind="selectbox")
with m2:
    mform.widget("seq_len", kind="select_slider",
                 options=[10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1000])
    mform.widget("hidden", kind="select_slider", options=[8, 16, 32, 64, 128, 256])
with m3:
    mform.widget("lr")
    mform.widget("max_grad_norm", kind="select_slider",
                 options=[0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0])
with m4:
    mform.widget("steps", kind="select_slider",
                 options=[50, 100, 200, 300, 500, 1000, 2000, 5000, 10000])
    mform.widget("chrono_init")
    mform.widget("large_init")
mcfg = mform.config(seed=cfg.seed, device=cfg.device)


def adding_example(c: fc.MemoryConfig) -> go.Figure:
    import torch

    x, y = sr.adding_problem(1, c.seq_len, torch.Generator().manual_seed(0))
    t = np.arange(1, c.seq_len + 1)
    fig = go.Figure()
    fig.add_bar(x=t, y=x[0, :, 0].numpy(), name="number", marker_color="#bbb")
    marked = x[0, :, 1].numpy() > 0
    fig.add_bar(x=t[marked], y=x[0, marked, 0].numpy(), name="marked", marker_color=PALETTE[3],
                width=[0.8] * int(marked.sum()))
    fig.update_layout(title=f"One adding sequence: target = {float(y[0]):.3f}", height=260,
                      margin=MARGIN, barmode="overlay", xaxis_title="time step",
                      legend={"orientation": "h", "y": -0.3})
    return fig


def render_memory(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        if c.task == "adding":
            show_chart(adding_example(c), key=f"{MEM}.fig_example")
        st.caption("Press **Train RNN / LSTM / GRU** to train the three side by side.")
        return
    h = view.history
    kinds = c.kinds
    c1, c2 = st.columns(2)
    show_chart(line_chart(h, [f"test_loss_{k}" for k in kinds] + ["baseline"],
                          "Test loss against the trivial baseline (dashed level)",
                          names={**{f"test_loss_{k}": MODEL_NAMES[k] for k in kinds},
                                 "baseline": "trivial baseline"},
                          colors={**{f"test_loss_{k}": KIND_COLORS[k] for k in kinds},
                                  "baseline": "#999"}, log_y=True),
               key=f"{MEM}.fig_loss", where=c1)
    art = view.latest.artifacts
    if art.get("grad_norms"):
        show_chart(gradient_figure(art["grad_norms"], "|dL/dx_t| per input step: how far "
                                   "back each model's error signal reaches"),
                   key=f"{MEM}.fig_grads", where=c2)
    g1, g2 = st.columns(2)
    if art.get("forget_gates") is not None:
        show_chart(gate_figure(art["forget_gates"], "LSTM forget gates over one test sequence"),
                   key=f"{MEM}.fig_forget", where=g1)
    show_chart(line_chart(h, [f"grad_norm_{k}" for k in kinds], "Gradient norm before "
                          "clipping", names={f"grad_norm_{k}": MODEL_NAMES[k] for k in kinds},
                          colors={f"grad_norm_{k}": KIND_COLORS[k] for k in kinds},
                          log_y=True), key=f"{MEM}.fig_gradnorm", where=g2)
    baseline = view.latest.metrics["baseline"]
    solved = [MODEL_NAMES[k] for k in kinds
              if latest_value(h, f"test_loss_{k}") < 0.1 * baseline]
    st.caption(("Solved (test loss under a tenth of the baseline): " + ", ".join(solved))
               if solved else "No model is clearly below the baseline yet.")


run_panel(MEM, MEM_DEMO, mcfg, render_memory, compare=tuple(
    f"test_loss_{k}" for k in ("rnn", "lstm", "gru")), train_label="Train RNN / LSTM / GRU")

with st.expander("Data sources", icon=":material/database:"):
    st.table(pd.DataFrame(
        [(k, t, u, p) for k, (t, u, _, p) in sr.SERIES.items() if k != "csv"],
        columns=["key", "series", "unit", "season"]))
    st.caption("co2, sunspots, nile, elnino: statsmodels.datasets; seattle-temps and "
               "seattle-weather: vega_datasets.local_data. All ship with the packages.")
