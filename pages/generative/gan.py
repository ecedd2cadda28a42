"""/gan: a DCGAN learns to draw digits live (fixed-z grid, losses, FID, latent walks), and a 2-D
mode-collapse lab (ring / grid of Gaussians, D's decision surface, generator motion, modes)."""

import time
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import gif_bytes, image_grid, to_uint8_image
from core.engine import RunState
from core.generative import gan, ssgan
from core.registry import get_demo
from ui.charts import (
    MARGIN,
    PALETTE,
    VegaLite,
    bar_chart,
    data_note,
    line_chart,
    metric_row,
    page_header,
    plain,
    show_chart,
    show_image,
)
from ui.form import DATASET, select_slider
from ui.live import ConfigForm, RunView, run_panel, session_runs, url_choice
from ui.uploads import image_zip_uploader, upload_preview

PAGE = "gan"
PAGE_2D = "gan2d"
PAGE_SS = "ssgan"
WALK_EVERY_S = 6.0  # while training, the latent walk is redrawn at most this often (s)
LABS = ("dcgan", "2d", "ssgan")  # ?lab=2d opens the mode-collapse lab, ?lab=ssgan the SSGAN
LAB_NAMES = {"dcgan": "Images (DCGAN)", "2d": "2-D mode-collapse lab",
             "ssgan": "Semi-supervised GAN"}
FASHION_SURE, FASHION_FLOOR = "59%", "about 2"  # assets/train_classifier.py --dataset fashion_mnist

page_header(
    "GAN: generative adversarial networks",
    "A **generator** G turns random vectors z into images; a **discriminator** D tries to tell "
    "them from real ones. Each trains against the other: D learns what real digits look like, "
    "G learns to fool D. Below, the 64 samples come from the *same* fixed z's at every step, so "
    "you watch them turn from noise into digits. The FID curve measures how close the samples "
    "are to real digits (lower is better; two real samples differ by about 4-8).",
    [r"\min_G \max_D \; \mathbb{E}_{x\sim p_{\text{data}}}[\log D(x)] + "
     r"\mathbb{E}_{z\sim \mathcal{N}(0, I)}[\log(1 - D(G(z)))]",
     r"\text{non-saturating: } \mathcal{L}_G = -\mathbb{E}_z[\log D(G(z))], \qquad "
     r"\text{FID} = \lVert \mu_r - \mu_g \rVert^2 + "
     r"\operatorname{Tr}\!\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big)"],
    try_this="in the **2-D mode-collapse lab**, train the ring with the defaults (all 8 modes), "
    "then set **Loss** to *minimax* or the **Discriminator learning rate** 10x lower than G's and "
    "watch the purple points gather on a few modes while *modes covered* drops.",
)

lab = url_choice("Lab", LABS, key=f"{PAGE}.lab", url_key="lab", format_func=LAB_NAMES.get)


# ================================================================== DCGAN on images


def dcgan_sidebar() -> tuple[gan.GanConfig, str]:
    """The DCGAN's config and the data set chosen in the sidebar (which the config only has
    once it can be trained: ``upload`` needs a zip first)."""
    form = ConfigForm(PAGE, get_demo("gan"))
    with st.sidebar:
        st.header("Data")
        dataset = form.widget("dataset", **DATASET)
        upload_id = ""
        if dataset == "upload":
            upload_id, _ = image_zip_uploader(PAGE, size=gan.UPLOAD_SIZE, channels=3,
                                              by_folder=False)
            st.caption(f"All your images train the GAN (at least {gan.MIN_UPLOAD}; a few "
                       "hundred of one kind of thing work best).")
        form.section("Networks", ["latent_dim", "g_channels", "d_channels"])
        form.section("Training", ["loss", "lr_g", "lr_d", "beta1", "batch_size", "d_steps",
                                  "label_smoothing", "diffaugment", "ema", "steps"],
                     steps=select_slider(200, 500, 1000, 2000, 3000, 5000, 10000, 20000))
        form.run_options()
    return form.config(upload=upload_id), dataset


