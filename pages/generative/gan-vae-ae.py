"""/gan-vae-ae: a GAN, a VAE and a plain autoencoder trained on the same batches for the same
time, side by side: samples, FID, "sure" share, reconstructions and a memorisation check."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.blocks.images import image_grid
from core.data import load_images
from core.generative import compare as C
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, data_note, line_chart, page_header, plain, show_chart, show_image
from ui.form import DATASET, select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE, DEMO = "gan-vae-ae", get_demo("gan_vae_ae")
NAMES = {"ae": "Autoencoder", "vae": "VAE", "gan": "GAN"}
COLORS = {"ae": PALETTE[0], "vae": PALETTE[1], "gan": PALETTE[2], "test": "#555555"}

page_header(
    "GAN vs VAE vs autoencoder",
    "Three ways to get a decoder that turns a vector z into an image, trained here on the "
    "**same mini-batches** for the **same number of seconds each**, with the same decoder "
    "network. The **autoencoder** only learns to rebuild its inputs; the **VAE** also pulls its "
    "codes towards N(0, I); the **GAN** never sees a code of a real image: its generator learns "
    "only from a discriminator's verdicts. Which one *generates* (samples from z ~ N(0, I) that "
    "look real: FID, \"sure\" share), and which one *generalises* (rebuilds held-out images, "
    "makes new images rather than copies of its training set)?",
    [r"\text{AE: } \min\; \mathbb{E}_x\big[-\log p(x \mid z{=}e(x))\big] \qquad "
     r"\text{VAE: } \min\; \mathbb{E}_x\big[\mathbb{E}_{q(z\mid x)}[-\log p(x\mid z)] + "
     r"\mathrm{KL}(q(z\mid x)\,\|\,\mathcal{N}(0,I))\big]",
     r"\text{GAN: } \min_G \max_D\; \mathbb{E}_x[\log D(x)] + \mathbb{E}_{z\sim\mathcal{N}(0,I)}"
     r"[\log(1 - D(G(z)))] \qquad \text{memorisation: } d(s) = \min_{x \in \text{train}} "
     r"\lVert s - x \rVert_2"],
    try_this="train with **Latent dimension** 16, then 2 and 64 (the compare view below plots "
    "FID across runs): with 2 numbers the AE and VAE blur and the GAN loses variety; with 64 the "
    "autoencoder's samples from N(0, I) turn to noise, because nothing made its codes fill N(0, I).",
)

form = ConfigForm(PAGE, DEMO)
form.widget("latent_dim", kind="select_slider", options=[2, 4, 8, 16, 32, 64, 128])
with st.sidebar:
    form.section("Data", ["dataset"], dataset=DATASET)
    form.section("Budget", ["seconds"], seconds=select_slider(5, 10, 20, 30, 60, 120, 300, 600))
    form.section("Networks and training", ["channels", "batch_size", "lr", "lr_g", "lr_d"])
    form.run_options()
cfg = form.config()
if cfg.batches:  # from a downloaded run's command or link
    st.info(plain(f"This run trains exactly {cfg.batches} batches (AE, VAE, GAN), as the run "
                  "it repeats did, instead of the time budget."), icon=":material/replay:")


@st.cache_data(show_spinner=False, max_entries=4)
def preview(dataset: str) -> tuple[np.ndarray, str | None, int, int]:
    tr, te = load_images(dataset, "train"), load_images(dataset, "test")
    return image_grid(tr.x[:32], ncol=8), tr.note, len(tr), len(te)


def table(m: dict) -> pd.DataFrame:
    """One row per model: the latest value of each metric (blank where it does not exist)."""
    rows = {}
    for k in C.MODELS:
        rows[NAMES[k]] = {
            "FID ↓": m.get(f"fid_{k}"), "sure share ↑": m.get(f"sure_{k}"),
            "held-out recon (nats) ↓": m.get(f"recon_{k}"),
            "mean distance to nearest training image": m.get(f"nn_dist_{k}"),
            "batches seen": m.get(f"steps_{k}")}
    rows["Held-out real images"] = {"mean distance to nearest training image":
                                    m.get("nn_dist_test")}
    return pd.DataFrame(rows).T


def nn_figure(art: dict) -> go.Figure:
    """Histograms of nearest-training-image distances: samples of each model vs held-out."""
    fig = go.Figure()
    for k in (*C.MODELS, "test"):
        if f"nn_{k}" in art:
            fig.add_histogram(x=art[f"nn_{k}"], name=NAMES.get(k, "held-out real images"),
                              opacity=0.6, marker_color=COLORS[k], nbinsx=30)
    fig.update_layout(barmode="overlay", height=300, margin=MARGIN,
                      title="Distance to the nearest training image (100 each)",
                      xaxis_title="L2 distance in pixel space", yaxis_title="count")
    return fig


def latest(view: RunView, key: str) -> float | None:
    h = view.history
    if key not in h:
        return None
    s = h[key].dropna()
    return float(s.iloc[-1]) if len(s) else None


def render(view: RunView) -> None:
    if view.latest is None:
        img, note, n_tr, n_te = preview(view.config.dataset)
        data_note(note)
        st.markdown(f"**{n_tr:,}** training and **{n_te:,}** held-out images; all three models "
                    "see the same batches of the training images. Some of them:")
        show_image(img, width=420)
        st.caption("Press **Train**: each model trains for the chosen seconds; samples, FID, "
                   "reconstructions and the memorisation check appear and update here.")
        return
    art = view.latest.artifacts
    data_note(art.get("data_note"))
    if art.get("fid_note"):
        st.info(plain(art["fid_note"]), icon=":material/info:")
    m = {k: latest(view, k) for k in view.history.columns}
    st.dataframe(table(m), width="stretch", column_config={
        "FID ↓": st.column_config.NumberColumn(format="%.1f"),
        "sure share ↑": st.column_config.NumberColumn(format="percent"),
        "held-out recon (nats) ↓": st.column_config.NumberColumn(format="%.1f"),
        "mean distance to nearest training image": st.column_config.NumberColumn(format="%.2f"),
        "batches seen": st.column_config.NumberColumn(format="%d")})
    st.subheader("Samples from z ~ N(0, I)")
    cols = st.columns(3)
    for col, k in zip(cols, C.MODELS):
        with col:
            if f"samples_{k}" in art:
                show_image(art[f"samples_{k}"], caption={
                    "ae": "Autoencoder: decodes N(0, I), which it never trained for",
                    "vae": "VAE: decodes its prior N(0, I)",
                    "gan": "GAN: G(z), z ~ N(0, I)"}[k])
    if "fid_ae" in view.history:
        show_chart(line_chart(view.history, [f"fid_{k}" for k in C.MODELS],
                              "Classifier-FID of 500 samples vs held-out images (lower is better)",
                              y_title="FID", log_y=True, height=260,
                              names={f"fid_{k}": NAMES[k] for k in C.MODELS}), key=f"{PAGE}.fid")
    render_recon_and_memo(art)


def render_recon_and_memo(art: dict) -> None:
    if "recon" in art:
        st.subheader("Reconstructions of held-out images")
        a, b = st.columns([3, 2])
        with a:
            show_image(art["recon"], caption="rows: held-out input, autoencoder, VAE")
        with b:
            st.markdown("**GAN: none.** A GAN has no encoder: nothing maps an image back to "
                        "its z, so it cannot rebuild a given image. (Finding a z with G(z) ≈ x "
                        "takes an optimisation per image, and often there is none.)")
    if "memo_test" in art and "memo_ae" in art:
        st.subheader("Memorisation check")
        st.markdown("Each sample's **nearest training image** (exact search over the whole "
                    "training set, pixel-space distance). Held-out real images set the yardstick: "
                    "they are new images, so a model whose samples sit much *closer* to the "
                    "training set than they do is copying, not generating.")
        show_chart(nn_figure(art), key=f"{PAGE}.nn")
        cols = st.columns(4)
        for col, k in zip(cols, (*C.MODELS, "test")):
            with col:
                show_image(art[f"memo_{k}"], caption=(NAMES.get(k, "held-out real images")
                           + ": top row, and its nearest training image below"))


view = run_panel(PAGE, DEMO, cfg, render,
                 compare=("fid_gan", "fid_vae", "fid_ae", "sure_gan", "sure_vae", "sure_ae",
                          "recon_vae", "recon_ae"),
                 defer_first_paint=False)  # its preview is images only
