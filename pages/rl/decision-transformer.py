"""Decision Transformer: offline RL as sequence modelling, conditioned on the return you ask for."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core import handoff
from core.registry import get_demo
from core.rl import decision_transformer as dt
from ui.charts import MARGIN, PALETTE, line_chart, metric_row, page_header, plain, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel
from ui.pages import page

PAGE = "decision-transformer"
DEMO = get_demo("decision_transformer")

page_header(
    "Decision Transformer",
    "No environment interaction while learning: the agent only sees a fixed dataset of CartPole "
    "episodes of mixed quality (a hand-written controller that balances the pole and then gives "
    "up after a different number of steps in each episode, or the checkpoints of a DQN run "
    "from the DQN page; plus random play). A small GPT reads the episode "
    "as a sequence of *(return-to-go, state, action)* tokens with causal attention and learns to "
    "predict each action (Chen et al., 2021). The return-to-go R̂ₜ is the reward still to come; "
    "at test time we choose the first one, the **target return**, and subtract each reward as it "
    "arrives, so we can ask for a good episode or a bad one.",
    [r"\hat R_t = \sum_{t'=t}^{T} r_{t'},\qquad \tau = (\hat R_1, s_1, a_1,\ \hat R_2, s_2, a_2,"
     r"\ \dots,\ \hat R_T, s_T, a_T)",
     r"\mathcal{L} = -\sum_t \log \pi_\theta\big(a_t \mid \hat R_{\le t},\, s_{\le t},\, "
     r"a_{<t}\big)"],
    try_this="train with the defaults and read the last plot: achieved return should climb with "
    "the target up to the dataset's best. Then put **1000** in **Target returns** (more than any "
    "episode in the data) and set **Training steps** to 300 to see both limits.",
)

form = ConfigForm(PAGE, DEMO)
# DQN runs finished in this server, newest first: {settings: policies}
finished = {e.run: e.payload for e in handoff.finished(handoff.POLICIES) if e.demo == dt.DQN_DEMO}
DEFAULT_RUN = dt.DtConfig().dqn_run


def run_label(run: str) -> str:
    if run in finished:
        r = np.asarray(finished[run]["eval_returns"])
        return (f"{run or 'default settings'}: finished, {len(r)} checkpoints, "
                f"eval returns {r.min():.0f}-{r.max():.0f}")
    return f"{run or 'default settings'}: trained when you press Train"


with st.sidebar:
    st.header("Offline dataset")
    source = form.widget("source")
    if source == "dqn":
        current = form.current("dqn_run")
        if finished and form.key("dqn_run") not in st.session_state and current not in finished:
            current = st.session_state[form.key("dqn_run")] = next(iter(finished))  # newest
        form.widget("dqn_run", kind="selectbox", format_func=run_label,
                    options=list(dict.fromkeys([*finished, current, DEFAULT_RUN])),
                    help="runs finished on the DQN page (with its settings), or a short run "
                    "trained first")
    form.widget("n_episodes")
    form.section("Transformer", ["context_len", "d_model", "n_layers", "n_heads", "dropout"])
    form.section("Training", ["lr", "batch_size", "steps"],
                 steps=select_slider(100, 300, 500, 1000, 1500, 2000, 3000, 5000, 10000))
    st.header("Evaluation")
    targets_text = form.widget("targets", label="Target returns (comma separated)", kind="text",
                               help="the returns to ask the model for, e.g. 50,150,300,500")
    form.widget("eval_episodes")
    form.run_options()

problem = None
try:
    dt.parse_targets(targets_text)
except ValueError as e:
    problem = f"Target returns can't be used: {e}."
if problem:  # the text is the user's: shown as typed
    st.error(plain(problem) + " Using the last valid targets.", icon=":material/error:")
    targets_text = st.session_state.get(f"{PAGE}.targets_valid", dt.DtConfig().targets)
else:
    st.session_state[f"{PAGE}.targets_valid"] = targets_text
cfg = form.config(targets=targets_text)  # bad settings show, use defaults
def is_finished(run: str) -> bool:
    """True when a finished DQN run has these settings, however they are written."""
    try:
        return handoff.canonical_run(dt.DQN_DEMO, run) in finished
    except ValueError:
        return False


if cfg.source == "dqn":
    if is_finished(cfg.dqn_run):
        st.caption("The dataset is played by checkpoints of a DQN run finished on the "
                   "**DQN** page (one per evaluation there, picked from its worst to its best).")
    else:
        st.caption(f"No finished DQN run with the settings {plain(cfg.dqn_run or 'defaults')} yet: "
                   "**Train** first trains it (about a minute), then plays its checkpoints. "
                   "Runs you finish on the DQN page appear in the *DQN run* list.")
        st.page_link(page("dqn").file, label="Train a DQN run on the DQN page",
                     icon=":material/sports_esports:")


@st.cache_data(show_spinner="Collecting the offline dataset…")
def dataset_returns(source: str, n_episodes: int, seed: int) -> np.ndarray:
    return np.array([t.ret for t in dt.collect_dataset(source, n_episodes, seed)], np.float32)


def dataset_figure(returns: np.ndarray) -> go.Figure:
    fig = go.Figure(go.Histogram(x=returns, nbinsx=25, marker_color=PALETTE[0],
                                 name="episodes"))
    fig.add_vline(x=float(returns.max()), line_dash="dot", line_color=PALETTE[2],
                  annotation_text="best")
    fig.add_vline(x=float(returns.mean()), line_dash="dash", line_color="gray",
                  annotation_text="mean")
    fig.update_layout(title=f"Offline dataset: returns of its {len(returns)} episodes",
                      height=280, margin=MARGIN, xaxis_title="episode return",
                      yaxis_title="episodes", showlegend=False)
    return fig


def target_figure(rows: np.ndarray, m: dict, targets: list[float]) -> go.Figure:
    """Achieved vs target return (Chen et al. 2021, Fig. 4) with the baselines."""
    hi = max(max(targets), 520.0)
    fig = go.Figure()
    fig.add_scatter(x=[0, hi], y=[0, hi], mode="lines", name="achieved = target",
                    line={"dash": "dot", "color": "gray"})
    if "dataset_best_return" in m:
        fig.add_scatter(x=[0, hi], y=[m["dataset_best_return"]] * 2, mode="lines",
                        name="best episode in the dataset",
                        line={"color": PALETTE[2], "dash": "dash"})
        fig.add_scatter(x=[0, hi], y=[m["dataset_mean_return"]] * 2, mode="lines",
                        name="dataset mean", line={"color": "#999999", "dash": "dash"})
    if "bc_return" in m:
        fig.add_scatter(x=[0, hi], y=[m["bc_return"]] * 2, mode="lines",
                        name="behavior cloning (same data)", line={"color": PALETTE[3]})
    if len(rows):
        fig.add_scatter(x=rows[:, 0], y=rows[:, 1], mode="lines+markers",
                        name="Decision Transformer (mean ± std)",
                        error_y={"type": "data", "array": rows[:, 2], "visible": True},
                        line={"color": PALETTE[1], "width": 3}, marker={"size": 9})
    fig.update_layout(title="Achieved return vs target return", height=380, margin=MARGIN,
                      xaxis_title="target return (what we asked for)",
                      yaxis_title="achieved return (mean over episodes)",
                      xaxis_range=[0, hi], yaxis_range=[0, 520],
                      legend={"orientation": "h", "y": -0.22})
    return fig


def render(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        left, right = st.columns([1, 1])
        with left:
            if c.source == "heuristic":
                st.plotly_chart(dataset_figure(dataset_returns(c.source, c.n_episodes, c.seed)),
                                key=f"{PAGE}.data_preview")
            else:
                st.info("Press **Train**: " + ("the finished DQN run's checkpoints play the "
                        "episodes" if is_finished(c.dqn_run) else "the DQN run is trained first") +
                        ", then the dataset's returns appear here.")
        with right:
            st.markdown(
                f"**Model**: {c.n_layers} transformer layers, {c.n_heads} heads, embedding "
                f"{c.d_model}, context of {c.context_len} timesteps ({3 * c.context_len} "
                f"tokens). **Baseline**: behavior cloning, an MLP trained on the same data. "
                f"After {c.steps} training steps both play {c.eval_episodes} episodes per target "
                f"return ({c.targets}), sampling actions from their predicted distributions.")
        return
    m, art = view.latest.metrics, view.latest.artifacts
    if "dataset_returns" not in art:
        st.info("Collecting the offline dataset…", icon=":material/hourglass_top:")
        return
    targets = dt.parse_targets(c.targets)
    shown = {"DT loss": m.get("loss", np.nan), "BC loss": m.get("bc_loss", np.nan),
             "Best in dataset": m.get("dataset_best_return", np.nan),
             "Behavior cloning return": m.get("bc_return", np.nan)}
    metric_row({k: ("–" if not np.isfinite(v) else v) for k, v in shown.items()},
               fmt="{:.3g}")
    left, right = st.columns([1, 1])
    with left:
        show_chart(line_chart(view.history, ["loss", "bc_loss"],
                                   "Training loss (action cross-entropy, nats)", y_title="loss",
                                   height=280, names={"loss": "Decision Transformer",
                                                      "bc_loss": "behavior cloning"}),
                        key=f"{PAGE}.loss")
        st.plotly_chart(dataset_figure(art["dataset_returns"]), key=f"{PAGE}.data")
    with right:
        st.plotly_chart(target_figure(art["eval"], m, targets), key=f"{PAGE}.targets_chart")
        if art.get("phase") == "training":
            st.caption("The evaluation starts when training ends; one point per target return.")
        elif len(art["eval"]):
            rows = art["eval"]
            st.caption(f"Asked for {rows[0, 0]:.0f}, got {rows[0, 1]:.0f}; asked for "
                       f"{rows[-1, 0]:.0f}, got {rows[-1, 1]:.0f}. Beyond the best return in the "
                       "data the model has nothing to imitate, so the curve flattens.")


run_panel(PAGE, DEMO, cfg, render, compare=("loss", "bc_loss", "achieved_return"))
