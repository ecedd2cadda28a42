"""GAN vs VAE vs plain autoencoder: three generative models on the same data, batches and time.

The generative-models assignment's question — which model *generates*, which *generalises* —
answered live. Three models share one decoder architecture (a DCGAN-style generator,
``z -> Linear -> 2w x S/4 x S/4 -> ConvT -> w x S/2 x S/2 -> ConvT -> C x S x S`` logits, batch
norm and ReLU) and one encoder / discriminator body (two stride-2 4x4 convs):

* **AE** — plain convolutional autoencoder: ``z = enc(x)``, Bernoulli reconstruction loss
  ``-log p(x | z)`` (nats per image). Sampled by decoding ``z ~ N(0, I)``, which nothing in its
  training asked for (its codes can live anywhere).
* **VAE** — Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014: the same nets with a
  Gaussian ``q(z | x)``, loss ``recon + KL(q(z | x) || N(0, I))``; sampled from its prior.
* **GAN** — Goodfellow et al. 2014 with the non-saturating loss and the DCGAN recipe (Radford
  et al. 2016): the decoder is G, the encoder body with a 1-logit head is D; sampled from
  ``z ~ N(0, I)``. It has no encoder, so it cannot reconstruct an image.

Fair budget: every model trains on the same sequence of mini-batches (batch ``i`` is the same
images for all three) and gets the same training wall-clock: the trainer always advances the
model that has used the least time so far, so the GAN (two networks per step) sees fewer
batches in the same seconds.

Metrics: classifier-FID of 500 samples against the held-out images and the classifier's "sure"
share (:mod:`core.blocks.image_metrics`, MNIST / Fashion-MNIST only), held-out reconstruction
error (AE, VAE), and a *memorisation check*: the pixel-space L2 distance from each sample to its
nearest training image, against the same distance for held-out real images (a model that copies
its training set would produce samples *closer* to the training images than new real images are).

Shapes: images ``(N, C, S, S)`` in [0, 1] with ``S`` in {28, 32}; ``z`` ``(N, latent_dim)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks import image_metrics
from core.blocks.images import image_grid
from core.data import ImageData, load_images
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

MODELS = ("ae", "vae", "gan")
DATASETS = ("mnist", "fashion_mnist", "cifar10")
N_GRID = 32  # fixed z's drawn for each model's sample grid (4 x 8)
N_FID = 500  # samples per classifier-FID
N_MEM = 100  # samples (and held-out images) in the memorisation check
N_SHOW = 8  # of those, shown with their nearest training image
N_PAIRS = 10  # held-out images shown with their reconstructions
EVAL_SHARE, EVAL_EVERY_S = 0.25, 2.0


@dataclass(frozen=True)
class GanVaeAeConfig(RunOptions):
    """One three-model run: AE, VAE and GAN on the same batches for the same time each."""

    dataset: str = param("mnist", choices=DATASETS,
                         help="mnist = the bundled 4,000 training digits (1,000 held out)")
    latent_dim: int = param(16, lo=2, hi=128, label="Latent dimension",
                            help="size of z for all three models")
    channels: int = param(16, choices=(8, 16, 32, 48), label="Network width",
                          help="channels of the encoder's first conv and the decoder's last "
                          "hidden layer (the other layer has twice as many)")
    lr: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="AE / VAE learning rate")
    lr_g: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="Generator learning rate")
    lr_d: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="Discriminator learning rate")
    batch_size: int = param(64, choices=(16, 32, 64, 128), label="Batch size")
    seconds: int = param(60, lo=3, hi=600, label="Training seconds per model",
                         help="wall-clock training budget of each of the three models")
    batches: str = param("", label="Batches per model (ae,vae,gan)",
                         help="train exactly these numbers of batches instead of the "
                         "wall-clock budget, e.g. 900,700,400; a downloaded run's command sets "
                         "them, so it repeats the run exactly")

    def __post_init__(self) -> None:
        parse_batches(self.batches)

    def reproducible(self, metrics: dict[str, float]) -> GanVaeAeConfig:
        """This config with ``batches`` pinned to the batches each model saw (``steps_<m>`` of
        the final metrics): the wall-clock budget differs from machine to machine."""
        if self.batches or not all(f"steps_{m}" in metrics for m in MODELS):
            return self
        seen = ",".join(str(int(metrics[f"steps_{m}"])) for m in MODELS)
        return dataclasses.replace(self, batches=seen)


def parse_batches(text: str) -> dict[str, int] | None:
    """``"900,700,400"`` -> ``{"ae": 900, "vae": 700, "gan": 400}``; ``""`` -> None.

    Raises:
        ValueError: unless the text is empty or three whole numbers >= 1, comma separated.
    """
    if not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(MODELS) or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ValueError(f"batches must be {len(MODELS)} whole numbers >= 1 for "
                         f"{', '.join(MODELS)}, e.g. 900,700,400; got {text[:40]!r}")
    return dict(zip(MODELS, map(int, parts)))


# ============================================================================== networks


class Encoder(nn.Module):
    """``(N, C, S, S) -> (N, out_dim)``: two stride-2 4x4 convs (``w``, ``2w``) with LeakyReLU
    (0.2), then a linear layer; ``S`` divisible by 4."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int, w: int) -> None:
        super().__init__()
        c, s, _ = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * w * (s // 4) ** 2, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """``z (N, D) -> logits (N, C, S, S)``: DCGAN-style, batch norm + ReLU on the hidden layers."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, w: int) -> None:
        super().__init__()
        c, s, _ = shape
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 2 * w * (s // 4) ** 2), nn.Unflatten(1, (2 * w, s // 4, s // 4)),
            nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.ConvTranspose2d(w, c, 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class AE(nn.Module):
    """Plain autoencoder: ``z = enc(x)``, Bernoulli logits ``dec(z)``."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, w: int) -> None:
        super().__init__()
        self.enc, self.dec = Encoder(shape, latent_dim, w), Decoder(shape, latent_dim, w)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The code ``(N, D)`` of images ``(N, C, S, S)``."""
        return self.enc(x)


class VAE(nn.Module):
    """Gaussian encoder ``q(z|x) = N(mu, diag(exp(logvar)))``, Bernoulli decoder ``p(x|z)``."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, w: int) -> None:
        super().__init__()
        self.enc, self.dec = Encoder(shape, 2 * latent_dim, w), Decoder(shape, latent_dim, w)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``mu`` ``(N, D)`` of images ``(N, C, S, S)``."""
        return self.enc(x).chunk(2, 1)[0]


class GAN(nn.Module):
    """Generator ``dec`` (the shared decoder, sigmoid output) and discriminator ``disc`` (the
    shared encoder body with one logit)."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, w: int) -> None:
        super().__init__()
        self.dec, self.disc = Decoder(shape, latent_dim, w), Encoder(shape, 1, w)


def make_models(cfg: GanVaeAeConfig, shape: tuple[int, int, int],
                device: torch.device) -> dict[str, nn.Module]:
    """``{"ae": AE, "vae": VAE, "gan": GAN}`` on ``device`` (the GAN DCGAN-initialised)."""
    models = {"ae": AE(shape, cfg.latent_dim, cfg.channels),
              "vae": VAE(shape, cfg.latent_dim, cfg.channels),
              "gan": GAN(shape, cfg.latent_dim, cfg.channels)}
    models["gan"].apply(dcgan_init)
    return {k: m.to(device) for k, m in models.items()}


def dcgan_init(m: nn.Module) -> None:
    """Conv / linear weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_optimizers(cfg: GanVaeAeConfig, models: dict[str, nn.Module]) -> dict:
    """Adam: ``lr`` for AE and VAE; ``lr_g`` / ``lr_d`` with betas (0.5, 0.999) for the GAN."""
    gan = models["gan"]
    return {"ae": torch.optim.Adam(models["ae"].parameters(), lr=cfg.lr),
            "vae": torch.optim.Adam(models["vae"].parameters(), lr=cfg.lr),
            "g": torch.optim.Adam(gan.dec.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999)),
            "d": torch.optim.Adam(gan.disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))}


# ============================================================================== losses, steps


def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli ``-log p(x|z)`` summed over pixels: ``(N,)`` nats per image."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def vae_terms(vae: VAE, x: torch.Tensor,
              gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(recon, kl)`` per image ``(N,)`` in nats, one reparameterised z per image (noise from
    ``gen``, on ``x``'s device, or torch's global RNG)."""
    mu, logvar = vae.enc(x).chunk(2, 1)
    eps = torch.randn(mu.shape, generator=gen, device=mu.device, dtype=mu.dtype)
    z = mu + torch.exp(0.5 * logvar) * eps
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return recon_nll(vae.dec(z), x), kl


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def train_step(name: str, model: nn.Module, opts: dict, x: torch.Tensor,
               gen: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """One update of model ``name`` on the batch ``x`` ``(B, C, S, S)``; its detached losses:
    ``loss_ae`` (recon), ``loss_vae`` (-ELBO), or ``loss_d`` / ``loss_g`` (one D and one G
    update with the non-saturating loss). ``gen`` (on ``x``'s device) draws the model's noise,
    so each model's run does not depend on how the three steps interleave."""
    if name == "ae":
        loss = recon_nll(model.dec(model.enc(x)), x).mean()
        _step(opts["ae"], loss)
        return {"loss_ae": loss.detach()}
    if name == "vae":
        rec, kl = vae_terms(model, x, gen)
        loss = (rec + kl).mean()
        _step(opts["vae"], loss)
        return {"loss_vae": loss.detach()}
    z = torch.randn(len(x), model.dec.latent_dim, generator=gen, device=x.device)
    fake = torch.sigmoid(model.dec(z))
    d_real, d_fake = model.disc(x), model.disc(fake.detach())
    loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
              + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    _step(opts["d"], loss_d)
    d_gen = model.disc(fake)
    loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
    _step(opts["g"], loss_g)
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}


def batch_indices(i: int, n: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices ``(B,)`` of mini-batch ``i`` (the same for every model): epoch ``i // per_epoch``
    is a seeded permutation of the ``n`` training images."""
    bs = min(batch_size, n)
    per_epoch = math.ceil(n / bs)
    epoch, j = divmod(i, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[j * bs:(j + 1) * bs]


# ============================================================================== evaluation


@torch.no_grad()
def decode(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images ``(N, C, S, S)`` in [0, 1] from ``z`` ``(N, D)`` with ``model.dec`` in eval mode."""
    with eval_mode(model):
        return torch.sigmoid(model.dec(z))


@torch.no_grad()
def nearest_train(x: torch.Tensor, train: torch.Tensor,
                  chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest training image of each image, by pixel-space L2 distance.

    Args:
        x: ``(N, C, S, S)`` images; ``train``: ``(M, C, S, S)`` training images, same device.

    Returns:
        ``(dist (N,), index (N,))``: the L2 distance (pixel units, [0, 1] scale) to the nearest
        training image and its index into ``train``.
    """
    a = x.flatten(1).float()
    best_d = torch.full((len(a),), math.inf, device=a.device)
    best_i = torch.zeros(len(a), dtype=torch.long, device=a.device)
    a2 = a.pow(2).sum(1, keepdim=True)
    for s in range(0, len(train), chunk):
        b = train[s:s + chunk].flatten(1).float()
        d2 = (a2 + b.pow(2).sum(1)[None] - 2 * a @ b.T).clamp_min(0)
        d, i = d2.min(1)
        better = d < best_d
        best_d, best_i = torch.where(better, d, best_d), torch.where(better, i + s, best_i)
    return best_d.sqrt(), best_i


def memorisation(samples: torch.Tensor, train: torch.Tensor,
                 n_show: int = N_SHOW) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``(N,)`` (float32) from each sample to its nearest training image, and a uint8
    grid: the first ``n_show`` samples (top row) over their nearest training images."""
    dist, idx = nearest_train(samples, train)
    k = min(n_show, len(samples))
    grid = image_grid(torch.cat([samples[:k].cpu(), train[idx[:k]].cpu()]), ncol=k)
    return dist.cpu().numpy().astype(np.float32), grid


@torch.no_grad()
def held_out_recon(model: nn.Module, x: torch.Tensor, batch: int = 500) -> float:
    """Held-out reconstruction error (Bernoulli nats per image) from the code (posterior mean
    for the VAE), eval mode."""
    total = 0.0
    with eval_mode(model):
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            total += recon_nll(model.dec(model.code(xb)), xb).sum().item()
    return total / max(1, len(x))


class Judge:
    """Classifier-FID and "sure" share of samples against held-out ``real`` images, for sets
    with a shipped classifier (MNIST, Fashion-MNIST; ``available`` says whether)."""

    def __init__(self, real: torch.Tensor, dataset: str) -> None:
        self.dataset = dataset
        self.available = (tuple(real.shape[1:]) == (1, 28, 28)
                          and image_metrics.has_classifier(dataset))
        self.real_feat = (image_metrics.classifier_features(real, dataset)
                          if self.available else None)

    def __call__(self, fake: torch.Tensor) -> dict[str, float]:
        """``{"fid", "sure"}`` of ``fake`` ``(N, 1, 28, 28)`` in [0, 1], or ``{}``."""
        if not self.available:
            return {}
        feat = image_metrics.classifier_features(fake, self.dataset)
        p = image_metrics.probs_from_features(feat, self.dataset)
        return {"fid": image_metrics.frechet_distance(feat, self.real_feat),
                "sure": float((p.max(1).values > image_metrics.CONFIDENT_P).float().mean())}


def evaluate(models: dict[str, nn.Module], data: dict, judge: Judge) -> tuple[dict, dict]:
    """Every model's metrics (``fid_<m>``, ``sure_<m>``, ``recon_<m>``, ``nn_dist_<m>``) and
    artifacts (``samples_<m>``, ``memo_<m>``, ``nn_<m>`` distances, ``recon``)."""
    metrics: dict[str, float] = {}
    art: dict = {}
    rows = [data["x_pairs"]]
    for name, m in models.items():
        fake = decode(m, data["z_eval"])
        for k, v in judge(fake).items():
            metrics[f"{k}_{name}"] = v
        art[f"samples_{name}"] = image_grid(decode(m, data["z_grid"]), ncol=8)
        dist, art[f"memo_{name}"] = memorisation(fake[:N_MEM], data["x_train"])
        art[f"nn_{name}"] = dist
        metrics[f"nn_dist_{name}"] = float(dist.mean())
        if name != "gan":
            metrics[f"recon_{name}"] = held_out_recon(m, data["x_test"])
            with eval_mode(m):
                rows.append(torch.sigmoid(m.dec(m.code(data["x_pairs"]))))
    art["recon"] = image_grid(torch.cat(rows).cpu(), ncol=len(data["x_pairs"]))
    return metrics, art


# ============================================================================== training


def prepare(cfg: GanVaeAeConfig, tr: ImageData, te: ImageData, device: torch.device) -> dict:
    """Tensors every evaluation needs: training and held-out images on ``device``, fixed latents
    (``z_grid``, ``z_eval``), the reconstruction pairs, and the held-out images' nearest-training
    distances and grid (``nn_test``, ``memo_test``)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    x_train, x_test = tr.x.to(device), te.x.to(device)
    data = {"x_train": x_train, "x_test": x_test, "x_pairs": x_test[:N_PAIRS],
            "z_grid": torch.randn(N_GRID, cfg.latent_dim, generator=gen).to(device),
            "z_eval": torch.randn(N_FID, cfg.latent_dim, generator=gen).to(device)}
    dist, grid = memorisation(x_test[:N_MEM], x_train)
    data["fixed"] = {"nn_test": dist, "memo_test": grid, "data_note": tr.note,
                     "classes": list(tr.classes), "dataset": tr.name}
    return data


def pick_model(used: dict[str, float], seen: dict[str, int],
               target: dict[str, int] | None) -> str | None:
    """The model to train next: the one that has trained for the least time so far, or with
    ``target`` batches per model the one furthest from its target (ties: the first in order);
    None when every model has seen its ``target``."""
    if target is None:
        return min(used, key=used.get)
    left = [m for m in MODELS if seen[m] < target[m]]
    return min(left, key=lambda m: seen[m] / target[m]) if left else None


def share_done(used: dict[str, float], seen: dict[str, int], target: dict[str, int] | None,
               seconds: int) -> float:
    """The share of the run done: the slowest model's share of its budget, in [0, 1]."""
    if target is None:
        return min(min(used.values()) / seconds, 1.0)
    return min(seen[m] / target[m] for m in MODELS)


def train(cfg: GanVaeAeConfig) -> Iterator[Snapshot]:
    """Train AE, VAE and GAN side by side: same batches in the same order, ``cfg.seconds`` of
    training wall-clock each (evaluation and each model's first, set-up step excluded), or
    exactly ``cfg.batches`` batches each (:meth:`GanVaeAeConfig.reproducible`).

    Snapshot ``step`` counts tenths of a second of the slowest model's budget used (``total
    _steps = 10 * seconds``). Metrics: ``loss_ae``, ``loss_vae``, ``loss_d``, ``loss_g`` (means
    of the last 32 steps), ``steps_<m>`` (batches seen by each model); on evaluation
    snapshots (at most :data:`EVAL_SHARE` of the time, and the final one) ``fid_<m>`` and
    ``sure_<m>`` (MNIST / Fashion-MNIST only), ``recon_ae`` / ``recon_vae`` (held-out nats per
    image), ``nn_dist_<m>`` (mean L2 distance of 100 samples to their nearest training image)
    and ``nn_dist_test`` (the same for 100 held-out images).

    Artifacts: ``samples_<m>`` (uint8 grid of 32 samples from fixed z), ``recon`` (uint8 grid:
    10 held-out images, AE and VAE reconstructions), ``memo_<m>`` / ``memo_test`` (uint8 grid:
    8 samples or held-out images over their nearest training images), ``nn_<m>`` / ``nn_test``
    (distances (100,)), ``classes``, ``dataset``, ``data_note``, ``fid_note`` (why FID is
    missing, or None). ``model``: frozen ``ModuleDict`` of the three now and then.
    """
    device = start(cfg)
    tr, te = load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")
    models = make_models(cfg, tr.shape, device)
    opts = None
    data = prepare(cfg, tr, te, device)
    judge = Judge(data["x_test"], tr.name)
    fixed = dict(data["fixed"], fid_note=None if judge.available else (
        f"FID and the \"sure\" share need a classifier of {tr.name} images; only MNIST and "
        "Fashion-MNIST have one here."))
    used, seen = dict.fromkeys(MODELS, 0.0), dict.fromkeys(MODELS, 0)
    total, last_step, target = 10 * cfg.seconds, -1, parse_batches(cfg.batches)
    progress = Progress(total, copy_every_s=5.0, eval_share=EVAL_SHARE, eval_every_s=EVAL_EVERY_S)
    noise = {m: torch.Generator(device=device).manual_seed(cfg.seed * 1_000 + i)
             for i, m in enumerate(MODELS)}
    while True:
        final = share_done(used, seen, target, cfg.seconds) >= 1.0
        if not final and last_step >= 0:
            opts = opts or make_optimizers(cfg, models)
            name = pick_model(used, seen, target)
            x = data["x_train"][batch_indices(seen[name], len(tr), cfg.batch_size,
                                              cfg.seed).to(device)]
            t0 = time.perf_counter()
            progress.losses.add(**train_step(name, models[name], opts, x, noise[name]))
            if seen[name] > 0:  # a model's first step pays one-off set-up costs: not counted
                used[name] += time.perf_counter() - t0
            seen[name] += 1
        if not (progress.due(0) or final):
            continue
        done = int(total * share_done(used, seen, target, cfg.seconds))
        step = total if final else min(total - 1, max(last_step + 1, done))
        metrics = progress.losses.pop() | {f"steps_{k}": float(v) for k, v in seen.items()}
        art = dict(fixed)
        if progress.budget.due(final):
            with progress.budget.timed():
                ev, more = evaluate(models, data, judge)
            metrics.update(ev, nn_dist_test=float(fixed["nn_test"].mean()))
            art.update(more)
        last_step = step
        yield progress.snapshot(step, metrics, art, model=nn.ModuleDict(models), final=final)
        if final:
            return


DEMOS = [
    Demo("gan_vae_ae", GanVaeAeConfig, train, title="GAN vs VAE vs autoencoder",
         description="AE, VAE and GAN trained on the same batches for the same time: samples, "
         "FID, reconstructions and a memorisation check."),
]
