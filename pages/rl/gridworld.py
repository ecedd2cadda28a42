"""/gridworld: tabular Q-learning and SARSA fill a Q-table; value iteration is the answer key."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.registry import get_demo
from core.rl import gridworld as gw
from ui.charts import MARGIN, line_chart, page_header, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "gridworld"
DEMO = get_demo("gridworld")

page_header(
    "Grid-world Q-learning",
    "An agent starts at **S** and must reach the goal **G** (+1) without falling into a pit "
    "**P** (−1); every step costs a little. It knows nothing about the grid: it learns a table "
    "of action values Q(s, a) from its own experience. Value iteration, which *does* know the "
    "rules, computes the exact answer on the right, so you can watch the learned table converge "
    "to it. Arrows show the greedy action in each cell; the line is the agent's latest episode.",
    [r"Q(s,a) \leftarrow Q(s,a) + \alpha\big[r + \gamma \max_{a'} Q(s',a') - Q(s,a)\big]"
     r"\quad\text{(Q-learning)}",
     r"V^*(s) = \max_a \sum_{s'} P(s' \mid s,a)\,\big[r(s') + \gamma V^*(s')\big]"
     r"\quad\text{(Bellman optimality)}"],
    try_this="set **Slip probability** to 0.2 and train again: near the pit the optimal policy "
    "starts walking into the wall rather than risk slipping in. Then pick the **cliff** preset "
    "and compare Q-learning with SARSA: SARSA learns the safer path away from the edge.",
)

form = ConfigForm(PAGE, DEMO, defaults=gw.GridConfig(pace_ms=20))
layout_key = form.key("layout")
if layout_key not in st.session_state:
    st.session_state[layout_key] = gw.PRESETS["classic"]


def _paint(r: int, c: int) -> None:
    tool = st.session_state.get(f"{PAGE}.tool", "#")
    st.session_state[layout_key] = gw.paint(st.session_state[layout_key], r, c, tool)


def _preset() -> None:
    st.session_state[layout_key] = gw.PRESETS[st.session_state[f"{PAGE}.preset"]]


with st.sidebar:
    st.header("Grid")
    st.selectbox("Preset", list(gw.PRESETS), key=f"{PAGE}.preset", on_change=_preset,
                 index=None, placeholder="load a preset…")
    with st.expander("Edit the grid by clicking", expanded=False):
        st.segmented_control("Paint", ["#", "P", "G", "S", "."], key=f"{PAGE}.tool",
                             default="#", format_func={"#": "wall", "P": "pit", "G": "goal",
                                                       "S": "start", ".": "empty"}.get)
        try:
            cells = gw.parse_layout(st.session_state[layout_key])
        except ValueError:
            cells = np.array([list(r) for r in gw.PRESETS["classic"].split("/")])
        for r in range(cells.shape[0]):
            cols = st.columns(cells.shape[1], gap=None)
            for c in range(cells.shape[1]):
                label = {".": "·", "#": "■"}.get(cells[r, c], cells[r, c])
                cols[c].button(label, key=f"{PAGE}.cell{r}_{c}", on_click=_paint, args=(r, c),
                               width="stretch")
    form.section("Agent", ["algorithm", "alpha", "gamma", "epsilon_start", "epsilon_decay",
                           "epsilon_end", "episodes"],
                 algorithm={"format_func": {"q_learning": "Q-learning", "sarsa": "SARSA"}.get},
                 episodes=select_slider(50, 100, 200, 500, 1000, 2000, 5000, 10000))
    form.section("World", ["slip", "step_cost", "pace_ms"])
    form.run_options("max_steps", title="Seed and episode cap", device=False)

try:
    gw.parse_layout(st.session_state[layout_key])
    cfg = form.config()
except ValueError as e:
    st.error(f"This grid can't be used: {e}. Fix it in *Edit the grid*, or load a preset.")
    st.session_state[layout_key] = gw.PRESETS["classic"]
    cfg = form.config()


def grid_figure(grid: np.ndarray, q: np.ndarray, title: str, path: list | None = None,
                vmax: float = 1.0) -> go.Figure:
    """Cell colour = max_a Q(s, a); arrows = greedy action; walls, pits, goal marked."""
    h, w = grid.shape
    v = q.max(axis=2)
    z = np.where(grid == "#", np.nan, v)
    z = np.where(grid == "P", -vmax, np.where(grid == "G", vmax, z))
    arrows = gw.greedy_arrows(q)
    text = np.full((h, w), "", dtype=object)
    for r in range(h):
        for c in range(w):
            ch = grid[r, c]
            if ch in "PG":
                text[r, c] = {"P": "<b>PIT</b><br>−1", "G": "<b>GOAL</b><br>+1"}[ch]
            elif ch != "#":
                text[r, c] = (f"<span style='font-size:24px'>{arrows[r, c]}</span><br>"
                              f"{v[r, c]:.2f}" + ("<br><b>START</b>" if ch == "S" else ""))
    fig = go.Figure(go.Heatmap(z=z, colorscale="RdYlGn", zmin=-vmax, zmax=vmax, text=text,
                               texttemplate="%{text}", textfont={"size": 14},
                               colorbar={"title": "max Q", "len": 0.8}, xgap=2, ygap=2,
                               hovertemplate="row %{y}, col %{x}<br>V=%{z:.3f}<extra></extra>"))
    for r, c in np.argwhere(grid == "#"):
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                      fillcolor="#444", line={"width": 0})
    if path:
        pr = [p[0] + 0.12 * np.sin(i) for i, p in enumerate(path)]
        pc = [p[1] + 0.12 * np.cos(i) for i, p in enumerate(path)]
        fig.add_scatter(x=pc, y=pr, mode="lines+markers", name="last episode",
                        line={"color": "#1f77b4", "width": 2}, marker={"size": 4})
    fig.update_layout(title=title, height=90 * h + 120, margin=MARGIN, showlegend=bool(path),
                      legend={"orientation": "h", "y": -0.05})
    fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor="x")
    fig.update_xaxes(showticklabels=False)
    return fig


def render(view: RunView) -> None:
    c = view.config
    grid = gw.parse_layout(c.layout)
    env = gw.GridWorld(grid, c.slip, c.step_cost)
    if view.latest is None:
        v_star, q_star = gw.value_iteration(env, c.gamma)
        q, path, title = np.zeros_like(q_star), None, "Q-table (press Train)"
    else:
        art = view.latest.artifacts
        q, q_star, path = art["q"], art["q_star"], art["path"]
        title = f"Learned Q after episode {view.latest.step}"
    left, right = st.columns(2)
    show_chart(grid_figure(grid, q, title, path), key=f"{PAGE}.q", where=left)
    show_chart(grid_figure(grid, q_star, "Value iteration (exact)"), key=f"{PAGE}.vi", where=right)
    if view.latest is None:
        st.caption("Before training every Q-value is 0: the agent has no idea where the goal is.")
        return
    m = view.latest.metrics
    a, b, d, e = st.columns(4)
    a.metric("Policy matches value iteration", f"{m['policy_agreement']:.0%}")
    b.metric("Mean |V − V*|", f"{m['value_gap']:.3f}")
    d.metric("Greedy return", f"{m['eval_return']:.2f}")
    e.metric("ε", f"{m['epsilon']:.2f}")
    h = view.history.copy()
    if "episode_return" in h:
        h["moving average"] = h["episode_return"].rolling(20, min_periods=1).mean()
    c1, c2 = st.columns(2)
    show_chart(line_chart(h, ["episode_return", "moving average", "eval_return"],
                          "Return per episode", x="step", y_title="return"),
               key=f"{PAGE}.ret", where=c1)
    show_chart(line_chart(h, ["value_gap", "policy_agreement"], "Gap to value iteration",
                          x="step", y_title=""), key=f"{PAGE}.gap", where=c2)
    st.caption("x axis: episodes. The return curve is noisy because the agent still explores "
               "with probability ε; the greedy return is what it would get if it stopped "
               "exploring.")


run_panel(PAGE, DEMO, cfg, render, compare=("episode_return", "value_gap", "policy_agreement",
                                             "eval_return"))
