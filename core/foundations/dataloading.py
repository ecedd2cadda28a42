"""Dataset and DataLoader, measured: real MNIST digits through ``torch.utils.data.DataLoader``
with real worker processes, a timeline of which worker produced which batch and when, the
throughput against ``num_workers`` and ``batch_size``, and the worker-seeding bug.

The seeding bug (PyTorch issue 5059 and successors): every worker process starts as a copy of
the same parent, so random state the dataset carries is *copied*, and every worker draws the
same "random" augmentations. Since PyTorch 1.9 the loader reseeds ``random``, ``torch`` and
NumPy's *global* RNG per worker, but a ``np.random.Generator`` the dataset creates in
``__init__`` (today's recommended NumPy style) is still copied verbatim. The fix: a
``worker_init_fn`` that reseeds it from ``torch.initial_seed()`` (which is ``base_seed +
worker_id`` inside a worker), see :func:`seed_worker`.

Workers start from a ``forkserver`` (never a plain ``fork`` of a process that runs threads,
as the Streamlit server and the run workers do); the dataset classes live here, in an
importable module, so the workers can unpickle them.

Shapes: an image item is ``(1, 28, 28)`` float in [0, 1]; an ``ink_rows`` item is ``(L, 28)``
(the rows of the digit that contain ink, L varies per digit); a padded batch is ``(B, L_max,
28)`` with ``lengths`` ``(B,)``.

Reference: PyTorch documentation, "torch.utils.data" (Dataset, IterableDataset, samplers,
``collate_fn``, multi-process data loading, randomness in multi-process data loading).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
    default_collate,
    get_worker_info,
)

from core.protocol import Demo, RunOptions, Snapshot, Ticker, heartbeats, param, start

N_ITEMS = 2000  # digits in the dataset (uint8: 1.5 MB pickled to each worker)
MAX_SHIFT = 3  # the numpy "augmentation": a random shift of up to 3 pixels each way


# ------------------------------------------------------------------------------ datasets


def digits(n: int = N_ITEMS, imbalance: float = 1.0, seed: int = 0) -> tuple[np.ndarray,
                                                                            np.ndarray, str | None]:
    """Real MNIST digits as uint8 ``(N, 28, 28)`` and labels ``(N,)``; with ``imbalance`` r > 1
    class c keeps a share ``r^(-c/9)`` of its digits (class 0 all, class 9 a 1/r share), so the
    classes are unbalanced. Returns ``(x, y, note)``, ``note`` the data layer's fallback line."""
    from core.data import load_images

    d = load_images("mnist", "train")
    x = (d.x[:, 0] * 255).round().to(torch.uint8).numpy()
    y = d.y.numpy()
    keep = np.random.default_rng(seed).random(len(y)) < imbalance ** (-y / 9.0)
    idx = np.nonzero(keep)[0][:n]
    return x[idx], y[idx], d.note


def ink_rows(img: np.ndarray) -> np.ndarray:
    """The rows of a digit ``(28, 28)`` that contain ink: a variable-length item ``(L, 28)``."""
    rows = img[img.max(1) > 0]
    return rows if len(rows) else img[:1]


