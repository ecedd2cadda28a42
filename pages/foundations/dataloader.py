"""/dataloader: a real torch DataLoader over MNIST digits with real worker processes: the batch
timeline per worker, throughput against num_workers and batch size, and the seeding bug."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.foundations import dataloading as dl
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, data_note, line_chart, metric_row, page_header, show_chart, show_image
from ui.live import ConfigForm, RunView, run_panel

PAGE = "dataloader"
DEMO = get_demo("dataloader")

page_header(
    "Dataset & DataLoader",
    "A `Dataset` says how to get item *i* (map-style) or how to stream items (iterable); a "
    "`DataLoader` decides the order (sampler), groups items into batches (collate) and loads "
    "them in parallel worker processes. Press **Train** to run a real `DataLoader` over real "
    "MNIST digits: every bar below is a batch a worker process really produced.",
    r"\text{batch}_k = \operatorname{collate}\big(\{\,\text{dataset}[i] : i \in "
    r"\text{sampler}_{kB}, \dots, \text{sampler}_{kB+B-1}\}\big),\qquad "
    r"\text{worker}(k) = k \bmod \text{num\_workers}",
    try_this="leave **Fix the worker seeding** off and train: both workers draw the *same* "
    "random shifts (the table turns red). Switch it on and train again. Then set **Sampler** to "
    "*weighted* and watch the class bars even out.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    form.section("Dataset", ["style", "item", "transforms", "imbalance", "load_ms"],
                 style={"format_func": {"map": "map-style", "iterable": "iterable"}.get},
                 item={"format_func": {"image": "image (1,28,28)",
                                       "ink_rows": "inked rows (L,28)"}.get},
                 transforms={"kind": "selectbox"})
    form.section("DataLoader", ["batch_size", "shuffle", "sampler", "drop_last", "num_workers",
                                "prefetch_factor", "persistent_workers", "pin_memory"],
                 sampler={"kind": "selectbox"})
    form.section("Measurement", ["epochs", "max_batches", "throughput"])
    form.run_options(title="Seed", device=False)
form.widget("fix_seeding", help="worker_init_fn=seed_worker: reseed the dataset's own NumPy "
            "generator from torch.initial_seed() in each worker")
cfg = form.config()
if cfg.pin_memory:
    st.caption("pin_memory only helps copies to a CUDA GPU; without one the loader ignores it.")


def loader_code(c: dl.LoaderConfig) -> str:
    sampler = {"default": "None", "sequential": "SequentialSampler(ds)",
               "random": "RandomSampler(ds)",
               "weighted": "WeightedRandomSampler(1 / class_count[y], len(ds))"}[c.sampler]
    ds = "DigitStream(digits)" if c.style == "iterable" else "AugmentedDigits(x, y)"
    lines = [f"ds = {ds}", "loader = DataLoader(", "    ds,", f"    batch_size={c.batch_size},"]
    if c.style == "map":
        lines += [f"    shuffle={c.shuffle if c.sampler == 'default' else None},",
                  f"    sampler={sampler},"]
    lines += [f"    drop_last={c.drop_last},", f"    num_workers={c.num_workers},",
              "    collate_fn=" + ("pad_collate," if c.item == "ink_rows" else "default_collate,")]
    if c.num_workers:
        lines += ['    multiprocessing_context="forkserver",',
                  f"    prefetch_factor={c.prefetch_factor},",
                  f"    persistent_workers={c.persistent_workers},",
                  f"    worker_init_fn={'seed_worker' if c.fix_seeding else None},"]
    lines += [f"    pin_memory={c.pin_memory},", ")"]
    return "\n".join(lines)


def class_figure(y_all: np.ndarray, drawn: np.ndarray | None) -> go.Figure:
    fig = go.Figure()
    share = np.bincount(y_all, minlength=10) / len(y_all)
    fig.add_bar(x=[str(i) for i in range(10)], y=share, name="in the dataset",
                marker_color=PALETTE[7])
    if drawn is not None and drawn.sum() > 0:
        fig.add_bar(x=[str(i) for i in range(10)], y=drawn / drawn.sum(), name="in the batches",
                    marker_color=PALETTE[0])
    fig.add_hline(y=0.1, line_dash="dot", annotation_text="balanced")
    fig.update_layout(title="Class shares", height=280, margin=MARGIN, barmode="group",
                      xaxis_title="digit", yaxis_title="share",
                      legend={"orientation": "h", "y": -0.25})
    return fig


def timeline_figure(records: list[dict]) -> go.Figure:
    fig = go.Figure()
    for r in records:
        lane = "main process" if r["worker"] < 0 else f"worker {r['worker']}"
        color = PALETTE[max(r["worker"], 0) % len(PALETTE)] if r["worker"] >= 0 else PALETTE[7]
        fig.add_bar(y=[lane], x=[max(r["t_done"] - r["t_start"], 1e-3)], base=[r["t_start"]],
                    orientation="h", marker_color=color, opacity=0.45 + 0.5 * (r["epoch"] % 2),
                    text=[str(r["batch"])], textposition="inside", showlegend=False,
                    hovertemplate=f"epoch {r['epoch']}, batch {r['batch']}: {r['size']} items"
                                  f"<br>loaded {r['t_start']:.3f}-{r['t_done']:.3f} s, "
                                  f"received {r['t_recv']:.3f} s<extra></extra>")
    recv = [r["t_recv"] for r in records]
    fig.add_scatter(x=recv, y=["training loop"] * len(recv), mode="markers", name="received",
                    marker={"symbol": "line-ns-open", "size": 14, "color": "black"},
                    text=[f"batch {r['batch']}" for r in records],
                    hovertemplate="%{text} received at %{x:.3f} s<extra></extra>")
    fig.update_layout(title="Timeline: which worker loaded which batch, and when", height=300,
                      margin=MARGIN, barmode="overlay", xaxis_title="seconds since the loop "
                      "started", showlegend=False)
    return fig


def seeding_table(records: list[dict]) -> pd.DataFrame:
    """The shifts of the first items of each worker's first batches, side by side."""
    by_worker: dict[int, list] = {}
    for r in records:
        if r["epoch"] == 0:
            by_worker.setdefault(r["worker"], []).append(r["shifts"][:3].tolist())
    n = min((len(v) for v in by_worker.values()), default=0)
    rows = []
    for k in range(min(n, 4)):
        rows.append({"k-th batch of each worker": k,
                     **{f"worker {w}": str(v[k]) for w, v in sorted(by_worker.items())}})
    return pd.DataFrame(rows)