@st.cache_data(show_spinner=False, max_entries=8)
def dcgan_preview(dataset: str, upload: str) -> tuple[np.ndarray, str | None, int, str]:
    """The grid of the first training images, the data note, the number of training images and
    the set's name (raises :class:`UploadError` for an unusable upload)."""
    grid, train = gan.data_preview(dataset, upload=upload)
    return grid, train.note, len(train), train.name


def dcgan_data_preview(dataset: str, upload: str) -> None:
    """What the DCGAN view shows before a run: real training images, or what to upload."""
    shown = upload_preview(dataset, upload, dcgan_preview, dataset, upload,
                           size=gan.UPLOAD_SIZE, by_folder=False, at_least=gan.MIN_UPLOAD)
    if shown is None:
        return
    grid, note, n, name = shown
    data_note(note)
    st.markdown(f"**Real training images** ({n} from {name}). Press **Train**: the generator "
                "starts from noise and learns to draw images like these.")
    show_image(grid, width=420)


def walk_section(view: RunView) -> None:
    """Latent walks on the frozen generator copy of the latest snapshot."""
    G = view.model
    z_fixed = torch.from_numpy(view.latest.artifacts["z_fixed"])
    st.subheader("Latent walk")
    st.caption("Pick two samples of the grid (numbered 1-64, row by row) or two seeds and walk "
               "between their z's. Spherical interpolation (slerp) keeps z at the typical "
               "length of a Gaussian sample; linear (lerp) shrinks it in the middle, which often "
               "gives fainter, blurrier digits there.")
    a, b, c, d = st.columns(4)
    source = a.radio("Endpoints", ["grid samples", "seeds"], key=f"{PAGE}.walk_src")
    if source == "grid samples":
        i = b.number_input("Sample A", 1, gan.N_FIXED, 1, key=f"{PAGE}.walk_a")
        j = c.number_input("Sample B", 1, gan.N_FIXED, 2, key=f"{PAGE}.walk_b")
        z0, z1 = z_fixed[int(i) - 1], z_fixed[int(j) - 1]
    else:
        s0 = b.number_input("Seed A", 0, 10**6, 1, key=f"{PAGE}.walk_s0")
        s1 = c.number_input("Seed B", 0, 10**6, 2, key=f"{PAGE}.walk_s1")
        z0 = gan.seed_latent(s0, z_fixed.shape[1])
        z1 = gan.seed_latent(s1, z_fixed.shape[1])
    mode = d.radio("Interpolation", ["slerp", "lerp"], key=f"{PAGE}.walk_mode")
    t = st.slider("t (0 = A, 1 = B)", 0.0, 1.0, 0.5, 0.05, key=f"{PAGE}.walk_t")
    here = st.container()  # filled below, once the axis is known too
    st.markdown("**Walk along one latent axis** (start from sample A, vary one coordinate of z "
                "from -3 to +3 standard deviations):")
    axis = st.slider("Latent axis", 0, z_fixed.shape[1] - 1, 0, key=f"{PAGE}.walk_axis")
    below = st.container()
    # the page polls every second and a new model copy comes every 2 s: while training, the
    # walk follows the copies at most every WALK_EVERY_S (at once when a control changes)
    key = (z0.numpy().tobytes(), z1.numpy().tobytes(), mode, t, axis)
    memo = st.session_state.get(f"{PAGE}.walk_memo")
    if (memo is None or memo["key"] != key or memo["G"] is not G
            and (not view.alive or time.monotonic() - memo["time"] >= WALK_EVERY_S)):
        memo = {"key": key, "G": G, "time": time.monotonic(),
                "images": walk_images(G, z0, z1, mode, t, axis)}
        st.session_state[f"{PAGE}.walk_memo"] = memo
    img = memo["images"]
    left, mid, right = here.columns([1, 1, 3])
    with left:
        show_image(img["z_t"], caption=img["z_t_caption"])
    mid.image(img["gif"], caption="animated walk A → B → A", width="stretch")
    with right:
        show_image(img["walk"], caption=f"{mode} from A (left) to B (right), 11 steps")
    with below:
        show_image(img["axis"], caption=f"z[{axis}] = -3 … +3; one axis rarely means one thing "
                   "(the code is entangled)")


