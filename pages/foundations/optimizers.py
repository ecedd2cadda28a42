"""/optimizers: torch.optim's optimizers race on 2-D surfaces, Distill's quadratic analysis, a
fair learning-rate sweep, the LR range test and optimizer paths on an MNIST loss slice."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.foundations import optimizers as opt
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, data_note, line_chart, metric_row, page_header, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel, url_choice

PAGE, PAGE_SWEEP, PAGE_LR, PAGE_SLICE = ("optimizers", "optimizer_sweep", "lr_finder",
                                         "optimizer_landscape")
COLORS = {name: PALETTE[i] for i, name in enumerate(opt.OPTIMIZERS)}
LABS = ("race", "sweep", "lr", "slice")
LAB_NAMES = {"race": "Race on a surface", "sweep": "Fair sweep", "lr": "LR range test",
             "slice": "MNIST loss slice"}

page_header(
    "Optimizers",
    "Every optimizer here is the real `torch.optim` class, stepping a point across a 2-D loss "
    "surface (or the weights of a small MNIST network). Plain SGD follows the gradient; "
    "momentum accumulates a velocity; RMSprop, Adagrad and Adam divide each coordinate's step "
    "by a running size of its gradients.",
    [r"\text{SGD: } w \leftarrow w - \alpha g \qquad \text{momentum: } v \leftarrow \beta v + g,"
     r"\; w \leftarrow w - \alpha v",
     r"\text{Adam: } m \leftarrow \beta_1 m + (1-\beta_1) g,\; s \leftarrow \beta_2 s + "
     r"(1-\beta_2) g^2,\; w \leftarrow w - \alpha\,\frac{m/(1-\beta_1^t)}{\sqrt{s/(1-\beta_2^t)}"
     r" + \epsilon}"],
    try_this="pick the **quadratic** surface, raise **Condition number κ** to 100 and press "
    "**Set Distill's optimal α, β**: watch momentum's measured rate drop to (√κ-1)/(√κ+1) while "
    "SGD crawls at (κ-1)/(κ+1).",
)

with st.expander("Update rules of every optimizer (what torch.optim computes)"):
    st.latex(r"\text{Nesterov: } v \leftarrow \beta v + g,\; w \leftarrow w - \alpha (g + "
             r"\beta v)")
    st.latex(r"\text{RMSprop: } s \leftarrow 0.99\,s + 0.01\,g^2,\; w \leftarrow w - "
             r"\alpha\,g/(\sqrt{s}+\epsilon)")
    st.latex(r"\text{Adagrad: } s \leftarrow s + g^2,\; w \leftarrow w - \alpha\,g/"
             r"(\sqrt{s}+\epsilon)")
    st.latex(r"\text{AdamW: Adam plus } w \leftarrow w - \alpha\lambda w \text{ (decoupled "
             r"weight decay)}")

lab = url_choice("Lab", LABS, key=f"{PAGE}.lab", url_key="lab", format_func=LAB_NAMES.get)


def pick_optimizers(form: ConfigForm, key: str) -> str:
    """The optimizers as pills (kept in the form's ``optimizers`` string)."""
    try:
        current = opt.parse_optimizers(form.current("optimizers"))
    except ValueError:
        current = list(opt.OPTIMIZERS)
    chosen = st.pills("Optimizers", list(opt.OPTIMIZERS), selection_mode="multi",
                      format_func=opt.NAMES.get, default=current, key=key)
    return ",".join(chosen or [])


# ============================================================================ race


def set_distill_optimum() -> None:
    """Button callback: SGD and momentum at Distill's optimal step sizes for this κ."""
    kappa = float(st.session_state.get(f"{PAGE}.kappa", 10.0))
    th = opt.quadratic_theory(kappa)
    st.session_state[f"{PAGE}.lr_sgd"] = float(f"{th['gd_lr']:.4g}")
    st.session_state[f"{PAGE}.lr_momentum"] = float(f"{th['mom_lr']:.4g}")
    st.session_state[f"{PAGE}.lr_nesterov"] = float(f"{th['mom_lr']:.4g}")
    st.session_state[f"{PAGE}.momentum"] = round(th["mom_beta"], 2)


def surface_defaults() -> None:
    """Selectbox callback: a new surface starts at its usual start with sensible rates."""
    name = st.session_state.get(f"{PAGE}.surface", "rosenbrock")
    if name not in opt.SURFACES:
        return
    s = opt.surface(name)
    st.session_state[f"{PAGE}.x0"], st.session_state[f"{PAGE}.y0"] = s.start
    for n, lr in opt.RACE_LRS[name].items():
        st.session_state[f"{PAGE}.lr_{n}"] = lr


def race_sidebar() -> opt.RaceConfig:
    form = ConfigForm(PAGE, get_demo("optimizers"))
    with st.sidebar:
        st.header("Surface")
        surf = form.widget("surface", kind="selectbox", on_change=surface_defaults)
        if "quadratic" in surf:
            form.widget("kappa")
            st.button("Set Distill's optimal α, β", on_click=set_distill_optimum,
                      key=f"{PAGE}.distill", help="SGD at 2/(λmin+λmax); momentum and "
                      "Nesterov at (2/(√λmin+√λmax))² with β = ((√κ-1)/(√κ+1))²")
        if surf == "noisy_quadratic":
            form.widget("noise")
        form.widgets(["x0", "y0"])
        st.header("Optimizers")
        chosen = pick_optimizers(form, f"{PAGE}.pills")
        with st.expander("Learning rates", expanded=True):
            for name in opt.OPTIMIZERS:
                form.widget(f"lr_{name}", label=opt.NAMES[name])
        form.widgets(["momentum", "beta1", "beta2", "weight_decay"])
        form.widgets(["steps", "animate_s"],
                     steps=select_slider(50, 100, 200, 300, 500, 1000, 2000, 5000))
        form.run_options(title="Seed", device=False)
    if not chosen:
        st.warning("Choose at least one optimizer; until then all seven race.")
        return form.config()
    return form.config(optimizers=chosen)


@st.cache_data(show_spinner=False, max_entries=32)
def grid(name: str, kappa: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return opt.surface_grid(opt.surface(name, kappa))


def surface_figure(c: opt.RaceConfig, paths: dict[str, np.ndarray], title: str) -> go.Figure:
    s = opt.surface(c.surface, c.kappa)
    xs, ys, z = grid(c.surface, c.kappa)
    fig = go.Figure(go.Contour(x=xs, y=ys, z=np.log10(z - s.f_min + 1e-3), colorscale="Greys",
                               reversescale=True, ncontours=30, showscale=False, opacity=0.6,
                               contours={"coloring": "heatmap"},
                               hovertemplate="x %{x:.2f}, y %{y:.2f}<br>log10(f - f*) %{z:.2f}"
                                             "<extra></extra>"))
    mins = np.array(s.minima)
    fig.add_scatter(x=mins[:, 0], y=mins[:, 1], mode="markers", name="minimum",
                    marker={"symbol": "star", "size": 14, "color": "gold",
                            "line": {"width": 1, "color": "black"}})
    fig.add_scatter(x=[c.x0], y=[c.y0], mode="markers", name="start",
                    marker={"symbol": "x", "size": 11, "color": "black"})
    for name, p in paths.items():
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines", name=opt.NAMES[name],
                        line={"color": COLORS[name], "width": 2}, legendgroup=name)
        fig.add_scatter(x=p[-1:, 0], y=p[-1:, 1], mode="markers", showlegend=False,
                        legendgroup=name, marker={"color": COLORS[name], "size": 10,
                                                  "line": {"width": 1, "color": "white"}})
    fig.update_layout(title=title, height=520, margin=MARGIN, legend={"orientation": "h",
                                                                       "y": -0.1})
    fig.update_xaxes(range=[s.box[0], s.box[1]], title="x")
    fig.update_yaxes(range=[s.box[2], s.box[3]], title="y", scaleanchor="x")
    return fig


def curves_frame(series: dict[str, np.ndarray], offset: float = 0.0) -> pd.DataFrame:
    """One column per optimizer (its display name), one row per step."""
    n = max((len(v) for v in series.values()), default=0)
    df = pd.DataFrame({"step": np.arange(n)})
    for name, v in series.items():
        col = np.full(n, np.nan)
        col[:len(v)] = np.asarray(v) - offset
        df[opt.NAMES[name]] = col
    return df


def quadratic_panel(c: opt.RaceConfig, art: dict) -> None:
    th = opt.quadratic_theory(c.kappa)
    st.markdown(f"**Distill's analysis** for λ = 1 and κ = {c.kappa:g}: gradient descent "
                f"converges iff 0 < α < 2/λmax = **{th['lr_max']:.3g}**.")
    metric_row({"best GD α": f"{th['gd_lr']:.3g}", "GD rate (κ-1)/(κ+1)": f"{th['gd_rate']:.3f}",
                "best momentum α, β": f"{th['mom_lr']:.3g}, {th['mom_beta']:.3f}",
                "momentum rate (√κ-1)/(√κ+1)": f"{th['mom_rate']:.3f}"})
    rows = [{"optimizer": r["optimizer"], "α": r["lr"],
             "theory rate at this α (β)": "—" if r["theory_rate"] is None else
             f"{r['theory_rate']:.4f}",
             "measured rate": "—" if r["measured_rate"] is None else f"{r['measured_rate']:.4f}",
             "converges (theory)": {None: "—", True: "yes", False: "no"}[r["converges"]]}
            for r in art.get("analysis", [])]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{PAGE}.rates")
        st.caption("Rate = how much the distance to the minimum shrinks per step (measured as "
                   "the geometric mean over the second half of the run). Noise keeps the noisy "
                   "quadratic's measured rate near 1 once the gradient noise dominates.")


def render_race(view: RunView) -> None:
    c = view.config
    art = view.latest.artifacts if view.latest else None
    paths = art["paths"] if art else {n: np.array([[c.x0, c.y0]]) for n in c.chosen}
    title = "Press Train: the optimizers start at ✕" if art is None else (
        f"Step {view.latest.step} of {c.steps}")
    left, right = st.columns([3, 2])
    with left:
        show_chart(surface_figure(c, paths, title), key=f"{PAGE}.contour")
    with right:
        if art is None:
            s = opt.surface(c.surface, c.kappa)
            st.latex(s.formula)
            st.markdown("The contours show log10 of the loss above its minimum (gold star). "
                        "Each optimizer gets its own learning rate in the sidebar.")
            return
        s = opt.surface(c.surface, c.kappa)
        show_chart(line_chart(curves_frame(art["losses"], s.f_min),
                              [opt.NAMES[n] for n in art["losses"]], "Loss above the minimum",
                              y_title="f - f*", log_y=True, height=250,
                              colors={opt.NAMES[n]: COLORS[n] for n in art["losses"]}),
                   key=f"{PAGE}.loss_chart")
        show_chart(line_chart(curves_frame(art["grad_norms"]),
                              [opt.NAMES[n] for n in art["grad_norms"]], "Gradient norm ‖g‖",
                              y_title="‖g‖", log_y=True, height=230,
                              colors={opt.NAMES[n]: COLORS[n] for n in art["grad_norms"]}),
                   key=f"{PAGE}.grad")
        gone = [f"{opt.NAMES[n]} (step {k})" for n, k in art["diverged"].items() if k is not None]
        if gone:
            st.warning("Diverged and dropped out: " + ", ".join(gone) + ". Lower its learning "
                       "rate.")
    if c.surface in ("quadratic", "noisy_quadratic"):
        quadratic_panel(c, art)


# =========================================================================== sweep


def sweep_sidebar() -> opt.SweepConfig:
    form = ConfigForm(PAGE_SWEEP, get_demo("optimizer_sweep"), url_prefix="sweep.")
    with st.sidebar:
        st.header("Surface")
        surf = form.widget("surface", kind="selectbox")
        if "quadratic" in surf:
            form.widget("kappa")
        if surf == "noisy_quadratic":
            form.widget("noise")
        form.section("Tuning budget (the same for every optimizer)",
                     ["n_lrs", "lr_lo", "lr_hi", "n_starts", "steps", "momentum"],
                     steps=select_slider(50, 100, 200, 300, 500, 1000, 2000))
        with st.expander("Seed"):
            form.widget("seed", kind="number", help="also draws the random starts")
    return form.config()


def sweep_heatmap(table: list[dict], lrs: np.ndarray) -> go.Figure:
    df = pd.DataFrame(table)
    names = list(dict.fromkeys(df["optimizer"]))
    z = np.array([[r["auc_log10"] for r in table if r["optimizer"] == n] for n in names])
    zs = np.where(np.isfinite(z), z, np.nan)
    fig = go.Figure(go.Heatmap(z=zs, x=[f"{v:.2g}" for v in lrs], y=names, colorscale="Viridis",
                               colorbar={"title": "AUC"},
                               text=np.where(np.isfinite(z), np.round(z, 2).astype(str),
                                             "diverged"), texttemplate="%{text}",
                               hovertemplate="%{y} at lr %{x}: %{text}<extra></extra>"))
    fig.update_layout(title="Area under the log10 loss-gap curve (lower is better)", height=360,
                      margin=MARGIN, xaxis_title="learning rate", yaxis={"autorange": "reversed"})
    return fig


def render_sweep(view: RunView) -> None:
    c = view.config
    s = opt.surface(c.surface, c.kappa)
    starts = opt.random_starts(s, c.n_starts, c.seed).numpy()
    if view.latest is None or "table" not in view.latest.artifacts:
        rc = opt.RaceConfig(surface=c.surface, kappa=c.kappa)
        fig = surface_figure(rc, {}, f"{c.n_starts} random starts (press Train)")
        fig.add_scatter(x=starts[:, 0], y=starts[:, 1], mode="markers", name="starts",
                        marker={"size": 9, "color": PALETTE[3]})
        show_chart(fig, key=f"{PAGE_SWEEP}.starts")
        st.markdown(f"Each optimizer is run at **{c.n_lrs}** learning rates from "
                    f"{c.lr_lo:g} to {c.lr_hi:g} (log-spaced), from each of the **{c.n_starts}** "
                    f"starts, for **{c.steps}** steps. Its score is its best learning rate's.")
        return
    art = view.latest.artifacts
    df = pd.DataFrame(art["table"])
    best = df.loc[df.groupby("optimizer", sort=False)["auc_log10"].idxmin()].copy()
    best = best.sort_values("auc_log10")
    best.columns = ["optimizer", "best lr (by AUC)", "median final loss gap",
                    "AUC of log10 gap"]
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**Ranking** (median over starts, each at its own best learning rate)")
        st.dataframe(best, hide_index=True, key=f"{PAGE_SWEEP}.best")
    with right:
        show_chart(sweep_heatmap(art["table"], art["lrs"]), key=f"{PAGE_SWEEP}.heat")
    curves = {n: v for n, v in art["curves"].items()}
    show_chart(line_chart(curves_frame(curves), [opt.NAMES[n] for n in curves],
                          "Median loss gap at each optimizer's best learning rate",
                          y_title="f - f*", log_y=True, height=280,
                          colors={opt.NAMES[n]: COLORS[n] for n in curves}),
               key=f"{PAGE_SWEEP}.curves")
    st.caption("AUC = mean over steps of log10(f - f* + 1e-12): it rewards getting low fast, "
               "the final gap rewards where a run ends. A learning rate that diverges from any "
               "start scores as diverged for that start.")


# =============================================================================== LR


def lr_sidebar() -> opt.LrFinderConfig:
    form = ConfigForm(PAGE_LR, get_demo("lr_finder"), url_prefix="lr.")
    with st.sidebar:
        form.section("Range test (fastai defaults)",
                     ["optimizer", "start_lr", "end_lr", "num_it", "batch_size"],
                     optimizer={"kind": "selectbox", "format_func": opt.NAMES.get})
        form.section("Then a short run per suggestion", ["steps", "hidden", "momentum"],
                     steps=select_slider(50, 100, 200, 300, 500, 1000))
        form.run_options()
    return form.config()


def lr_figure(lrs: np.ndarray, losses: np.ndarray, suggest: dict[str, float]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=lrs, y=losses, mode="lines", name="smoothed loss",
                               line={"color": "black"}))
    for i, (rule, lr) in enumerate(suggest.items()):
        y = float(np.interp(np.log10(lr), np.log10(lrs), losses))
        fig.add_scatter(x=[lr], y=[y], mode="markers", name=f"{rule}: {lr:.2g}",
                        marker={"size": 12, "color": PALETTE[i + 1], "symbol": "diamond",
                                "line": {"width": 1, "color": "black"}})
    fig.update_layout(title="Loss against learning rate (range test)", height=380, margin=MARGIN,
                      xaxis={"type": "log", "title": "learning rate"},
                      yaxis_title="smoothed training loss", legend={"orientation": "h", "y": -0.2})
    return fig


