"""/segmentation: a decoder on frozen CLIP features, the same network from scratch and a U-Net
with skip toggles segment shapes side by side, live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core import handoff
from core.blocks.images import image_grid
from core.data.scenes import mask_scenes
from core.registry import get_demo
from core.vision import segmentation as seg
from ui.charts import line_chart, page_header, plain, show_chart
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
    "encoder's sharp early feature maps (skip connections) before each upsampling step. Pixel "
    "accuracy flatters: a model that predicts background everywhere already scores the share "
    "of background pixels, so watch IoU and the boundary accuracy.",
    [r"\mathrm{IoU} = \frac{|P \cap G|}{|P \cup G|},\qquad \mathrm{Dice} = "
     r"\frac{2|P \cap G|}{|P| + |G|},\qquad \mathcal{L}_{\mathrm{Dice}} = 1 - "
     r"\frac{2\sum_i p_i g_i + 1}{\sum_i p_i + \sum_i g_i + 1}",
     r"h_{k} = \mathrm{conv}\big(\big[\,\mathrm{up}(h_{k+1})\ \Vert\ e_{k}\,\big]\big)"
     r"\quad\text{(U-Net skip: concatenate the encoder map } e_k\text{)}"],
    try_this="set **U-Net skips** to *none* and train, then *all*, and compare the **boundary "
    "accuracy** curves in *Compare runs*; or raise **Clutter strokes** to 8 and see which model "
    "mistakes the lines for objects.",
)

form = ConfigForm(PAGE, DEMO)
form.show_notices()
finished = {e.run: e.payload for e in handoff.finished(handoff.IMAGE_ENCODERS)
            if e.demo == seg.CLIP_DEMO}
DEFAULT_RUN = seg.SegConfig().clip_run


def run_label(run: str) -> str:
    if run in finished:
        return (f"{run or 'default settings'}: finished, zero-shot "
                f"{finished[run]['zero_shot_seen']:.0%} on seen compositions")
    return f"{run or 'default settings'}: trained first when you press Train"


with st.sidebar:
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
def preview(size: int, n_objects: int, noise: float, clutter: int) -> tuple:
    x, y = mask_scenes(64, size, n_objects, noise, clutter, seed=123)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    return (image_grid(x[:4], ncol=4, pad=2), image_grid(y[:4], ncol=4, pad=2),
            seg.mask_sanity(y))


def sanity_line(s: dict) -> str:
    vals = ", ".join(f"{v:g}" for v in s["unique"])
    return (f"Mask sanity: values {{{vals}}}; object pixels {s['object_share']:.1%}, background "
            f"{1 - s['object_share']:.1%}. Predicting *all background* scores pixel accuracy "
            f"{s['baseline_pixel_acc']:.1%} and IoU 0.")


def scores_table(m: dict) -> pd.DataFrame:
    rows = []
    for name in seg.MODELS:
        if f"{name}_iou" in m:
            rows.append({"model": seg.MODEL_NAMES[name], "IoU": m[f"{name}_iou"],
                         "mean IoU": m[f"{name}_miou"], "Dice": m[f"{name}_dice"],
                         "pixel accuracy": m[f"{name}_pixel_acc"],
                         "all-background pixel acc.": m["baseline_pixel_acc"],
                         "boundary accuracy": m[f"{name}_boundary_acc"]})
    rows.append({"model": "predict all background", "IoU": 0.0, "mean IoU": np.nan,
                 "Dice": 0.0, "pixel accuracy": m["baseline_pixel_acc"],
                 "all-background pixel acc.": m["baseline_pixel_acc"],
                 "boundary accuracy": np.nan})
    return pd.DataFrame(rows).set_index("model").round(3)


def render(view: RunView) -> None:
    c = view.config
    if view.latest is None or "shown" not in view.latest.artifacts:
        x, y, s = preview(c.image_size, c.n_objects, c.noise, c.clutter)
        a, b = st.columns(2)
        a.image(x, caption="Input scenes", width="stretch")
        b.image(y, caption="Ground-truth masks (white = object)", width="stretch")
        st.caption(sanity_line(s))
        return
    m, art = view.latest.metrics, view.latest.artifacts
    st.caption(sanity_line(art["sanity"]))
    shown = art["shown"]
    cols = st.columns(2 + sum(k in shown for k in seg.MODELS))
    cols[0].image(shown["input"], caption="input", width="stretch")
    cols[1].image(shown["truth"], caption="truth", width="stretch")
    for col, name in zip(cols[2:], [k for k in seg.MODELS if k in shown]):
        col.image(shown[name], caption=seg.MODEL_NAMES[name], width="stretch")
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


run_panel(PAGE, DEMO, cfg, render, compare=("unet_iou", "unet_boundary_acc", "scratch_iou",
                                            "clip_iou"), defer_first_paint=False)