def shift(img: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Shift an image ``(H, W)`` by ``dx`` columns and ``dy`` rows, filling with zeros."""
    out = np.zeros_like(img)
    h, w = img.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = img[ys, xs]
    return out


class AugmentedDigits(Dataset):
    """A map-style dataset of real digits with a NumPy random shift per item.

    ``__getitem__(i)`` returns a dict: ``x`` (1, 28, 28) float (or ``(L, 28)`` for
    ``item="ink_rows"``), ``y`` the label, ``shift`` (2,) the (dx, dy) drawn from ``self.rng``
    (a ``np.random.Generator`` created in ``__init__``: the seeding bug), ``worker`` the id of
    the worker process that loaded it (-1: the main process) and ``t`` the wall-clock time it
    was loaded. ``load_ms`` sleeps that long per item: the latency of reading a file from disk.
    ``transform`` (a torchvision v2 transform) is applied after the shift.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, seed: int = 0, item: str = "image",
                 load_ms: float = 0.0, transform=None) -> None:
        self.x, self.y, self.item = x, y, item
        self.load_ms, self.transform = load_ms, transform
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        if self.load_ms > 0:
            time.sleep(self.load_ms / 1000)
        dx, dy = (int(v) for v in self.rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, 2))
        img = shift(self.x[i], dx, dy)
        if self.item == "ink_rows":
            x = torch.from_numpy(ink_rows(img).astype(np.float32) / 255)
        else:
            x = torch.from_numpy(img.astype(np.float32) / 255)[None]
            if self.transform is not None:
                x = self.transform(x)
        info = get_worker_info()
        return {"x": x, "y": int(self.y[i]), "shift": torch.tensor([dx, dy]),
                "worker": info.id if info is not None else -1, "t": time.time()}


class DigitStream(IterableDataset):
    """An iterable-style view of the same digits: each worker streams its own shard (every
    ``num_workers``-th item from its id; without sharding every worker would yield every item,
    a classic duplication bug), in order, each item as :class:`AugmentedDigits` makes it."""

    def __init__(self, base: AugmentedDigits) -> None:
        self.base = base

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        wid, n = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(wid, len(self.base), n):
            yield self.base[i]


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn`` that fixes the seeding bug: reseed the dataset's own NumPy generator
    from ``torch.initial_seed()`` (``base_seed + worker_id`` in a worker: distinct per worker
    and per epoch)."""
    info = get_worker_info()
    ds = info.dataset.base if isinstance(info.dataset, DigitStream) else info.dataset
    ds.rng = np.random.default_rng(torch.initial_seed() % 2**32)


def pad_collate(items: list[dict]) -> dict:
    """Collate variable-length items: ``x`` padded with zeros to ``(B, L_max, 28)``,
    ``lengths`` ``(B,)``, the other fields as ``default_collate`` stacks them."""
    out = default_collate([{k: v for k, v in it.items() if k != "x"} for it in items])
    xs = [it["x"] for it in items]
    out["x"] = pad_sequence(xs, batch_first=True)
    out["lengths"] = torch.tensor([len(x) for x in xs])
    return out


def stamped_collate(items: list[dict]) -> dict:
    """``default_collate`` (or :func:`pad_collate` for variable lengths), plus ``t_done``: the
    wall-clock time the batch was assembled (in the worker)."""
    same = len({tuple(it["x"].shape) for it in items}) == 1
    out = default_collate(items) if same else pad_collate(items)
    out["t_done"] = time.time()
    return out


def v2_pipeline(name: str):
    """A torchvision ``transforms.v2`` pipeline by name: ``none``, ``affine`` (RandomAffine:
    ±15°, 10% translation, scale 0.9-1.1) or ``affine_erase`` (plus RandomErasing, p = 0.5).

    Raises:
        ValueError: for an unknown name.
    """
    from torchvision.transforms import v2

    if name == "none":
        return None
    steps = [v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1))]
    if name == "affine_erase":
        steps.append(v2.RandomErasing(p=0.5, scale=(0.02, 0.15), value=0.0))
    elif name != "affine":
        raise ValueError(f"unknown transforms {name!r}; allowed: none, affine, affine_erase")
    return v2.Compose(steps)


# --------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class LoaderConfig(RunOptions):
    """Every DataLoader setting, the dataset's and the measurement's."""

    style: str = param("map", choices=("map", "iterable"), label="Dataset style")
    item: str = param("image", choices=("image", "ink_rows"),
                      help="image: (1, 28, 28); ink_rows: the digit's inked rows (L, 28), a "
                           "variable-length item that needs a padding collate")
    transforms: str = param("none", choices=("none", "affine", "affine_erase"),
                            label="torchvision v2 transforms")
    imbalance: float = param(10.0, lo=1.0, hi=50.0, step=1.0, label="Class imbalance",
                             help="most / least frequent class")
    batch_size: int = param(32, choices=(1, 4, 8, 16, 32, 64, 128, 256))
    shuffle: bool = param(True, help="map-style only: a RandomSampler")
    sampler: str = param("default", choices=("default", "sequential", "random", "weighted"),
                         help="weighted: WeightedRandomSampler with weights 1/class count "
                              "(balances the classes); default: shuffle decides")
    drop_last: bool = param(False, label="drop_last")
    num_workers: int = param(2, lo=0, hi=4, label="num_workers")
    pin_memory: bool = param(False, label="pin_memory")
    persistent_workers: bool = param(False, label="persistent_workers")
    prefetch_factor: int = param(2, lo=1, hi=8, label="prefetch_factor")
    fix_seeding: bool = param(False, label="Fix the worker seeding (worker_init_fn)")
    load_ms: float = param(2.0, lo=0.0, hi=20.0, step=0.5, label="Load latency per item (ms)",
                           help="a sleep in __getitem__, as reading a file from disk")
    epochs: int = param(2, lo=1, hi=5)
    max_batches: int = param(40, lo=5, hi=500, help="at most this many batches per epoch")
    throughput: bool = param(True, label="Measure throughput vs num_workers and batch size")

    def __post_init__(self) -> None:
        if self.persistent_workers and self.num_workers == 0:
            raise ValueError("persistent_workers needs num_workers > 0 (torch raises "
                             "ValueError otherwise)")
        if self.style == "iterable" and self.sampler != "default":
            raise ValueError("an IterableDataset takes no sampler: it decides the order itself")


# ------------------------------------------------------------------------------- loaders


def make_dataset(cfg: LoaderConfig) -> tuple[Dataset, np.ndarray, str | None]:
    """The run's dataset (map-style or iterable), its labels ``(N,)`` and the data note."""
    x, y, note = digits(imbalance=cfg.imbalance, seed=cfg.seed)
    base = AugmentedDigits(x, y, seed=cfg.seed, item=cfg.item, load_ms=cfg.load_ms,
                           transform=v2_pipeline(cfg.transforms))
    return (DigitStream(base) if cfg.style == "iterable" else base), y, note