def walk_images(G: torch.nn.Module, z0: torch.Tensor, z1: torch.Tensor, mode: str, t: float,
                axis: int) -> dict:
    """The latent-walk pictures: ``G(z_t)``, the animated walk (GIF bytes), the 11-step walk and
    the walk along one axis (uint8 images)."""
    frames = gan.latent_walk(G, z0, z1, n=11, mode=mode)
    z_t = gan.interpolate(z0, z1, t, mode)
    frames_u8 = np.stack([to_uint8_image(f) for f in frames])
    return {"z_t": to_uint8_image(gan.generate(G, z_t[None])[0]),
            "z_t_caption": f"G(z) at t = {t:.2f} (|z| = {float(z_t.norm()):.1f})",
            "gif": gif_bytes(frames_u8, scale=4, boomerang=True),
            "walk": image_grid(frames, ncol=11),
            "axis": image_grid(gan.axis_walk(G, z0, axis, torch.linspace(-3, 3, 11)), ncol=11)}


def class_hist_figure(hist: np.ndarray, classes: list[str], digits: bool) -> VegaLite:
    what = "digit" if digits else "class"
    return bar_chart(classes, hist * 100, f"Which {what} the classifier sees in 500 samples",
                     x_title=f"predicted {what}", y_title="% of samples",
                     rule=(10, "uniform (10%)"))


def render_dcgan(view: RunView, dataset: str, upload: str) -> None:
    """The DCGAN view; ``dataset`` and ``upload``: the set chosen in the sidebar and the id of
    the uploaded images (previewed before a run)."""
    if view.latest is None:
        dcgan_data_preview(dataset, upload)
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("data_note"))
    if art.get("metrics_note"):
        st.info(plain(art["metrics_note"]), icon=":material/info:")
    classes = art.get("classes") or [str(i) for i in range(10)]
    digits = classes[0] == "0"
    sure = "sure digits" if digits else "sure items"
    if view.latest.step > 0 and m.get("d_real", 0) > 0.99 and m.get("d_fake", 1) < 0.01:
        st.warning("D wins outright (D(x) ≈ 1, D(G(z)) ≈ 0): G's gradient is vanishing. Lower "
                   "the discriminator's learning rate or use the non-saturating loss.")
    left, right = st.columns([2, 3])
    with left:
        show_image(art["samples"], caption=f"G(z) for 64 fixed z's at step {view.latest.step}")
    with right:
        fid = view.history["fid"].dropna() if "fid" in view.history else []
        tiles = {"FID ↓": f"{fid.iloc[-1]:.1f}" if len(fid) else "…"}
        if "confident_share" in view.history:
            cs = view.history["confident_share"].dropna()
            tiles[sure] = f"{cs.iloc[-1]:.0%}" if len(cs) else "…"
        if "d_real" in m:
            tiles["mean D(x)"] = f"{m['d_real']:.2f}"
            tiles["mean D(G(z))"] = f"{m['d_fake']:.2f}"
        metric_row(tiles, helps={
            "sure digits": "Share of 500 samples that the MNIST classifier labels as one digit "
                           "with probability above 0.9. Real test digits: about 91%; noise: 0%.",
            "sure items": "Share of 500 samples that the Fashion-MNIST classifier labels as one "
                          f"class with probability above 0.9. Real test images: about "
                          f"{FASHION_SURE}; noise: 0%.",
            "FID ↓": "Lower is better: the Fréchet distance between the data set's classifier "
                     "features of 500 samples and of real test images; two real sets score "
                     f"about 4-8 (digits) or {FASHION_FLOOR} (Fashion-MNIST)."})
        show_chart(line_chart(view.history, ["loss_d", "loss_g"], "Losses of D and G",
                              y_title="loss", height=230,
                              names={"loss_d": "D loss", "loss_g": "G loss"}),
                   key=f"{PAGE}.losses")
        show_chart(line_chart(view.history, ["d_real", "d_fake"], "What D says",
                              y_title="mean D output (0 fake … 1 real)", height=230,
                              names={"d_real": "D(x), real", "d_fake": "D(G(z)), fake"}),
                   key=f"{PAGE}.dout")
    a, b = st.columns(2)
    with a:
        if "fid" in view.history:
            show_chart(line_chart(view.history, ["fid"], "Classifier-FID of 500 samples vs "
                                  "1,000 real test images", y_title="FID", log_y=True,
                                  height=280, names={"fid": "FID"}), key=f"{PAGE}.fid")
        else:
            st.caption("FID needs a classifier of this data set's images (MNIST and "
                       "Fashion-MNIST have one here), so it is not computed for this set.")
    with b:
        if "class_hist" in art:
            show_chart(class_hist_figure(art["class_hist"], classes, digits),
                       key=f"{PAGE}.hist")
    if view.model is not None:
        walk_section(view)


