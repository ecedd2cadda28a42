"""/segmentation: a decoder on frozen CLIP features, the same network from scratch and a U-Net
with skip toggles segment shapes side by side, live; or only the shapes a typed prompt names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core import handoff
from core.blocks.images import image_grid
from core.registry import get_demo
from core.vision import segmentation as seg
from ui.charts import line_chart, page_header, plain, png_bytes, show_chart
from ui.live import ConfigForm, RunView, run_panel
from ui.pages import page

PAGE = "segmentation"
DEMO = get_demo("segmentation")

page_header(
    "Segmentation: CLIP features vs a U-Net",
    "Each pixel is labelled *object* or *background*. Three networks learn on the same "
    "batches: a decoder on top of the **frozen** image encoder of a CLIP run (only the decoder "
    "learns: how much of *where* did CLIP's features keep?), the same encoder-decoder trained "
    "from scratch, and a **U-Net** (Ronneberger et al., 2015), whose decoder concatenates the "
    "encoder's sharp early feature maps (skip connections) before each upsampling step. The "
    "default scenes are cluttered on purpose: four shapes, pixel noise and thin lines in the "
    "objects' colors that are background. Pixel accuracy flatters: a model that predicts "
    "background everywhere already scores the share of background pixels, so watch IoU and "
    "the boundary accuracy. With **Task** *prompted*, every model segments only what a prompt "
    "names (*segment the red circles*), CLIPSeg-style (Lüddecke & Ecker, 2022): the prompt's "
    "embedding scales and shifts every decoder feature map (FiLM). As in CLIPSeg, the "
    "decoder on CLIP features reads the embedding CLIP's *text* encoder gives the prompt's "
    "phrase (*a red circle*, *a big square*: the CLIP run hands both towers over); the two "
    "from-scratch models learn their own small bag-of-words embedding.",
    [r"\mathrm{IoU} = \frac{|P \cap G|}{|P \cup G|},\qquad \mathrm{Dice} = "
     r"\frac{2|P \cap G|}{|P| + |G|},\qquad \mathcal{L}_{\mathrm{Dice}} = 1 - "
     r"\frac{2\sum_i p_i g_i + 1}{\sum_i p_i + \sum_i g_i + 1}",
     r"h_{k} = \mathrm{conv}\big(\big[\,\mathrm{up}(h_{k+1})\ \Vert\ e_{k}\,\big]\big)"
     r"\quad\text{(U-Net skip: concatenate the encoder map } e_k\text{)}",
     r"h_k \leftarrow \big(1 + \gamma_k(t)\big) \odot h_k + \beta_k(t)"
     r"\quad\text{(FiLM; } t \text{: the prompt's embedding)}"],
    try_this="set **U-Net skips** to *none* and train, then *all*, and compare the **boundary "
    "accuracy** curves in *Compare runs*; or set **Task** to *prompted* with 3 objects, "
    "noise 0 and 1000 steps, train, and type *segment the red circles* and then *circles* "
    "under the charts: a color is learned long before a shape, and the IoU to beat is that of "
    "marking every object.",
)

form = ConfigForm(PAGE, DEMO)
finished = {e.run: e.payload for e in handoff.finished(handoff.IMAGE_ENCODERS)
            if e.demo == seg.CLIP_DEMO}
DEFAULT_RUN = seg.SegConfig().clip_run


def run_label(run: str) -> str:
    if run in finished:
        return (f"{run or 'default settings'}: finished, zero-shot "
                f"{finished[run]['zero_shot_seen']:.0%} on seen compositions")
    return f"{run or 'default settings'}: trained first when you press Train"


with st.sidebar:
    st.header("Task")
    form.widget("task", kind="segmented")
    st.header("Models")
    use_clip = form.widget("clip_decoder")
    if use_clip:
        current = form.current("clip_run")
        if finished and form.key("clip_run") not in st.session_state and current not in finished:
            current = st.session_state[form.key("clip_run")] = next(iter(finished))  # newest
        form.widget("clip_run", kind="selectbox", format_func=run_label,
                    options=list(dict.fromkeys([*finished, current, DEFAULT_RUN])))
    form.widget("skips", kind="segmented")
    form.widget("width", kind="select_slider")
    st.header("Data")
    form.widget("image_size", kind="segmented")
    form.widget("n_objects")
    form.widget("noise")
    form.widget("clutter")
    st.header("Training")
    form.widget("loss", kind="segmented")
    form.widget("lr")
    form.widget("batch_size", kind="select_slider")
    form.widget("steps", kind="select_slider",
                options=[20, 50, 100, 200, 300, 400, 600, 1000, 2000, 5000])
    with st.expander("Seed and device"):
        form.widget("seed", kind="number")
        form.widget("device")
cfg = form.config()

if cfg.clip_decoder and cfg.clip_run not in finished:
    st.caption(f"No finished CLIP run with the settings {plain(cfg.clip_run or 'defaults')} "
               "yet: **Train** first trains it (about 20 s), then its frozen image encoder "
               "feeds the first decoder.")
    st.page_link(page("clip").file, label="Train a CLIP run on the CLIP page",
                 icon=":material/join:")


@st.cache_data(show_spinner=False, max_entries=8)
def preview(task: str, size: int, n_objects: int, noise: float, clutter: int) -> dict:
    return seg.preview(seg.SegConfig(task=task, image_size=size, n_objects=n_objects,
                                     noise=noise, clutter=clutter, clip_decoder=False))


@st.cache_data(show_spinner=False, max_entries=8)
def gallery(size: int, n_objects: int, noise: float, clutter: int, seed: int):
    return seg.prompt_gallery(seg.SegConfig(task="prompted", image_size=size,
                                            n_objects=n_objects, noise=noise, clutter=clutter,
                                            seed=seed, clip_decoder=False))


def sanity_line(s: dict) -> str:
    vals = ", ".join(f"{v:g}" for v in s["unique"])
    return (f"Mask sanity: values {{{vals}}}; object pixels {s['object_share']:.1%}, background "
            f"{1 - s['object_share']:.1%}. Predicting *all background* scores pixel accuracy "
            f"{s['baseline_pixel_acc']:.1%} and IoU 0.")


def prompts_line(prompts: list[str] | None) -> None:
    if prompts:
        st.caption("Prompts, left to right: " + " · ".join(f"*{plain(p)}*" for p in prompts))


def scores_table(m: dict) -> pd.DataFrame:
    rows = []
    for name in seg.MODELS:
        if f"{name}_iou" in m:
            rows.append({"model": seg.MODEL_NAMES[name], "IoU": m[f"{name}_iou"],
                         "mean IoU": m[f"{name}_miou"], "Dice": m[f"{name}_dice"],
                         "pixel accuracy": m[f"{name}_pixel_acc"],
                         "all-background pixel acc.": m["baseline_pixel_acc"],
                         "boundary accuracy": m[f"{name}_boundary_acc"]})
    if "all_objects_iou" in m:
        rows.append({"model": "mark every object (ignores the prompt)",
                     "IoU": m["all_objects_iou"], "mean IoU": np.nan, "Dice": np.nan,
                     "pixel accuracy": np.nan, "all-background pixel acc.": np.nan,
                     "boundary accuracy": np.nan})
    rows.append({"model": "predict all background", "IoU": 0.0, "mean IoU": np.nan,
                 "Dice": 0.0, "pixel accuracy": m["baseline_pixel_acc"],
                 "all-background pixel acc.": m["baseline_pixel_acc"],
                 "boundary accuracy": np.nan})
    return pd.DataFrame(rows).set_index("model").round(3)


def render(view: RunView) -> None:
    c = view.config
    if view.latest is None or "shown" not in view.latest.artifacts:
        pv = preview(c.task, c.image_size, c.n_objects, c.noise, c.clutter)
        a, b = st.columns(2)
        a.image(png_bytes(pv["input"], 1), caption="Input scenes", width="stretch")
        b.image(png_bytes(pv["truth"], 1), caption="Ground-truth masks (white = object)", width="stretch")
        prompts_line(pv["prompts"])
        st.caption(sanity_line(pv["sanity"]))
        return
    m, art = view.latest.metrics, view.latest.artifacts
    st.caption(sanity_line(art["sanity"]))
    shown = art["shown"]
    cols = st.columns(2 + sum(k in shown for k in seg.MODELS))
    cols[0].image(png_bytes(shown["input"], 1), caption="input", width="stretch")
    cols[1].image(png_bytes(shown["truth"], 1), caption="truth", width="stretch")
    for col, name in zip(cols[2:], [k for k in seg.MODELS if k in shown]):
        col.image(png_bytes(shown[name], 1), caption=seg.MODEL_NAMES[name], width="stretch")
    prompts_line(art.get("prompts"))
    if "unet_iou" in m:
        st.dataframe(scores_table(m), key=f"{PAGE}.scores")
    names = {f"{k}_{s}": seg.MODEL_NAMES[k] for k in seg.MODELS for s in ("iou", "loss",
                                                                           "boundary_acc")}
    present = [k for k in seg.MODELS if f"{k}_loss" in view.history]
    left, right = st.columns(2)
    show_chart(line_chart(view.history, [f"{k}_iou" for k in present],
                          "IoU on held-out scenes", y_title="IoU", height=260, names=names),
               key=f"{PAGE}.iou", where=left)
    show_chart(line_chart(view.history, [f"{k}_loss" for k in present],
                          f"Training loss ({c.loss})", height=240, names=names),
               key=f"{PAGE}.loss", where=left)
    show_chart(line_chart(view.history, [f"{k}_boundary_acc" for k in present],
                          "Boundary accuracy (pixels within 1 px of an edge)",
                          y_title="accuracy", height=260, names=names),
               key=f"{PAGE}.boundary", where=right)


view = run_panel(PAGE, DEMO, cfg, render, compare=("unet_iou", "unet_boundary_acc",
                                                   "scratch_iou", "clip_iou"),
                 defer_first_paint=False)


def typed_prompt(view: RunView) -> None:
    """The prompted models' masks for a prompt the visitor types, on held-out scenes."""
    st.subheader("Type a prompt")
    text = st.text_input("What to segment", "segment the red circles", key=f"{PAGE}.prompt",
                         max_chars=100, help="a color, a shape and a size, e.g. big triangles; "
                         "words it does not know are listed")
    if view.model is None:
        st.info("Train first (or wait for the first copy of the models): the prompt is read by "
                "this run's models.", icon=":material/info:")
        return
    c = view.config
    images = gallery(c.image_size, c.n_objects, c.noise, c.clutter, c.seed)
    try:
        masks = seg.segment_prompt(view.model, images, text)
    except ValueError as e:
        st.error(plain(f"That prompt can't be used: {e}."), icon=":material/error:")
        return
    st.caption(plain(f"What each model marks for “{' '.join(text.split())}” on held-out "
                     f"scenes (models at step {view.model_step})"))
    st.image(png_bytes(image_grid(images, ncol=len(images), pad=2), 1), caption="held-out scenes",
             width="stretch")
    for name, strip in masks.items():
        st.image(png_bytes(strip, 1), caption=seg.MODEL_NAMES[name], width="stretch")


if cfg.task == "prompted":
    typed_prompt(view)