def make_sampler(cfg: LoaderConfig, y: np.ndarray, gen: torch.Generator):
    """The sampler for a map-style dataset, or None (the loader's own from ``shuffle``).
    ``weighted`` draws ``len(y)`` indices with replacement, each with weight 1/count(class)."""
    if cfg.style == "iterable" or cfg.sampler == "default":
        return None
    if cfg.sampler == "sequential":
        return SequentialSampler(range(len(y)))
    if cfg.sampler == "random":
        return RandomSampler(range(len(y)), generator=gen)
    counts = np.bincount(y, minlength=10).astype(float)
    weights = torch.as_tensor(1.0 / counts[y], dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples=len(y), replacement=True, generator=gen)


def worker_context():
    """The multiprocessing context for DataLoader workers: ``forkserver``, its server
    preloading torch and this module so that each worker starts in milliseconds. Inside a run's
    own process (a daemon child of the engine) the run may then start workers of its own."""
    ctx = mp.get_context("forkserver")
    if mp.parent_process() is not None and mp.current_process().daemon:
        mp.current_process().daemon = False  # daemonic processes may not have children
    ctx.set_forkserver_preload(["torch", "core.foundations.dataloading"])
    return ctx


def make_loader(cfg: LoaderConfig, dataset: Dataset, y: np.ndarray, gen: torch.Generator,
                batch_size: int | None = None, num_workers: int | None = None) -> DataLoader:
    """The ``torch.utils.data.DataLoader`` of ``cfg`` (``batch_size``/``num_workers``
    override it for the throughput sweep)."""
    workers = cfg.num_workers if num_workers is None else num_workers
    sampler = make_sampler(cfg, y, gen)
    shuffle = cfg.shuffle if (sampler is None and cfg.style == "map") else None
    extra = {} if workers == 0 else {
        "multiprocessing_context": worker_context(), "prefetch_factor": cfg.prefetch_factor,
        "persistent_workers": cfg.persistent_workers,
        "worker_init_fn": seed_worker if cfg.fix_seeding else None}
    return DataLoader(dataset, batch_size=batch_size or cfg.batch_size, shuffle=shuffle,
                      sampler=sampler, drop_last=cfg.drop_last, num_workers=workers,
                      collate_fn=stamped_collate, generator=gen,
                      pin_memory=cfg.pin_memory and torch.cuda.is_available(), **extra)


