"""Benchmark: Liveprop's DCGAN vs the PyTorch-examples DCGAN (28x28 variant) on bundled MNIST.

    .venv/bin/python bench/generative/bench_gan.py [--budgets 30,60,120] [--clock wall|cpu] [--threads 2]
                                        [--only ours|reference] [--seed 0]

Both train on the 4,000 bundled MNIST training digits for the same time budget; at each budget
the bench pauses the clock and scores 2,000 samples with the classifier-FID
(:func:`core.blocks.image_metrics.classifier_fid`, LeNet features) against 2,000 digits of the
real MNIST test set (``../shared/data/MNIST``; the 1,000 bundled test digits when absent).

Reference: ``examples/dcgan/main.py`` of pytorch/examples (Radford et al. 2016): nz = 100,
Adam 2e-4, beta1 0.5, batch 64, BCE with the non-saturating G loss, N(0, 0.02) init. Its 64x64
networks learn almost nothing in 120 s on 2 cores, so, as in the issue, the reference here is
its 28x28 variant with ngf = ndf = 32: G ``nz -> 4ngf@7x7 -> 2ngf@14x14 -> ngf@28x28 -> 1``,
D ``1 -> ndf@14 -> 2ndf@7 -> 4ndf@4 -> 1``, batch norm where the example has it.

``--clock cpu`` measures process CPU seconds instead of wall-clock seconds (use it with
``--threads 1`` on a shared, overloaded machine: it then approximates one uncontended core).
Prints a Markdown table and writes ``bench/results/gan.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.blocks.image_metrics import classifier_features, frechet_distance  # noqa: E402
from core.data import load_images, load_mnist_idx, shared_data_dir  # noqa: E402
from core.generative import gan  # noqa: E402
from core.protocol import eval_mode  # noqa: E402


class RefG(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 32) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 1, 3, 1, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z[:, :, None, None])


class RefD(nn.Module):
    def __init__(self, ndf: int = 32) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(1, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 3, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def reference_trainer(seed: int):
    """Yield (step, eval-mode generator) after every step of the reference DCGAN."""
    torch.manual_seed(seed)
    x = load_images("mnist", "train").x * 2 - 1
    G, D = RefG(), RefD()
    G.apply(gan.dcgan_init)
    D.apply(gan.dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    step = 0
    while True:
        for idx in torch.randperm(len(x)).split(64):
            real = x[idx]
            z = torch.randn(len(idx), 100)
            fake = G(z)
            loss_d = bce(D(real), torch.ones(len(idx), 1)) + bce(D(fake.detach()),
                                                                 torch.zeros(len(idx), 1))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = bce(D(fake), torch.ones(len(idx), 1))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            step += 1
            yield step, G


def ours_trainer(seed: int):
    """Yield (step, frozen generator) at each snapshot of the default ``gan`` demo."""
    cfg = gan.GanConfig(steps=100000, seed=seed, device="cpu")  # its own FID: 10% of the time
    for snap in gan.train_gan(cfg):
        yield snap.step, snap.model


def score(G: nn.Module, nz: int, real_feat: torch.Tensor, n: int = 2000) -> float:
    z = torch.randn(n, nz, generator=torch.Generator().manual_seed(123))
    with eval_mode(G):
        imgs = (G(z) + 1) / 2
    return frechet_distance(classifier_features(imgs), real_feat)


def run(name: str, trainer, nz: int, budgets: list[float], clock, real_feat) -> dict:
    row: dict = {"name": name}
    used, i = 0.0, 0
    t = clock()
    for step, G in trainer:
        used += clock() - t
        while i < len(budgets) and used >= budgets[i]:
            fid = score(G, nz, real_feat)
            row[budgets[i]] = (fid, step)
            print(f"  {name}: {budgets[i]:.0f} s -> FID {fid:.1f} at step {step}", flush=True)
            i += 1
        if i == len(budgets):
            break
        t = clock()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="30,60,120")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=("ours", "reference"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "gan.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    budgets = [float(b) for b in args.budgets.split(",")]
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    shared = shared_data_dir()
    real = (load_mnist_idx(shared / "MNIST").x[:2000] if shared is not None
            else load_images("mnist", "test").x)
    real_feat = classifier_features(real)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # warm the optimizer's lazy imports
    test = load_images("mnist", "test").x
    floor = frechet_distance(classifier_features(test), real_feat)
    rows = []
    cfg = gan.GanConfig()
    if args.only in (None, "ours"):
        rows.append(run(f"Liveprop DCGAN (default: w={cfg.g_channels}/{cfg.d_channels}, "
                        f"z={cfg.latent_dim}, batch {cfg.batch_size}, lr {cfg.lr_g:g}, "
                        f"EMA {cfg.ema})", ours_trainer(args.seed), cfg.latent_dim, budgets,
                        clock, real_feat))
    if args.only in (None, "reference"):
        rows.append(run("PyTorch-examples DCGAN, 28x28 variant (ngf=ndf=32, nz=100)",
                        reference_trainer(args.seed), 100, budgets, clock, real_feat))
    load = os.getloadavg()
    head = "| model | " + " | ".join(f"FID @ {b:.0f} s (step)" for b in budgets) + " |"
    lines = [head, "|" + "---|" * (len(budgets) + 1)]
    for r in rows:
        cells = [f"{r[b][0]:.1f} ({r[b][1]})" if b in r else "n/a" for b in budgets]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    note = (f"\nClassifier-FID of 2,000 samples vs {len(real)} real MNIST test digits (lower is "
            f"better; the 1,000 bundled test digits score {floor:.1f}). Clock: {args.clock} "
            f"seconds of training (evaluation excluded), torch threads {args.threads}, seed "
            f"{args.seed}. Load average at the end: {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} on {os.cpu_count()} cores.\n")
    table = "\n".join(lines) + "\n" + note
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.only and out.exists():  # append a partial run to the existing results
        out.write_text(out.read_text() + "\n" + table)
    else:  # a full run replaces the tables and keeps the design notes
        old = out.read_text() if out.exists() else ""
        notes = old[old.find("\n## Design notes"):] if "\n## Design notes" in old else ""
        out.write_text("# GAN benchmark\n\n" + table + notes)


if __name__ == "__main__":
    main()
