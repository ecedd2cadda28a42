"""/gumbel: Gumbel-max sampling, the Gumbel-softmax relaxation, gradient estimators, and two
trainers (softmax vs Gumbel-softmax classifier; categorical VAE)."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid
from core.data import load_images
from core.registry import get_demo
from core.vision import gumbel as gb
from ui.charts import (
    MARGIN,
    PALETTE,
    data_note,
    heatmap,
    line_chart,
    page_header,
    png_bytes,
    show_chart,
)
from ui.form import select_slider
from ui.live import ConfigForm, RunView, first_paint_deferred, run_panel, url_choice

PAGE = "gumbel"
TAUS = [0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]
TAU_OPTIONS = [0.001, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0]
LABS = ("classifier", "vae")
LAB_NAMES = {"classifier": "Softmax vs Gumbel-softmax classifier", "vae": "Categorical VAE"}

page_header(
    "Gumbel-softmax",
    "How do you backpropagate through a *choice*? The **Gumbel-max trick** turns sampling a "
    "category into an argmax of noisy logits; the **Gumbel-softmax** replaces that argmax by a "
    "softmax with temperature τ, so the sample becomes a differentiable point inside the "
    "simplex. Small τ: nearly one-hot samples but wild gradients; large τ: smooth gradients of "
    "samples that are nearly uniform. **Straight-through** uses the one-hot sample forward and "
    "the soft sample's gradient backward.",
    [r"g_k = -\log(-\log u_k),\; u_k \sim U(0,1):\qquad "
     r"\arg\max_k(\log\pi_k + g_k) \sim \mathrm{Cat}(\pi)",
     r"y = \operatorname{softmax}\!\left(\frac{\log \pi + g}{\tau}\right),\qquad "
     r"y_{\text{ST}} = \operatorname{onehot}(\arg\max y) + y - \operatorname{sg}(y)"],
    try_this="set **τ** to 0.01 and then to 10 with K = 3 and watch the samples move from the "
    "corners of the triangle to its centre; then in the gradient panel see the relaxed "
    "estimator's variance explode as τ falls while its bias shrinks.",
)

# ===================================================================== sampling panel
st.subheader("1 · Sampling: Gumbel-max is exact, Gumbel-softmax is a relaxation")
c1, c2, c3 = st.columns(3)
k = c1.slider("Classes K", 3, 10, 3, key=f"{PAGE}.k")
tau = c2.select_slider("Temperature τ", TAU_OPTIONS, value=0.5, key=f"{PAGE}.tau_view",
                       format_func=lambda v: f"{v:g}")
n_draws = c3.select_slider("Draws", [100, 1000, 10000, 50000], value=10000, key=f"{PAGE}.n")
defaults = [2.0, 1.0, 0.0, -1.0, 0.5, -0.5, 1.5, -2.0, 0.0, 1.0]
cols = st.columns(min(k, 5))
logits = torch.tensor([cols[i % len(cols)].slider(f"logit {i + 1}", -5.0, 5.0, defaults[i], 0.5,
                                                  key=f"{PAGE}.logit{i}") for i in range(k)])


@st.cache_data(max_entries=64, show_spinner=False)
def sampling(logits_list: tuple, tau: float, n: int) -> dict:
    lg = torch.tensor(logits_list)
    return {"freq": gb.gumbel_max_frequencies(lg, n, seed=0),
            "p": lg.softmax(-1).numpy(),
            "soft": gb.relaxed_samples(lg, tau, 400, seed=1),
            "hard": gb.relaxed_samples(lg, tau, 400, seed=1, hard=True)}


def frequency_figure(freq: np.ndarray, p: np.ndarray, soft_mean: np.ndarray, n: int) -> go.Figure:
    x = [str(i + 1) for i in range(len(p))]
    fig = go.Figure()
    fig.add_bar(x=x, y=p, name="softmax(logits)", marker_color=PALETTE[0])
    fig.add_bar(x=x, y=freq, name=f"Gumbel-max frequency ({n:,} draws)", marker_color=PALETTE[1],
                error_y={"type": "data", "array": 2 * np.sqrt(p * (1 - p) / n), "visible": True})
    fig.add_scatter(x=x, y=soft_mean, mode="markers", name="mean of Gumbel-softmax samples",
                    marker={"symbol": "diamond", "size": 11, "color": PALETTE[2]})
    fig.update_layout(title="Class frequencies", barmode="group", height=340, margin=MARGIN,
                      xaxis_title="class", yaxis_title="probability",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def simplex_figure(soft: np.ndarray, hard: np.ndarray, tau: float) -> go.Figure:
    tri = gb.simplex_xy(np.vstack([np.eye(3), np.eye(3)[:1]]))
    xy = gb.simplex_xy(soft)
    fig = go.Figure()
    fig.add_scatter(x=tri[:, 0], y=tri[:, 1], mode="lines+text", line={"color": "black"},
                    text=["class 1", "class 2", "class 3", ""], textposition="bottom center",
                    showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"soft samples (τ = {tau:g})",
                    marker={"size": 5, "opacity": 0.5, "color": PALETTE[0]})
    counts = hard.sum(0)
    corners = gb.simplex_xy(np.eye(3))
    fig.add_scatter(x=corners[:, 0], y=corners[:, 1], mode="markers", name="hard (one-hot) samples",
                    marker={"size": 8 + 30 * counts / max(1, counts.max()), "color": PALETTE[3],
                            "opacity": 0.6}, text=[f"{int(c)} of {len(hard)}" for c in counts])
    fig.update_layout(title="Relaxed samples on the simplex", height=340, margin=MARGIN,
                      legend={"orientation": "h", "y": -0.1})
    fig.update_xaxes(visible=False, range=[-0.1, 1.1])
    fig.update_yaxes(visible=False, scaleanchor="x", range=[-0.12, 0.95])
    return fig


if first_paint_deferred():
    st.caption(":material/hourglass_top: Drawing the charts…")
else:
    s = sampling(tuple(logits.tolist()), tau, n_draws)
    left, right = st.columns(2)
    show_chart(frequency_figure(s["freq"], s["p"], s["soft"].mean(0), n_draws),
               key=f"{PAGE}.freq", where=left)
    if k == 3:
        show_chart(simplex_figure(s["soft"], s["hard"], tau), key=f"{PAGE}.simplex", where=right)
    else:
        show_chart(heatmap(s["soft"][:12], f"12 soft samples (τ = {tau:g}); rows are samples",
                           x=[str(i + 1) for i in range(k)], colorscale="Blues", zmin=0, zmax=1,
                           height=340, x_title="class", y_title="sample"),
                   key=f"{PAGE}.soft_rows", where=right)
    st.caption("The orange bars match the blue ones within their error bars for any logits: "
               "Gumbel-max samples exactly. The green diamonds (means of the soft samples) "
               "equal softmax(logits) only as τ → 0; as τ → ∞ every soft sample tends to the "
               "centre (1/K each) and forgets the logits. Hard samples are always one-hot.")

# ===================================================================== gradient panel
st.subheader("2 · Gradients: bias and variance of three estimators")
st.markdown(
    "The toy objective is $f(z) = \\lVert z - t \\rVert^2$ for a sample $z$ of the categories "
    "above and a fixed target $t$ (60% on the last class). We want "
    "$\\nabla_{\\text{logits}} \\mathbb{E}_z[f(z)]$; the exact value is known by enumerating "
    "the K outcomes, so each estimator's bias and variance are *measured* from single-sample "
    "estimates. **REINFORCE** $f(z)\\nabla\\log p(z)$ is unbiased but noisy; the **relaxed** "
    "estimator differentiates $f$ at the soft sample; **straight-through** evaluates $f$ at the "
    "hard sample and borrows the soft gradient.")
n_grad = st.select_slider("Single-sample estimates per τ", [300, 1000, 3000, 10000], value=3000,
                          key=f"{PAGE}.n_grad")


@st.cache_data(max_entries=32, show_spinner=False)
def gradient_stats(logits_list: tuple, n: int) -> dict:
    lg = torch.tensor(logits_list)
    kk = len(lg)
    target = torch.full((kk,), 0.4 / kk)
    target[-1] += 0.6
    return gb.estimator_stats(lg, target, TAUS, n=n, seed=0)


def estimator_figure(stats: dict, what: str) -> go.Figure:
    names = {"relaxed": "relaxed (Gumbel-softmax)", "straight_through": "straight-through",
             "reinforce": "REINFORCE"}
    fig = go.Figure()
    for i, e in enumerate(gb.ESTIMATORS):
        fig.add_scatter(x=stats["tau"], y=np.maximum(stats[f"{e}_{what}"], 1e-6), name=names[e],
                        mode="lines+markers", line={"color": PALETTE[i]})
    if what == "bias":
        fig.add_scatter(x=stats["tau"], y=2 * stats["relaxed_se"], name="noise floor (relaxed)",
                        mode="lines", line={"color": "grey", "dash": "dot"})
    title = ("Bias ‖E[ĝ] − ∇‖ (REINFORCE: sampling noise only)" if what == "bias"
             else "Variance tr Cov[ĝ]")
    fig.update_layout(title=title, height=320, margin=MARGIN, xaxis_title="τ",
                      legend={"orientation": "h", "y": -0.3})
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return fig


if not first_paint_deferred():
    stats = gradient_stats(tuple(logits.tolist()), n_grad)
    left, right = st.columns(2)
    show_chart(estimator_figure(stats, "bias"), key=f"{PAGE}.bias", where=left)
    show_chart(estimator_figure(stats, "var"), key=f"{PAGE}.var", where=right)
    st.caption("Measured just now from fresh samples. Small τ: the relaxation is nearly "
               "unbiased (its measured bias sinks to the dotted noise floor, two standard errors "
               "of the mean) but its variance grows like 1/τ; large τ: low variance, large bias. "
               "REINFORCE ignores τ and stays unbiased at a variance that does not shrink.")

# ===================================================================== trainers
st.subheader("3 · Train with it")
lab = url_choice("Lab", LABS, key=f"{PAGE}.lab", url_key="lab", format_func=LAB_NAMES.get)


def classifier_sidebar():
    form = ConfigForm(PAGE, get_demo("gumbel_classifier"))
    with st.sidebar:
        form.section("Classifier", ["dataset", "tau", "hard", "anneal", "tau_min", "channels",
                                    "lr", "batch_size", "steps"], dataset={"kind": "selectbox"},
                     steps=select_slider(50, 100, 200, 300, 600, 1000, 2000, 5000))
        form.run_options()
    return form.config()


def digits_preview(name: str) -> None:
    d = load_images(name, "test")
    data_note(d.note)
    st.image(png_bytes(image_grid(d.x[:16], ncol=16), 2), caption="Test images (press Train)")


def probs_figure(probs: np.ndarray) -> go.Figure:
    fig = go.Figure()
    for i, name in enumerate(("softmax model", "Gumbel model")):
        fig.add_bar(x=[str(c) for c in range(probs.shape[1])], y=probs[i], name=name,
                    marker_color=PALETTE[i])
    fig.update_layout(title="Class probabilities for test image 0", height=260, margin=MARGIN,
                      barmode="group", legend={"orientation": "h", "y": -0.3})
    return fig


def render_classifier(view: RunView) -> None:
    if view.latest is None:
        digits_preview(view.config.dataset)
        st.markdown("Two copies of the same CNN (same initial weights, same batches): one "
                    "trained with the standard softmax cross-entropy, one whose output layer "
                    "draws a Gumbel-softmax sample of the class. Press **Train**.")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    a, b, c, d = st.columns(4)
    if "test_acc" in m:
        a.metric("Softmax test accuracy", f"{m['test_acc_softmax']:.1%}")
        b.metric("Gumbel test accuracy", f"{m['test_acc']:.1%}")
        c.metric("Gumbel, sampled class", f"{m['test_acc_sampled']:.1%}")
    d.metric("τ now", f"{m['tau']:.3g}")
    left, right = st.columns(2)
    show_chart(line_chart(view.history, ["test_acc_softmax", "test_acc", "test_acc_sampled"],
                          "Held-out accuracy", y_title="accuracy",
                          names={"test_acc_softmax": "softmax", "test_acc": "Gumbel (argmax)",
                                 "test_acc_sampled": "Gumbel (sampled)"}),
               key=f"{PAGE}.acc", where=left)
    show_chart(line_chart(view.history, ["loss_softmax", "loss_gumbel"], "Training loss",
                          y_title="loss", log_y=True), key=f"{PAGE}.loss", where=right)
    with left:
        show_chart(probs_figure(art["probs"]), key=f"{PAGE}.probs")
    with right:
        st.image(png_bytes(art["image"], 1), caption="test image 0", width=120)
    st.caption("Why the softmax usually wins: the Gumbel layer trains on a *noisy* forward pass "
               "(a random class, more random the higher τ), so each step's gradient is noisier; "
               "with **hard** on, a wrong sample gives a loss of 1 whatever the margin. Its "
               "argmax predictions still learn, the sampled ones lag (how often the noise flips "
               "the class). Over 600 steps on bundled MNIST the softmax led by 1-2 points for every "
               "τ tried (soft τ = 1 came closest; τ = 0.1, hard and annealing did worse).")


def vae_sidebar():
    form = ConfigForm("gumbel_vae", get_demo("gumbel_vae"), url_prefix="vae.")
    with st.sidebar:
        form.section("Categorical VAE", ["dataset", "n_latents", "n_classes", "hidden", "tau",
                                         "tau_min", "hard", "lr", "batch_size", "steps"],
                     dataset={"kind": "selectbox"},
                     steps=select_slider(50, 200, 500, 1000, 1500, 3000, 10000))
        form.run_options()
    return form.config()


def render_vae(view: RunView) -> None:
    if view.latest is None:
        digits_preview(view.config.dataset)
        st.markdown(f"Each image is encoded as **{view.config.n_latents}** categorical "
                    f"variables of **{view.config.n_classes}** classes; τ anneals from "
                    f"{view.config.tau:g} to {view.config.tau_min:g}. Press **Train**.")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    left, right = st.columns(2)
    show_chart(line_chart(view.history, ["neg_elbo", "test_neg_elbo", "recon", "kl"],
                          "−ELBO and its parts (nats per image)", y_title="nats"),
               key="gumbel_vae.elbo", where=left)
    with right:
        st.image(png_bytes(art["recons"], 1), caption="Test images (top) and their reconstructions from the "
                 "argmax code (bottom)", width="stretch")
        st.image(png_bytes(art["samples"], 1), caption="Decoded random codes (samples of the prior)",
                 width="stretch")
    codes = art["codes"]
    show_chart(heatmap(codes, "Latent codes of the 8 test images (class of each variable)",
                       x=[str(i + 1) for i in range(codes.shape[1])],
                       y=[f"image {i + 1}" for i in range(len(codes))], colorscale="Viridis",
                       text=codes, show_scale=False, height=300, x_title="variable"),
               key="gumbel_vae.codes")
    model = view.model
    if model is not None:
        a, b = st.columns(2)
        img = a.slider("Test image", 1, len(codes), 1, key="gumbel_vae.switch_img")
        var = b.slider("Variable to switch", 1, codes.shape[1], 1, key="gumbel_vae.switch_var")
        try:
            grid = gb.switch_variable(model, codes[img - 1], var - 1)
            st.image(png_bytes(grid, 1), caption=f"Image {img}'s code with variable {var} set to each of its "
                     f"{model.n_classes} classes", width="stretch")
        except ValueError as e:  # the settings changed under a finished run
            st.warning(f"Can't switch that variable: {e}.")
    st.caption(f"τ now {m['tau']:.3g}. A good code changes one stroke or style per variable.")


if lab == LABS[0]:
    run_panel(PAGE, get_demo("gumbel_classifier"), classifier_sidebar(), render_classifier,
              compare=("test_acc", "test_acc_softmax", "loss_gumbel"))
else:
    run_panel("gumbel_vae", get_demo("gumbel_vae"), vae_sidebar(), render_vae,
              compare=("neg_elbo", "test_neg_elbo", "kl"))