def render_lr(view: RunView) -> None:
    c = view.config
    art = view.latest.artifacts if view.latest else None
    if art is None or "curve" not in art:
        st.markdown(f"The learning rate grows from **{c.start_lr:g}** to **{c.end_lr:g}** over "
                    f"**{c.num_it}** mini-batches of real MNIST digits while a 784-{c.hidden}-10 "
                    f"MLP trains with {opt.NAMES[c.optimizer]}; the test stops when the smoothed "
                    "loss exceeds 4x its minimum. Then each suggestion trains the same initial "
                    f"network for {c.steps} steps.")
        show_chart(lr_figure(np.geomspace(c.start_lr, c.end_lr, 2), np.full(2, np.nan), {}),
                   key=f"{PAGE_LR}.curve")
        return
    data_note(art.get("note"))
    lrs, losses = art["curve"]
    suggest = art.get("suggest", {})
    left, right = st.columns([3, 2])
    with left:
        show_chart(lr_figure(lrs, losses, suggest), key=f"{PAGE_LR}.curve")
    with right:
        runs = art.get("runs")
        if not runs:
            st.markdown("Range test running… the suggestions come when it stops.")
            return
        m = view.latest.metrics
        rows = [{"rule": r, "learning rate": f"{suggest[r]:.3g}",
                 "test accuracy": f"{m[f'test_acc_{r}']:.1%}" if f"test_acc_{r}" in m else "…"}
                for r in opt.RULES]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{PAGE_LR}.table")
        n = max(len(v) for v in runs.values())
        df = pd.DataFrame({"step": np.arange(1, n + 1)})
        for r, v in runs.items():
            sm = pd.Series(v).rolling(10, min_periods=1).mean().to_numpy()
            df[r] = np.concatenate([sm, np.full(n - len(v), np.nan)])
        show_chart(line_chart(df, list(runs), "Training loss with each suggestion",
                              y_title="loss (10-step mean)", log_y=True, height=280),
                   key=f"{PAGE_LR}.runs")
    st.caption("fastai's rules: *minimum* = the lowest loss's lr / 10; *steep* = where the loss "
               "falls fastest; *valley* = halfway down the longest decreasing stretch; *slide* = "
               "walk left from the end until the slope flattens. The table says which was right "
               "on this network.")