# ------------------------------------------------------------------------------ measuring


def batch_record(epoch: int, index: int, batch: dict, t0: float, t_recv: float) -> dict:
    """One row of the timeline: which worker made the batch, when its first item was loaded
    and when it was assembled and received (seconds since ``t0``), its size, class counts
    and the shifts its items got."""
    workers = batch["worker"].tolist()
    return {"epoch": epoch, "batch": index, "worker": int(workers[0]),
            "t_start": float(batch["t"].min()) - t0, "t_done": float(batch["t_done"]) - t0,
            "t_recv": t_recv - t0, "size": len(workers),
            "counts": np.bincount(batch["y"].numpy(), minlength=10),
            "shifts": batch["shift"].numpy(), "labels": batch["y"].numpy(),
            "shape": tuple(batch["x"].shape),
            "lengths": batch["lengths"].numpy() if "lengths" in batch else None}


def same_augmentations(records: list[dict]) -> float:
    """Share of batches whose shifts equal those of another worker's batch at the same
    position (the seeding bug: every worker draws the same sequence). 0 for one worker."""
    by_worker: dict[int, list[np.ndarray]] = {}
    for r in records:
        if r["epoch"] == records[0]["epoch"]:
            by_worker.setdefault(r["worker"], []).append(r["shifts"])
    if len(by_worker) < 2:
        return 0.0
    seqs = list(by_worker.values())
    n = min(len(s) for s in seqs)
    same = sum(all(np.array_equal(seqs[0][k], s[k]) for s in seqs[1:]) for k in range(n)
               if all(len(s[k]) == len(seqs[0][k]) for s in seqs[1:]))
    return same / max(n, 1)


def throughput(cfg: LoaderConfig, dataset: Dataset, y: np.ndarray, batch_size: int,
               workers: int, budget_s: float) -> Iterator[int]:
    """Load batches of ``batch_size`` with ``workers`` worker processes: the time to the first
    batch (worker start-up) and the steady rate after it, measured for about ``budget_s``
    seconds (at most 3 x ``budget_s`` in all). Yields the samples loaded after each batch;
    returns ``(samples_per_s, startup_s)``."""
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = make_loader(cfg, dataset, y, gen, batch_size=batch_size, num_workers=workers)
    t0 = time.perf_counter()
    t_first, n, n_all = None, 0, 0
    it = iter(loader)
    try:
        for batch in it:
            now = time.perf_counter()
            n_all += len(batch["y"])
            if t_first is None:
                t_first = now
            else:
                n += len(batch["y"])
            yield n_all
            if now - t_first > budget_s or now - t0 > 3 * budget_s:
                break
    finally:
        del it, loader  # shuts the worker processes down now
    end = time.perf_counter()
    startup = (t_first or end) - t0
    if n:  # the steady rate after the first batch
        return n / max(end - t_first, 1e-9), startup
    return n_all / max(end - t0, 1e-9), startup  # one batch only: start-up included


SWEEP_WORKERS = (0, 1, 2)
SWEEP_BATCHES = (8, 32, 128)