# ================================================================== 2-D lab


def lab_sidebar() -> gan.Gan2dConfig:
    form = ConfigForm(PAGE_2D, get_demo("gan2d"))
    with st.sidebar:
        form.section("Target", ["target"], target={"format_func": {
            "ring8": "ring of 8", "grid25": "grid of 25"}.get})
        form.section("Training", ["loss", "lr_g", "lr_d", "d_steps", "beta1", "batch_size",
                                  "label_smoothing", "steps"],
                     steps=select_slider(200, 500, 1000, 1500, 2000, 3000, 5000, 10000, 20000))
        form.section("Networks", ["latent_dim", "g_hidden", "d_hidden"])
        form.run_options()
    return form.config()


def lab_figure(art: dict | None, target: str, show: dict[str, bool], title: str) -> go.Figure:
    modes, sigma = gan.target_modes(target)
    ext = gan.extent(target)
    fig = go.Figure()
    if art is not None and show["heatmap"]:
        xs = np.linspace(-ext, ext, gan.GRID_RES)
        fig.add_heatmap(z=art["d_map"], x=xs, y=xs[::-1], colorscale="PRGn", zmin=0, zmax=1,
                        opacity=0.55, colorbar={"title": "D(x)", "len": 0.8},
                        hovertemplate="D = %{z:.2f}<extra></extra>")
    real = art["real"] if art is not None else gan.target_preview(target)
    fig.add_scatter(x=real[:, 0], y=real[:, 1], mode="markers", name="real data",
                    marker={"color": "#2ca02c", "size": 4, "opacity": 0.7})
    if art is not None:
        fake = art["fake"]
        if show["trails"] and len(art["trail"]):
            path = np.concatenate([art["trail"], fake[None]], 0)  # (T+1, N, 2)
            xs_, ys_ = [], []
            for k in range(0, path.shape[1], 2):
                xs_ += list(path[:, k, 0]) + [None]
                ys_ += list(path[:, k, 1]) + [None]
            fig.add_scatter(x=xs_, y=ys_, mode="lines", name="recent path of G(z)",
                            line={"color": "rgba(148,103,189,0.45)", "width": 1})
        if show["arrows"]:
            g = art["grad"] * ext * 0.12
            xs_, ys_ = [], []
            for k in range(0, len(fake), 2):
                xs_ += [fake[k, 0], fake[k, 0] + g[k, 0], None]
                ys_ += [fake[k, 1], fake[k, 1] + g[k, 1], None]
            fig.add_scatter(x=xs_, y=ys_, mode="lines", name="push from G's loss (−∇ₓ L_G)",
                            line={"color": "#d62728", "width": 1})
        fig.add_scatter(x=fake[:, 0], y=fake[:, 1], mode="markers", name="generated G(z)",
                        marker={"color": "#9467bd", "size": 4})
    th = np.linspace(0, 2 * np.pi, 40)
    xs_, ys_ = [], []
    for mx, my in modes:
        xs_ += list(mx + 3 * sigma * np.cos(th)) + [None]
        ys_ += list(my + 3 * sigma * np.sin(th)) + [None]
    fig.add_scatter(x=xs_, y=ys_, mode="lines", name="3σ around each mode",
                    line={"color": "black", "width": 1})
    fig.update_layout(title=title, height=520, margin=MARGIN, xaxis_title="x₁", yaxis_title="x₂",
                      legend={"orientation": "h", "y": -0.12})
    fig.update_xaxes(range=[-ext, ext])
    fig.update_yaxes(range=[-ext, ext], scaleanchor="x")
    return fig