# =========================================================================== slice


def slice_sidebar() -> opt.LandscapeConfig:
    form = ConfigForm(PAGE_SLICE, get_demo("optimizer_landscape"), url_prefix="slice.")
    with st.sidebar:
        st.header("Optimizers on MNIST")
        chosen = pick_optimizers(form, f"{PAGE_SLICE}.pills")
        form.widgets(["lr_scale", "steps", "batch_size", "hidden"],
                     steps=select_slider(50, 100, 200, 300, 500, 1000, 2000))
        form.section("Slice", ["directions", "grid"])
        form.run_options()
    if not chosen:
        st.warning("Choose at least one optimizer.")
        return form.config()
    return form.config(optimizers=chosen)


def slice_figure(coords: np.ndarray, z: np.ndarray, paths: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure(go.Contour(x=coords, y=coords, z=z, colorscale="Viridis", ncontours=25,
                               colorbar={"title": "loss"},
                               hovertemplate="a %{x:.2f}, b %{y:.2f}: loss %{z:.3f}"
                                             "<extra></extra>"))
    for name, p in paths.items():
        fig.add_scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", name=opt.NAMES[name],
                        line={"color": COLORS[name], "width": 2}, marker={"size": 3})
    fig.add_scatter(x=[0], y=[0], mode="markers", name="start (common init)",
                    marker={"symbol": "x", "size": 12, "color": "white"})
    fig.update_layout(title="Training loss on the slice w₀ + a·d₁ + b·d₂", height=520,
                      margin=MARGIN, xaxis_title="a (along d₁)", yaxis_title="b (along d₂)",
                      legend={"orientation": "h", "y": -0.12})
    fig.update_yaxes(scaleanchor="x")
    return fig