def train(cfg: LoaderConfig) -> Iterator[Snapshot]:
    """Iterate the DataLoader for ``cfg.epochs`` epochs (at most ``max_batches`` each), one
    snapshot per tick: ``samples_per_s``, ``same_aug`` (:func:`same_augmentations`) and the
    timeline ``records``; then, with ``throughput``, samples/s for every (num_workers,
    batch_size) of :data:`SWEEP_WORKERS` x :data:`SWEEP_BATCHES` (``rates``)."""
    start(cfg)
    dataset, y, note = make_dataset(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = make_loader(cfg, dataset, y, gen)
    n_sweep = len(SWEEP_WORKERS) * len(SWEEP_BATCHES) if cfg.throughput else 0
    total = cfg.epochs * cfg.max_batches + n_sweep
    t, records, art = Ticker(total=total), [], {"note": note, "labels_all": y}
    yield Snapshot(0, 0.0, {}, {**art, "records": []}, total_steps=total,
                   phase="starting the worker processes")
    t0 = time.time()
    step = 0
    for epoch in range(cfg.epochs):
        for i, batch in enumerate(loader):
            records.append(batch_record(epoch, i, batch, t0, time.time()))
            step += 1
            if i + 1 >= cfg.max_batches:
                break
            if t(step):
                yield _loader_snapshot(step, t, records, art, total, False)
    del loader
    art["records"] = records
    final = not cfg.throughput
    yield _loader_snapshot(step, t, records, art, total, final)
    if cfg.throughput:
        yield from _sweep(cfg, dataset, y, step, t, records, art, total)


def _loader_snapshot(step: int, t: Ticker, records: list[dict], art: dict, total: int,
                     final: bool) -> Snapshot:
    n = sum(r["size"] for r in records)
    span = max((r["t_recv"] for r in records), default=0.0)
    metrics = {"same_aug": same_augmentations(records)} if records else {}
    if span > 0:
        metrics["samples_per_s"] = n / span
    return Snapshot(step, t.elapsed, metrics, {**art, "records": list(records)},
                    total_steps=total, final=final)


def _sweep(cfg: LoaderConfig, dataset: Dataset, y: np.ndarray, step: int, t: Ticker,
           records: list[dict], art: dict, total: int) -> Iterator[Snapshot]:
    """The throughput grid, one bounded measurement per (num_workers, batch_size)."""
    rates: list[dict] = []
    cells = [(w, b) for w in SWEEP_WORKERS for b in SWEEP_BATCHES]
    for k, (w, b) in enumerate(cells):
        _, (rate, startup) = yield from heartbeats(throughput(cfg, dataset, y, b, w, 1.0),
                                        total=total, done=step + k,
                                        phase=f"throughput: {w} workers, batch {b}")
        rates.append({"num_workers": w, "batch_size": b, "samples_per_s": rate,
                      "startup_s": startup})
        final = k == len(cells) - 1
        metrics = {"same_aug": same_augmentations(records), "best_samples_per_s":
                   max(r["samples_per_s"] for r in rates)}
        yield Snapshot(step + k + 1, t.elapsed, metrics,
                       {**art, "records": list(records), "rates": list(rates)},
                       total_steps=total, final=final)


def transform_preview(name: str, n: int = 8, copies: int = 4, seed: int = 0) -> np.ndarray:
    """``copies`` augmented versions of ``n`` real digits through :func:`v2_pipeline` as one
    uint8 grid image ``(copies * 30, n * 30)`` (row 0: the originals)."""
    x, _, _ = digits(n=n, seed=seed)
    tf = v2_pipeline(name)
    torch.manual_seed(seed)
    rows = [torch.from_numpy(x[:n].astype(np.float32) / 255)[:, None]]
    for _ in range(copies - 1):
        rows.append(torch.stack([tf(img) if tf else img for img in rows[0]]))
    grid = torch.zeros(copies * 30, n * 30)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            grid[r * 30 + 1:r * 30 + 29, c * 30 + 1:c * 30 + 29] = img[0]
    return (grid.clamp(0, 1) * 255).to(torch.uint8).numpy()


DEMOS = [Demo("dataloader", LoaderConfig, train, title="Dataset & DataLoader",
              description="A DataLoader over real MNIST digits with real worker processes: "
                          "timeline, throughput and the worker-seeding bug.")]