def throughput_view(rates: list[dict]) -> None:
    df = pd.DataFrame(rates)
    wide = df.pivot(index="num_workers", columns="batch_size", values="samples_per_s")
    wide.columns = [f"batch {b}" for b in wide.columns]
    wide = wide.reset_index()
    show_chart(line_chart(wide, [c for c in wide.columns if c != "num_workers"],
                          "Throughput after start-up", x="num_workers", y_title="samples/s",
                          height=280), key=f"{PAGE}.rates")
    st.caption("Start-up (time to the first batch, s): " + ", ".join(
        f"{r['num_workers']} workers/batch {r['batch_size']}: {r['startup_s']:.2f}"
        for r in rates) + ". With 2 CPU cores more than 2 workers cannot help; the sleep "
        "in __getitem__ (load latency) is what workers overlap.")


def render(view: RunView) -> None:
    c = view.config
    art = view.latest.artifacts if view.latest else None
    if art is None or not art.get("records"):
        if art is not None:
            st.caption("Starting the worker processes: the fork server imports torch once, "
                       "then every worker is forked from it.")
        left, right = st.columns([3, 2])
        with left:
            _, y_all, note = dl.digits(imbalance=c.imbalance, seed=c.seed)
            data_note(note)
            show_chart(class_figure(y_all, None), key=f"{PAGE}.classes")
        with right:
            st.code(loader_code(c), language="python")
        show_image(preview(c.transforms), caption="Real MNIST digits (top row) and three draws "
                   f"of the torchvision v2 pipeline '{c.transforms}' (rows below)", width=480)
        return
    data_note(art.get("note"))
    records = art.get("records", [])
    m = view.latest.metrics
    metric_row({"samples/s (this loader)": f"{m['samples_per_s']:.0f}" if "samples_per_s" in m
                else "…", "batches": str(len(records)),
                "batches with another worker's shifts": f"{m['same_aug']:.0%}" if "same_aug" in m
                else "…"})
    if records:
        show_chart(timeline_figure(records), key=f"{PAGE}.timeline")
        left, right = st.columns(2)
        with left:
            counts = np.sum([r["counts"] for r in records], axis=0)
            show_chart(class_figure(art["labels_all"], counts), key=f"{PAGE}.classes")
            r0 = records[0]
            extra = f", lengths {r0['lengths'].tolist()[:8]}…" if r0["lengths"] is not None else ""
            st.caption(f"First batch: x of shape {r0['shape']}{extra}")
        with right:
            st.markdown("**Seeding:** (dx, dy) shifts of the first items, per worker")
            table = seeding_table(records)
            if len(table.columns) > 2 and m.get("same_aug", 0) > 0.5:
                st.error("Every worker drew the same 'random' shifts: the dataset's NumPy "
                         "generator was copied into each worker. Turn on the fix.")
            elif len(table.columns) > 2:
                st.success("Each worker draws its own shifts (seeded from torch.initial_seed()).")
            else:
                st.caption("Use 2 or more workers to compare them.")
            st.dataframe(table, hide_index=True, key=f"{PAGE}.seeding")
    if art.get("rates"):
        throughput_view(art["rates"])


@st.cache_data(show_spinner=False, max_entries=8)
def preview(name: str) -> np.ndarray:
    return dl.transform_preview(name)


run_panel(PAGE, DEMO, cfg, render, compare=("samples_per_s", "same_aug", "best_samples_per_s"))
