"""/vae: a variational autoencoder learns a latent space, next to a plain autoencoder."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid
from core.data.uploads import UPLOAD_NAME
from core.generative import vae as V
from core.registry import get_demo
from ui.charts import (
    class_scatter,
    data_note,
    line_chart,
    page_header,
    show_chart,
    show_image,
)
from ui.form import DATASET, select_slider
from ui.live import ConfigForm, RunView, run_panel
from ui.uploads import image_zip_uploader, upload_preview

PAGE = "vae"
DEMO = get_demo("vae")

page_header(
    "Variational autoencoder (VAE)",
    "An autoencoder squeezes each image into a few numbers *z* (the code) and rebuilds it. "
    "A **VAE** makes the code a small Gaussian cloud q(z|x) and pays a price, the KL term, "
    "for clouds that stray from the standard normal N(0, I). That price is why you can *sample* "
    "from a VAE: decode random N(0, I) vectors and you get digits. The plain autoencoder (AE, "
    "same networks, no KL) trained on the same batches reconstructs better, but random vectors "
    "land in the holes between its codes and decode to smudges. Watch both side by side.",
    [r"\log p(x) \;\ge\; \mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z\mid x)}\big[\log "
     r"p(x\mid z)\big]}_{-\,\text{recon}} \;-\; \underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,"
     r"\mathcal{N}(0, I)\big)}_{\text{kl}},\qquad \mathcal{L}_\beta = \text{recon} + "
     r"\beta\,\text{kl}",
     r"z = \mu(x) + \sigma(x)\odot\varepsilon,\quad \varepsilon\sim\mathcal{N}(0, I)"
     r"\quad\text{(reparameterization trick: gradients flow through }\mu, \sigma)"],
    try_this="train with the defaults and compare the two *decoded N(0, I)* panels: in 2-D "
    "the crosses cover only one corner of the AE's codes, so its samples repeat a few digits. "
    "Then set **Latent dimension** to 16: the AE's samples turn into smudges while the VAE's "
    "stay digit-like. Set **β (KL weight)** to 0 and the VAE behaves like the AE.",
    note="Kingma & Welling, Auto-Encoding Variational Bayes (ICLR 2014); β-VAE: Higgins et al. "
    "(ICLR 2017). Likelihood: Bernoulli per pixel, so losses are in nats per image.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    st.header("Data")
    dataset = form.widget("dataset", **DATASET)
    upload_id = ""
    if dataset == "upload":
        upload_id, _ = image_zip_uploader(PAGE, size=V.UPLOAD_SIZE, channels=3, by_folder=False)
        st.caption(f"{V.TEST_SHARE:.0%} of your images are held out for the test −ELBO (at "
                   f"least {V.MIN_UPLOAD} images in all). A few dozen train in seconds: raise "
                   "**Epochs** to 30 or more.")
    st.header("Model")
    arch = form.widget("architecture")
    form.widgets(["latent_dim", "channels", "hidden_fc", "posterior_std", "beta"]
                 if arch == "conv" else ["latent_dim", "posterior_std", "beta"])
    form.section("Training", ["lr", "weight_decay", "adam_beta2", "batch_size", "epochs",
                              "ema_decay", "baseline"],
                 epochs=select_slider(1, 2, 3, 5, 10, 15, 20, 30, 50, 100))
    form.run_options()
cfg = form.config(upload=upload_id)


@st.cache_data(show_spinner=False, max_entries=4)
def preview(dataset: str, upload: str = "", seed: int = 0) -> tuple[np.ndarray, str | None,
                                                                    int, int]:
    """A grid of training images, the data note and the numbers of training and held-out
    images (raises :class:`UploadError` for an unusable upload)."""
    img, tr, te = V.data_preview(dataset, upload=upload, seed=seed)
    return img, tr.note, len(tr), len(te)


def data_preview() -> None:
    """What the page shows before a run: the data chosen in the sidebar, or what to upload."""
    shown = upload_preview(dataset, cfg.upload, preview, cfg.dataset, cfg.upload,
                           cfg.seed if cfg.upload else 0, size=V.UPLOAD_SIZE, by_folder=False)
    if shown is None:
        return
    img, note, n_tr, n_te = shown
    data_note(note)
    st.markdown(f"**{n_tr:,}** training and **{n_te:,}** held-out images. Some training "
                "images:")
    show_image(img)
    st.caption("Press **Train**: reconstructions, the latent space, samples from N(0, I) "
               "and the losses appear here and update while the networks learn.")


def latent_figure(lat: dict, title: str, classes: list[str]) -> go.Figure:
    """Held-out codes coloured by label, with the decoded N(0, I) vectors as black crosses."""
    ax = ("PC 1", "PC 2") if lat["pca"] else ("z₁", "z₂")
    fig = class_scatter(lat["z"], lat["y"], classes, title, height=380, x_title=ax[0],
                        y_title=ax[1], opacity=0.7)
    prior = lat["prior"]
    fig.add_scatter(x=prior[:, 0], y=prior[:, 1], mode="markers", name="N(0, I) samples",
                    marker={"color": "black", "symbol": "x", "size": 8})
    return fig


def model_column(name: str, art: dict, m: dict, classes: list[str], judged: bool) -> None:
    label = "VAE" if name == "vae" else "Plain autoencoder (AE)"
    st.subheader(label)
    rec = m.get("recon" if name == "vae" else "ae_recon")
    share = m.get(f"{name}_confident_share")
    a, b = st.columns(2)
    a.metric("Reconstruction error", f"{rec:.1f} nats" if rec is not None else "-",
             help="held-out -log p(x|z), nats per image (lower is better)")
    if judged and share is not None:
        b.metric("Samples the classifier is sure of", f"{share:.0%}",
                 help="share of the 32 decoded N(0, I) vectors that the data set's classifier "
                 "(MNIST or Fashion-MNIST LeNet) labels with probability > 0.9. Read it once the "
                 "reconstructions look like real images.")
    st.markdown("**Decoding random N(0, I) vectors** (the same 32 vectors for both models):")
    show_image(art[f"{name}_samples"])
    pca = " (first two principal components)" if art[f"{name}_latent"]["pca"] else ""
    show_chart(latent_figure(art[f"{name}_latent"], f"{label}: held-out codes{pca}",
                             classes), key=f"{PAGE}.latent_{name}")
    if f"{name}_manifold" in art:
        st.markdown("**Decoded grid over the prior's quantiles** (z₁ → right, z₂ → up, "
                    "from the 5th to the 95th percentile of N(0, 1)):")
        show_image(art[f"{name}_manifold"])
    pair = "two held-out images" if art.get("dataset") == UPLOAD_NAME else "a held-out 0 and 1"
    st.markdown(f"**Interpolation** between the codes of {pair}:")
    show_image(art[f"{name}_interp"])


def render(view: RunView) -> None:
    if view.latest is None:
        data_preview()
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    if view.config.ema_decay > 0:
        st.caption(f"Every picture and metric below comes from the exponential moving average "
                   f"of the weights (decay {view.config.ema_decay:g}), not from the raw weights "
                   "the optimizer is moving; the average is smoother and usually generalizes "
                   "better after a few thousand steps.")
    judged = art.get("dataset") in ("mnist", "fashion_mnist")
    if not judged:
        st.caption("No classifier judges this data set here, so the \"sure\" share of the "
                   "samples is not shown.")
    c = st.columns(4)
    c[0].metric("Held-out −ELBO", f"{m['neg_elbo']:.1f} nats",
                help="recon + KL on the held-out images: an upper bound on -log p(x)")
    c[1].metric("VAE reconstruction", f"{m['recon']:.1f} nats")
    c[2].metric("KL", f"{m['kl']:.1f} nats")
    if "ae_recon" in m:
        c[3].metric("AE reconstruction", f"{m['ae_recon']:.1f} nats",
                    delta=f"{m['ae_recon'] - m['recon']:+.1f} vs VAE", delta_color="inverse")
    left, right = st.columns(2)
    with left:
        show_chart(line_chart(
            view.history, ["neg_elbo", "recon", "ae_recon"], "Held-out loss (nats per image)",
            y_title="nats per image", log_y=True, names={
                "neg_elbo": "VAE −ELBO", "recon": "VAE reconstruction",
                "ae_recon": "AE reconstruction"}), key=f"{PAGE}.loss")
    with right:
        show_chart(line_chart(view.history, ["kl"], "VAE KL term (nats per image)",
                              y_title="nats per image", names={"kl": "KL(q(z|x) ‖ N(0, I))"}),
                   key=f"{PAGE}.kl")
    st.markdown("**Held-out images and their reconstructions** (rows: "
                + ", ".join(art["recon_rows"]) + "):")
    show_image(art["recon_pairs"])
    st.header("VAE vs plain autoencoder")
    names = [n for n in ("vae", "ae") if f"{n}_samples" in art]
    cols = st.columns(len(names))
    for col, name in zip(cols, names):
        with col:
            model_column(name, art, m, art.get("classes", [str(i) for i in range(10)]), judged)
    if len(names) == 1:
        st.info("Turn on **Compare with a plain autoencoder** (sidebar) to train one on the "
                "same batches next to the VAE.", icon=":material/compare:")
    elif judged and "ae_confident_share" in m:
        st.caption("The black crosses are the N(0, I) vectors decoded above. In the VAE they lie "
                   "among the codes of real digits; in the AE many fall where no digit's code "
                   "is, so they decode to smudges.")


view = run_panel(PAGE, DEMO, cfg, render,
                 compare=("neg_elbo", "recon", "kl", "ae_recon", "vae_confident_share"),
                 defer_first_paint=False)  # its preview is images only

model = view.latest.model if view.latest is not None else None
if model is not None and view.config.latent_dim == 2:
    with st.expander("Decode your own z (2-D latent)", expanded=False, icon=":material/tune:"):
        a, b = st.columns(2)
        z1 = a.slider("z₁", -3.0, 3.0, 0.0, 0.1, key=f"{PAGE}.z1")
        z2 = b.slider("z₂", -3.0, 3.0, 0.0, 0.1, key=f"{PAGE}.z2")
        z = torch.tensor([[z1, z2]], dtype=torch.float32)
        imgs = {k: V.decode_images(model[k], z) for k in ("vae", "ae") if k in model}
        cols = st.columns(len(imgs))
        for col, (k, img) in zip(cols, imgs.items()):
            with col:
                show_image(image_grid(img, ncol=1), caption=f"{k.upper()} decodes z = "
                           f"({z1:.1f}, {z2:.1f})")
        st.caption("Uses the latest snapshot of the models (updated every few seconds while "
                   "training). The VAE's prior is N(0, I), so |z| up to about 2 is where its "
                   "codes live; the AE's codes can be anywhere.")