def render_slice(view: RunView) -> None:
    c = view.config
    names = opt.parse_optimizers(c.optimizers)
    if view.latest is None:
        st.markdown(f"{', '.join(opt.NAMES[n] for n in names)} each train a copy of the same "
                    f"784-{c.hidden}-10 MLP from the same initial weights on the same real "
                    "MNIST batches. At the end, the loss is evaluated on a 2-D plane through the "
                    "initial weights and every optimizer's weight path is projected onto it.")
        lrs = pd.DataFrame([{"optimizer": opt.NAMES[n], "learning rate":
                             opt.MNIST_LR[n] * c.lr_scale} for n in names])
        st.dataframe(lrs, hide_index=True, key=f"{PAGE_SLICE}.lrs")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    left, right = st.columns([3, 2])
    with left:
        if "slice" in art:
            coords, z = art["slice"]
            show_chart(slice_figure(coords, z, art["paths"]), key=f"{PAGE_SLICE}.slice")
        else:
            st.info("The slice is computed when training ends.")
    with right:
        accs = {opt.NAMES[n]: f"{m[f'test_acc_{n}']:.1%}" for n in names if f"test_acc_{n}" in m}
        if accs:
            metric_row(accs)
        show_chart(line_chart(view.history, [f"loss_{n}" for n in names], "Training loss",
                              y_title="cross-entropy", height=280,
                              names={f"loss_{n}": opt.NAMES[n] for n in names},
                              colors={f"loss_{n}": COLORS[n] for n in names}),
                   key=f"{PAGE_SLICE}.loss")
    st.caption("Directions are filter-normalised (Li et al. 2018): each row of each weight "
               "matrix of d is scaled to the norm of the same row of the weights; biases get 0. "
               "Random directions in 25,000 dimensions are nearly orthogonal to every path, so "
               "paths project to short stubs there (the paper's §7); PCA directions of the "
               "paths show where they went.")


# ============================================================================ body

if lab == "race":
    run_panel(PAGE, get_demo("optimizers"), race_sidebar(), render_race,
              compare=tuple(f"loss_{n}" for n in opt.OPTIMIZERS))
elif lab == "sweep":
    run_panel(PAGE_SWEEP, get_demo("optimizer_sweep"), sweep_sidebar(), render_sweep,
              compare=tuple(f"best_auc_{n}" for n in opt.OPTIMIZERS))
elif lab == "lr":
    run_panel(PAGE_LR, get_demo("lr_finder"), lr_sidebar(), render_lr,
              compare=("smooth_loss", "test_acc"))
else:
    run_panel(PAGE_SLICE, get_demo("optimizer_landscape"), slice_sidebar(), render_slice,
              compare=("test_acc", *(f"loss_{n}" for n in opt.OPTIMIZERS)))