def per_mode_figure(per_mode: np.ndarray) -> go.Figure:
    fig = go.Figure(go.Bar(x=[str(i + 1) for i in range(len(per_mode))], y=per_mode,
                           marker_color=PALETTE[4]))
    fair = gan.N_EVAL_2D / len(per_mode)
    fig.add_hline(y=fair, line_dash="dot", annotation_text="fair share")
    fig.add_hline(y=gan.MIN_SHARE * fair, line_dash="dash", line_color="red",
                  annotation_text="covered above this")
    fig.update_layout(title=f"High-quality samples per mode (of {gan.N_EVAL_2D:,})", height=250,
                      margin=MARGIN, xaxis_title="mode", yaxis_title="samples")
    return fig


def render_lab(view: RunView) -> None:
    c = view.config
    a, b, d = st.columns(3)
    show = {"heatmap": a.toggle("D's decision surface", True, key=f"{PAGE_2D}.show_heat"),
            "arrows": b.toggle("G's gradient arrows", True, key=f"{PAGE_2D}.show_arrows"),
            "trails": d.toggle("Trails of G(z)", True, key=f"{PAGE_2D}.show_trails")}
    art = view.latest.artifacts if view.latest else None
    left, right = st.columns([3, 2])
    title = "Target (press Train)" if art is None else f"Step {view.latest.step}"
    with left:
        show_chart(lab_figure(art, c.target, show, title), key=f"{PAGE_2D}.plane")
    with right:
        if view.latest is None:
            st.markdown("Green: samples of the target distribution. Circles: 3σ around each mode "
                        "(a generated point inside one is *high quality*). Press **Train**.")
            return
        m = view.latest.metrics
        k = len(art["per_mode"])
        metric_row({"modes covered": f"{int(m['modes_covered'])} / {k}",
                    "high quality": f"{m['high_quality']:.0%}",
                    "mean D(G(z))": f"{m['d_fake']:.2f}" if "d_fake" in m else "…"})
        show_chart(per_mode_figure(art["per_mode"]), key=f"{PAGE_2D}.per_mode")
        show_chart(line_chart(view.history, ["modes_covered"], "Modes covered",
                              y_title=f"of {k}", height=200), key=f"{PAGE_2D}.modes")
        show_chart(line_chart(view.history, ["loss_d", "loss_g"], "Losses", y_title="loss",
                              height=220), key=f"{PAGE_2D}.losses")
    st.caption("Red arrows: the direction G's loss pushes each generated point (longest = "
               "largest push); purple lines: where those points were a moment ago. A sample is "
               "*high quality* within 3σ of a mode; a mode is *covered* when it holds at least a "
               "fifth of its fair share of the high-quality samples (Metz et al. 2017, "
               "Srivastava et al. 2017).")


# ================================================================== semi-supervised GAN


def ssgan_sidebar() -> ssgan.SsganConfig:
    form = ConfigForm(PAGE_SS, get_demo("ssgan"))
    with st.sidebar:
        form.section("Labels", ["dataset", "labels_per_class", "augment"], dataset=DATASET,
                     labels_per_class=select_slider(1, 2, 3, 5, 10, 20, 50, 100))
        form.section("Semi-supervised loss", ["unsup_weight", "feature_matching"])
        form.section("GAN", ["lr_d", "lr_g", "beta1", "batch_size", "latent_dim", "hidden",
                             "ema_decay", "steps"],
                     steps=select_slider(100, 300, 500, 1000, 1500, 2000, 3000, 5000, 10000))
        form.run_options()
    return form.config()


def confusion_figure(conf: np.ndarray, classes: list[str], title: str) -> go.Figure:
    share = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(z=share * 100, x=classes, y=classes, colorscale="Blues", zmin=0,
                               zmax=100, text=conf, texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, height=360, margin=MARGIN, xaxis_title="predicted",
                      yaxis_title="true", yaxis={"autorange": "reversed"})
    return fig


