"""DQN on CartPole: deep Q-learning with replay and a target network, live, with ablations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import handoff
from core.blocks.images import gif_bytes
from core.registry import get_demo
from core.rl import dqn
from ui.charts import MARGIN, PALETTE, line_chart, metric_row, page_header, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel
from ui.pages import page

PAGE = "dqn"
DEMO = get_demo("dqn")

page_header(
    "DQN on CartPole",
    "A cart must keep a pole upright by pushing left or right; every step the pole stays up "
    "pays +1, and an episode ends when it falls or after 500 steps. A neural network learns "
    "**Q(s, a)**, the return it expects after pushing *a* in state *s*, from replayed experience, "
    "and acts ε-greedily on it. Deep Q-learning (Mnih et al., 2015) fits Q to the Bellman "
    "optimality equation, using a slowly-updated *target network* on the right-hand side:",
    [r"Q^*(s,a) = \mathbb{E}_{s'}\Big[\,r + \gamma \max_{a'} Q^*(s',a')\Big]",
     r"\mathcal{L}(\theta) = \mathbb{E}_{(s,a,r,s')\sim\mathcal{D}}\Big[\operatorname{Huber}"
     r"\big(r + \gamma\,(1-\mathrm{done})\max_{a'} Q_{\theta^-}(s',a') - Q_\theta(s,a)\big)\Big]"],
    try_this="train once with the defaults, then switch on **Ablation: no target network** (or "
    "**no replay**), train again and pick *eval_return* in **Compare runs**: the ablated run "
    "climbs, then collapses again and again.",
)

with st.expander("Why replay and a target network stabilise learning", icon=":material/school:"):
    st.markdown(
        "* **Replay buffer** 𝒟: consecutive CartPole states are almost identical, so training on "
        "them in order is like training on one example over and over; the network forgets "
        "what it learned elsewhere. Sampling mini-batches uniformly from the last 100,000 "
        "transitions decorrelates them and reuses each experience many times.\n"
        "* **Target network** θ⁻: the regression target r + γ max Q(s′, ·) depends on the very "
        "weights being trained. Without a frozen copy, every update moves its own target "
        "(often upwards: Q-values chase themselves and overestimate). Copying θ into θ⁻ only "
        "every few hundred gradient steps turns each phase into an ordinary supervised problem.\n"
        "* **Double DQN** picks the next action with the online network but values it with the "
        "target network, which removes most of the max operator's overestimation.\n"
        "* **n-step returns** (here n = 3 by default): the target sums n real rewards before "
        "bootstrapping, r + γr′ + γ²r″ + γ³ max Q(s‴, ·), so a failure's signal travels n steps "
        "back per update instead of one. Set **n-step returns** to 1 for the original DQN.\n"
        "* **ε-greedy**: act randomly with probability ε (decaying from 1 to 0.04) so the agent "
        "keeps seeing states its greedy policy would avoid. Episodes cut at 500 steps are "
        "*truncated*, not failed: their last transition still bootstraps from s′.")

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    form.section("Training", ["lr", "lr_decay", "gamma", "n_step", "batch_size", "steps"],
                 steps=select_slider(2_000, 5_000, 10_000, 20_000, 30_000, 50_000, 100_000, 200_000))
    form.section("Replay and updates", ["buffer_size", "learning_starts", "train_freq",
                                        "gradient_steps"],
                 buffer_size=select_slider(1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000),
                 learning_starts=select_slider(0, 100, 500, 1_000, 2_000, 5_000, 10_000),
                 train_freq=select_slider(1, 4, 16, 64, 128, 256, 512, 1000),
                 gradient_steps=select_slider(1, 4, 16, 32, 64, 128, 256, 512))
    form.section("Target network", ["target_update_period", "tau", "double_dqn"],
                 target_update_period=select_slider(1, 10, 64, 128, 256, 500, 1_000, 5_000, 10_000))
    form.section("Exploration (ε-greedy)", ["epsilon_start", "epsilon_end",
                                            "exploration_fraction"])
    form.section("Network and ablations", ["hidden", "no_replay", "no_target"])
    form.run_options("eval_every", "eval_episodes", "max_grad_norm",
                     title="Evaluation, seed and device",
                     eval_every=select_slider(500, 1_000, 2_500, 5_000, 10_000, 50_000))

cfg = form.config()  # cross-field errors (ε end > ε start, ...) show and fall back to defaults


first_frame = st.cache_data(show_spinner=False)(dqn.first_frame)


def returns_figure(episodes: np.ndarray, evals: np.ndarray, window: int = 20) -> go.Figure:
    fig = go.Figure()
    if len(episodes):
        ends, rets = episodes[:, 0], episodes[:, 1]
        avg = pd.Series(rets).rolling(window, min_periods=1).mean()
        fig.add_scatter(x=ends, y=rets, mode="markers", name="episode return (ε-greedy)",
                        marker={"size": 4, "color": PALETTE[0], "opacity": 0.35})
        fig.add_scatter(x=ends, y=avg, mode="lines", name=f"moving average ({window} episodes)",
                        line={"color": PALETTE[0], "width": 2.5})
    if len(evals):
        fig.add_scatter(x=evals[:, 0], y=evals[:, 1], mode="lines+markers",
                        name="evaluation return (greedy, mean)",
                        line={"color": PALETTE[1], "width": 2.5})
    fig.add_hline(y=475, line_dash="dot", line_color="gray",
                  annotation_text="solved (475)", annotation_position="bottom right")
    fig.update_layout(title="Return per episode", height=330, margin=MARGIN,
                      xaxis_title="environment step", yaxis_title="return (steps balanced)",
                      yaxis_range=[0, 520], legend={"orientation": "h", "y": -0.25})
    return fig


def q_slice_figure(q: np.ndarray, show: str, step: int) -> go.Figure:
    angles, vels = dqn.slice_axes(q.shape[0])
    deg = np.degrees(angles)
    if show == "max Q":
        z, scale, mid, title = q.max(-1), "Viridis", None, "max_a Q(s, a)"
    else:
        z, scale, mid, title = q[..., 1] - q[..., 0], "RdBu_r", 0.0, "Q(s, right) − Q(s, left)"
    fig = go.Figure(go.Heatmap(z=z, x=deg, y=vels, colorscale=scale, zmid=mid,
                               colorbar={"title": {"text": "Q" if show == "max Q" else "Δ Q"}},
                               hovertemplate="angle %{x:.1f}°<br>ang. vel. %{y:.2f} rad/s<br>"
                               "%{z:.2f}<extra></extra>"))
    fig.update_layout(title={"text": f"{title} at step {step}",
                             "subtitle": {"text": "cart at rest in the centre"}}, height=380,
                      margin={**MARGIN, "t": MARGIN["t"] + 24},
                      xaxis_title="pole angle (degrees, + = leaning right)",
                      yaxis_title="pole angular velocity (rad/s)")
    return fig


def playback(view: RunView) -> None:
    art = view.latest.artifacts
    policy, pstep = art.get("policy"), art.get("policy_step", 0)
    st.subheader("Watch the policy")
    if policy is None:
        st.caption("The first copy of the network arrives in a moment.")
        return
    c1, c2 = st.columns([1, 1])
    seed = c1.number_input("Start state (seed)", 0, 10_000, 0, key=f"{PAGE}.play_seed")
    if c2.button("Play the current policy", icon=":material/play_circle:",
                 key=f"{PAGE}.play"):
        with st.spinner("Rendering an episode…"):
            frames, ret = dqn.play_episode(policy, seed=int(seed), every=3, scale=0.4)
            gif = gif_bytes(frames, duration_ms=20 * 3)  # real time: CartPole steps are 20 ms
            st.session_state[f"{PAGE}.playback"] = (view.run.id if view.run else 0, pstep, gif,
                                                    ret)
    saved = st.session_state.get(f"{PAGE}.playback")
    if saved:
        _, at_step, gif, ret = saved
        st.image(gif, caption=f"Greedy policy from step {at_step}: balanced {ret:.0f} of 500 "
                 "steps (env.render(), real time)")
    else:
        st.caption(f"Press the button to play one greedy episode with the network as of step "
                   f"{pstep}; press it again later to see how the policy improves.")


def preview(config: dqn.DqnConfig) -> None:
    """Before any run: the environment and what one run does."""
    left, right = st.columns([1, 1])
    with left:
        st.image(first_frame(config.seed), caption="CartPole-v1 as env.render() draws it; "
                 "press Train")
    with right:
        st.markdown(
            "**State** s = (cart position, cart velocity, pole angle, pole angular "
            "velocity). **Actions**: push left or push right. **Reward** +1 per step; "
            "the episode fails when the pole tilts past 12° or the cart leaves the track "
            "and is cut at 500 steps. A random policy lasts about 22 steps.")
        st.markdown(f"This run: {config.steps:,} environment steps, greedy evaluation over "
                    f"{config.eval_episodes} episodes every {config.eval_every:,} steps.")


def hand_over(view: RunView) -> None:
    """After a run: its checkpoints, and the link that hands them to the Decision Transformer."""
    policies = view.latest.artifacts.get(handoff.POLICIES)
    if policies is None or not len(policies["state_dicts"]):
        return
    r = np.asarray(policies["eval_returns"])
    st.info(f"This run saved {len(r)} checkpoints, one per evaluation (returns {r.min():.0f} "
            f"to {r.max():.0f}): the **Decision Transformer** page can learn from the "
            "episodes they play (the link below opens it with this run as its dataset).",
            icon=":material/dataset:")
    st.page_link(page("decision-transformer").file, label="Use them on the Decision "
                 "Transformer page", icon=":material/arrow_forward:",
                 query_params={"source": "dqn", "dqn_run": handoff.run_name(view.config)})


def render(view: RunView) -> None:
    if view.latest is None:
        preview(view.config)
        return
    m, art = view.latest.metrics, view.latest.artifacts
    shown = {"Return (avg of last 20)": m.get("return_avg", np.nan),
             "Evaluation return": m.get("eval_return", np.nan),
             "ε": m.get("epsilon", np.nan), "Mean max Q": m.get("mean_max_q", np.nan)}
    metric_row({k: ("–" if not np.isfinite(v) else v) for k, v in shown.items()},
               fmt="{:.1f}")
    left, right = st.columns([3, 2])
    with left:
        show_chart(returns_figure(art["episodes"], art["evals"]), key=f"{PAGE}.returns")
        a, b = st.columns(2)
        h = view.history
        show_chart(line_chart(h, ["loss"], "Huber loss (training batches)", x="step",
                              y_title="loss", log_y=True, height=250), key=f"{PAGE}.loss", where=a)
        show_chart(line_chart(h, ["mean_max_q", "epsilon"], "Mean max Q and ε", x="step",
                              y_title="value", height=250,
                              names={"mean_max_q": "mean max Q", "epsilon": "ε"}),
                   key=f"{PAGE}.maxq", where=b)
        st.caption("With γ = 0.99 a perfect policy earns Q ≈ 1/(1−γ) = 100 at most; mean max Q "
                   "far above that is overestimation (try **no target network**).")
    with right:
        show = st.segmented_control("Heatmap", ["Q(right) − Q(left)", "max Q"],
                                    default="Q(right) − Q(left)", key=f"{PAGE}.slice_show")
        show_chart(q_slice_figure(art["q_slice"], show or "Q(right) − Q(left)",
                                  view.latest.step), key=f"{PAGE}.slice")
        st.caption("Red: the network prefers pushing right. A good policy pushes towards the "
                   "side the pole is falling to: red in the upper right, blue in the lower left.")
        playback(view)
    if view.latest.final:
        hand_over(view)
        if view.run is not None and not view.alive and m.get("eval_return", 0) < 100:
            st.warning("This run ended with a low evaluation return. Ablated or extreme settings "
                       "often do: compare with a default run in *Compare runs*.")


run_panel(PAGE, DEMO, cfg, render, compare=("eval_return", "return_avg", "mean_max_q", "loss",
                                            "epsilon"),
          defer_first_paint=False)  # no chart before a run