def simclr_probe(dataset: str, labels_per_class: int) -> float | None:
    """The linear-probe accuracy with ``labels_per_class`` labels of this session's latest
    finished SimCLR run on ``dataset`` (its few-label evaluation), or None."""
    for run in reversed(session_runs().runs("simclr")):
        if run.state != RunState.DONE or getattr(run.config, "dataset", None) != dataset:
            continue
        _, latest = run.view()
        value = latest.metrics.get(f"probe_acc_k{labels_per_class}") if latest else None
        if value is not None:
            return float(value)
    return None


def render_ssgan(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        st.markdown(f"**{c.labels_per_class} labelled image(s) per class** are all the labels "
                    "the discriminator gets; every other training image is used without its "
                    "label. Press **Train**: the SSGAN's discriminator (real classes + fake) and "
                    "the same network trained on the labels alone learn side by side.")
        grid, train = gan.data_preview(c.dataset, n=40)
        data_note(train.note)
        show_image(grid, width=420, caption="some training images (their labels are hidden)")
        return
    art, h = view.latest.artifacts, view.history
    data_note(art.get("data_note"))
    acc = h["test_acc"].dropna() if "test_acc" in h else []
    base = h["base_test_acc"].dropna() if "base_test_acc" in h else []
    tiles = {"SSGAN held-out accuracy": f"{acc.iloc[-1]:.1%}" if len(acc) else "…",
             "labels-only network": f"{base.iloc[-1]:.1%}" if len(base) else "…"}
    if len(acc) and len(base):
        tiles["gain from unlabelled data"] = f"{(acc.iloc[-1] - base.iloc[-1]) * 100:+.1f} pts"
    simclr = simclr_probe(c.dataset, c.labels_per_class)
    if simclr is not None:
        tiles["SimCLR probe (your run)"] = f"{simclr:.1%}"
    metric_row(tiles, helps={"labels-only network": "the same discriminator architecture, "
                             "same initial weights, trained on the same labelled batches with "
                             "the cross-entropy alone, one step per SSGAN step; "
                             "both are scored on the moving average of their weights",
                             "SimCLR probe (your run)": "the few-label evaluation of your "
                             "latest finished SimCLR run on the same data: a linear probe on "
                             "its frozen features with the same number of labels per class "
                             "(another way to use the unlabelled images)"})
    if simclr is None:
        st.caption("Finish a run on the **SimCLR** page (same data, with its few-label "
                   f"evaluation) to see its linear probe with {c.labels_per_class} label(s) per "
                   "class here too; it measures 1, 5, 10, 50 and 100.")
    left, right = st.columns(2)
    with left:
        show_chart(line_chart(h, ["test_acc", "base_test_acc"], "Held-out accuracy",
                              y_title="accuracy", height=260,
                              names={"test_acc": "SSGAN discriminator",
                                     "base_test_acc": "labels only"}), key=f"{PAGE_SS}.acc")
        show_chart(line_chart(h, ["loss_sup", "loss_unsup", "loss_base"], "Losses",
                              y_title="nats", height=230, log_y=True,
                              names={"loss_sup": "SSGAN L_sup", "loss_unsup": "SSGAN L_unsup",
                                     "loss_base": "labels-only L_sup"}), key=f"{PAGE_SS}.loss")
    with right:
        show_image(art["samples"], caption=f"G(z) for 64 fixed z's at step {view.latest.step}: "
                   "with feature matching G is trained to match D's features, not to look "
                   "good, so its samples stay rough while D's accuracy climbs")
    classes = art.get("classes") or [str(i) for i in range(10)]
    if "confusion" in art:
        a, b = st.columns(2)
        with a:
            show_chart(confusion_figure(art["confusion"], classes, "SSGAN discriminator: "
                                        "confusion matrix"), key=f"{PAGE_SS}.conf")
        with b:
            show_chart(confusion_figure(art["base_confusion"], classes, "Labels only: "
                                        "confusion matrix"), key=f"{PAGE_SS}.conf_base")
    with st.expander("The labelled images (all the labels either network gets)"):
        show_image(art["labelled"], width=420)


# ================================================================== page body

if lab == "ssgan":
    st.markdown(
        "**Semi-supervised GAN** (Salimans et al. 2016): the discriminator is a classifier with "
        "K real classes plus one *fake* class. Labelled images teach it the classes; unlabelled "
        "real images only have to land in *some* real class, and G's samples in *fake*. "
        "Telling real from fake forces features that also separate the classes, so a handful "
        "of labels goes further. With **feature matching** G does not try to fool D directly: "
        "it matches the average of D's last hidden features on real data.")
    st.latex(r"p(y{=}k\mid x) = \frac{e^{l_k(x)}}{Z(x) + 1},\; Z(x) = \sum_{k=1}^{K} "
             r"e^{l_k(x)},\; D(x) = \frac{Z(x)}{Z(x)+1}")
    st.latex(r"\mathcal{L}_D = \underbrace{-\mathbb{E}_{x,y}\log p(y\mid x, y\le K)}_"
             r"{\text{labelled}} \;+\; w\,\underbrace{\big(-\mathbb{E}_{x}\log D(x) - "
             r"\mathbb{E}_z \log(1 - D(G(z)))\big)}_{\text{unlabelled + generated}},\quad "
             r"\mathcal{L}_G = \big\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) "
             r"\big\rVert^2")
    st.markdown("**Try this:** train with 10 labels per class, then set **Unsupervised loss "
                "weight** to 0 (a plain classifier on the labels) and watch the SSGAN's "
                "held-out accuracy fall back to the labels-only curve; or slide **Labels per "
                "class** to 1 and 100 and compare the gap. **Random shifts** (2 px by default, "
                "for both networks) are worth several points to each: set them to 0 and "
                "compare runs.")
    cfg_ss = ssgan_sidebar()
    run_panel(PAGE_SS, get_demo("ssgan"), cfg_ss, render_ssgan,
              compare=("test_acc", "base_test_acc", "loss_sup", "loss_unsup"),
              defer_first_paint=False)  # its preview is images only
elif lab == LABS[0]:
    cfg, chosen = dcgan_sidebar()
    run_panel(PAGE, get_demo("gan"), cfg,
              partial(render_dcgan, dataset="upload" if chosen == "upload" else cfg.dataset,
                      upload=cfg.upload),
              compare=("fid", "loss_d", "loss_g", "confident_share"),
              defer_first_paint=False)  # its preview is images only
else:
    with st.expander("What changes collapse", expanded=False):
        st.markdown(
            "* **Loss**: *minimax* saturates when D is confident, so G gets almost no gradient "
            "and drifts to whatever D currently likes; *non-saturating*, *hinge* and *WGAN-GP* "
            "keep pushing.\n"
            "* **Learning-rate ratio**: a D much slower than G lets G chase D's current "
            "favourite region (modes hop); a D much faster makes G's gradient vanish.\n"
            "* **D steps per G step**: more D steps give G a better-informed gradient (WGAN "
            "uses 5), at the cost of time.\n"
            "* The **grid of 25** is much harder than the ring: modes 2 apart with σ = 0.05 "
            "leave little room, and plain GANs rarely place samples within 3σ of more than a "
            "few modes. Here the defaults cover 0-2 of 25 after 1,500-4,000 steps, and WGAN-GP "
            "with 5 D steps does no better. Try **batch 512**, **widths 128**, both learning "
            "rates **1e-3** and **5000 steps** (about 30 s here): 20-47% of the samples land "
            "within 3σ of a mode, on 8-9 of the 25 with latent dimension 16 and on 12-18 with "
            "latent dimension **2** (seeds 0 and 1) — partial mode collapse you can watch. "
            "Srivastava et al. (VEEGAN, 2017) report 3.3 of 25 for a standard GAN and 24.6 for "
            "the Unrolled GAN, a method built against mode collapse.")
    cfg2 = lab_sidebar()
    run_panel(PAGE_2D, get_demo("gan2d"), cfg2, render_lab,
              compare=("modes_covered", "high_quality", "loss_d", "loss_g"))
