"""Semi-supervised GAN: a discriminator that is also a K-class classifier, trained on a few labels.

Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen, "Improved Techniques for Training GANs",
NeurIPS 2016, section 5. The discriminator ``D`` outputs K class logits ``l_1..l_K``; "fake" is
an implicit (K+1)-th class whose logit is fixed at 0, so

    p(y = k | x) = exp(l_k) / (Z(x) + 1),   Z(x) = sum_k exp(l_k),   D(x) = Z(x) / (Z(x) + 1)

("real" = any of the K classes). The discriminator's loss has a supervised and an unsupervised
part:

    L_sup   = -E_{(x, y) labelled} log softmax(l(x))_y             (cross-entropy over the K)
    L_unsup = -E_{x unlabelled} log D(x) - E_z log(1 - D(G(z)))
            = E_x[softplus(lse(l(x))) - lse(l(x))] + E_z[softplus(lse(l(G(z))))]
    L_D     = L_sup + unsup_weight * L_unsup

with ``lse`` the log-sum-exp over the K logits. The generator uses *feature matching* (same
paper, section 3.1): ``L_G = || E_x f(x) - E_z f(G(z)) ||^2`` on D's last hidden layer ``f``,
or, with feature matching off, the non-saturating ``-E_z log D(G(z)) = E_z softplus(-lse)``.

Networks (the paper's MNIST model, narrower; details from its code, openai/improved-gan
``mnist_svhn_cifar10/train_mnist_feature_matching.py``): ``D`` is an MLP
``784 -> h -> h/2 -> h/4 -> h/4 -> K`` with Gaussian noise added to the input (std 0.3) and
before every later layer (std 0.5) during training, ReLU, and weight normalization (Salimans &
Kingma 2016) on every linear layer with a data-dependent initialization on 500 training images
and the hidden layers' scales then fixed; feature matching's ``f`` is the last hidden layer
before its noise. ``G`` is ``z -> 500 -> 500 -> 784`` with batch norm and softplus, sigmoid
output (images in [0, 1]). Held-out accuracy is scored on an exponential moving average of the
weights (``ema_decay``; the code scores a running average of D's parameters).

The *labels-only* baseline is a second copy of the same ``D`` (same initial weights, same
weight average) trained on the same labelled batches with ``L_sup`` alone, one step for each
SSGAN step (so it sees more labelled batches per second than the SSGAN; its accuracy has long
saturated by the end: ~87-88% at 10 labels per class, ``bench/results/ssgan.md``).

Shapes: images ``(N, 1, 28, 28)`` in [0, 1]; ``z`` ``(N, latent_dim)``; logits ``(N, K)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.images import image_grid, random_shift
from core.data import ImageData, load_images
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start, weight_average

DATASETS = ("mnist", "fashion_mnist")
N_SAMPLES = 64  # fixed z's of the sample grid
EVAL_SHARE, EVAL_EVERY_S = 0.15, 1.0  # held-out accuracy: at most 15% of the time, once a second
MAX_TEST = 2000  # held-out images scored (the first ones of the test split)
N_INIT = 500  # training images of D's data-dependent initialization (as the improved-GAN code)


@dataclass(frozen=True)
class SsganConfig(RunOptions):
    """Every setting of one semi-supervised GAN run."""

    dataset: str = param("mnist", choices=DATASETS,
                         help="mnist = the bundled 4,000 training digits (1,000 held out)")
    labels_per_class: int = param(10, lo=1, hi=100, label="Labels per class",
                                  help="labelled training images per class; the rest are used "
                                  "without their labels")
    unsup_weight: float = param(0.5, lo=0.0, hi=5.0, step=0.1, label="Unsupervised loss weight",
                                help="weight of the real-vs-fake part of D's loss (0 = a plain "
                                "classifier on the labels)")
    feature_matching: bool = param(True, label="Feature matching",
                                   help="G matches the mean of D's last hidden features on real "
                                   "data instead of fooling D directly")
    latent_dim: int = param(100, lo=2, hi=128, label="Latent dimension")
    hidden: int = param(250, choices=(250, 500, 1000), label="Discriminator width",
                        help="units of D's first hidden layer (then 1/2, 1/4, 1/4)")
    lr_g: float = param(3e-3, lo=1e-5, hi=1e-2, log=True, label="Generator learning rate")
    lr_d: float = param(3e-3, lo=1e-5, hi=1e-2, log=True, label="Discriminator learning rate")
    beta1: float = param(0.5, lo=0.0, hi=0.99, step=0.05, label="Adam β1")
    batch_size: int = param(50, choices=(25, 50, 100, 200), label="Batch size",
                            help="labelled, unlabelled and generated images per step (each)")
    augment: int = param(2, lo=0, hi=4, label="Random shifts (px)",
                         help="shift every real image (labelled and unlabelled) by up to this "
                         "many pixels, for both networks")
    ema_decay: float = param(0.999, choices=(0.0, 0.99, 0.999, 0.9999),
                             label="EMA of the weights (decay)",
                             help="held-out accuracy of both networks is measured on an "
                             "exponential moving average of their weights (Polyak averaging, "
                             "as Salimans et al.'s code); 0 = the raw weights")
    steps: int = param(3000, lo=10, hi=100000, help="training steps (one D and one G update)")


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode; identity in eval mode (Salimans et al. 2016)."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x


class WNLinear(nn.Module):
    """Linear layer with weight normalization ``w = g * v / ||v||`` per output unit (Salimans &
    Kingma, NeurIPS 2016): ``(N, n_in) -> (N, n_out)``, computed as ``(x v^T) * g / ||v|| + b``
    (the same values with one matrix product). Plain parameters, so copies pickle.

    ``train_scale=False`` freezes ``g`` (``requires_grad`` off): the improved-GAN code learns
    ``g`` only in the output layer and keeps the hidden layers' scale from :meth:`data_init`,
    so a hidden layer cannot grow until the Gaussian noise after it no longer matters.
    """

    def __init__(self, n_in: int, n_out: int, train_scale: bool = True) -> None:
        super().__init__()
        lin = nn.Linear(n_in, n_out)
        self.v = nn.Parameter(lin.weight.detach().clone())
        self.g = nn.Parameter(lin.weight.detach().norm(dim=1), requires_grad=train_scale)
        self.bias = nn.Parameter(lin.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.v) * (self.g / self.v.norm(dim=1).clamp_min(1e-8)) + self.bias

    @torch.no_grad()
    def data_init(self, x: torch.Tensor) -> torch.Tensor:
        """Data-dependent initialization (Salimans & Kingma 2016, section 3): set ``g`` and
        ``b`` so that the pre-activations of the batch ``x`` ``(N, n_in)`` have zero mean and
        unit variance per unit; returns them ``(N, n_out)``."""
        self.bias.zero_()
        pre = self(x)
        mean, std = pre.mean(0), pre.std(0).clamp_min(1e-6)
        self.g.div_(std)
        self.bias.copy_(-mean / std)
        return (pre - mean) / std


class Discriminator(nn.Module):
    """MLP classifier with K logits: images ``(N, 1, 28, 28)`` in [0, 1] -> logits ``(N, K)``.

    ``784 -> h -> h/2 -> h/4 -> h/4 -> K``, ReLU, Gaussian noise (std 0.3 on the input, 0.5
    before every later layer; training mode only) and weight-normalized layers whose hidden
    scales stay fixed (:class:`WNLinear`), as in the improved-GAN code (Salimans et al. 2016).
    :meth:`features` returns the last hidden layer ``(N, h/4)`` before its noise (feature
    matching's ``f``, the code's ``layers[-3]``).
    """

    def __init__(self, hidden: int = 500, n_classes: int = 10, n_in: int = 784) -> None:
        super().__init__()
        widths = [n_in, hidden, hidden // 2, hidden // 4, hidden // 4]
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(0.3)]
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [GaussianNoise(0.5)] if i else []
            layers += [WNLinear(a, b, train_scale=False), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(0.5), WNLinear(widths[-1], n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer ``(N, hidden // 4)`` of images ``(N, 1, 28, 28)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def data_init(self, x: torch.Tensor) -> None:
        """:meth:`WNLinear.data_init` of every layer in turn on images ``x`` ``(N, 1, 28, 28)``
        (noise on, as the improved-GAN code's init pass on 500 training images)."""
        h = x
        for m in [*self.body, *self.head]:
            h = m.data_init(h) if isinstance(m, WNLinear) else m(h)


class Generator(nn.Module):
    """``z (N, D) -> images (N, 1, 28, 28)`` in [0, 1]: two 500-unit batch-normed softplus layers
    and a sigmoid output (the paper's MNIST generator)."""

    def __init__(self, latent_dim: int, hidden: int = 500) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.Softplus(),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.Softplus(),
            nn.Linear(hidden, 784), nn.Sigmoid(), nn.Unflatten(1, (1, 28, 28)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


# ============================================================================== losses


def d_losses(logits_lab: torch.Tensor, y: torch.Tensor, logits_unl: torch.Tensor,
             logits_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L_sup, L_unsup)`` of the K-logit discriminator (module docstring), scalars in nats.

    Args:
        logits_lab: ``(N, K)`` logits of labelled images; ``y`` ``(N,)`` their classes.
        logits_unl: ``(M, K)`` logits of unlabelled real images.
        logits_fake: ``(M', K)`` logits of generated images.
    """
    l_sup = F.cross_entropy(logits_lab, y)
    lse_u, lse_f = logits_unl.logsumexp(1), logits_fake.logsumexp(1)
    l_unsup = (F.softplus(lse_u) - lse_u).mean() + F.softplus(lse_f).mean()
    return l_sup, l_unsup


def feature_matching_loss(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """``|| mean_x f(x) - mean_z f(G(z)) ||^2 / F`` for features ``(N, F)`` and ``(M, F)``."""
    return (f_real.mean(0) - f_fake.mean(0)).pow(2).mean()


def real_prob(logits: torch.Tensor) -> torch.Tensor:
    """``D(x) = Z / (Z + 1) = sigmoid(lse(logits))`` ``(N,)``: the belief that x is real."""
    return torch.sigmoid(logits.logsumexp(1))


# ============================================================================== data


def labelled_subset(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` images of each class (a seeded random choice), sorted by class.

    Raises:
        ValueError: when a class has fewer than ``per_class`` images.
    """
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in range(int(y.max()) + 1):
        idx = (y == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} training images; "
                             f"labels per class must be at most that")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.cat(out)


def confusion_matrix(pred: torch.Tensor, y: torch.Tensor, k: int) -> np.ndarray:
    """``(k, k)`` int64 counts: rows = true class, columns = predicted class."""
    return np.bincount((y * k + pred).cpu().numpy(), minlength=k * k).reshape(k, k)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Argmax class ``(N,)`` of ``model`` on images ``(N, 1, 28, 28)`` (eval mode)."""
    with eval_mode(model):
        return torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])


# ============================================================================== training


def make_models(cfg: SsganConfig, n_classes: int, device: torch.device,
                x_init: torch.Tensor | None = None) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(G, D, D_base)``: the generator, the SSGAN discriminator and the labels-only network
    (same architecture and initial weights as ``D``). ``x_init`` ``(N, 1, 28, 28)``: training
    images for ``D``'s data-dependent initialization (:meth:`Discriminator.data_init`; the
    trainer passes :data:`N_INIT` of them), done before the copy."""
    G = Generator(cfg.latent_dim).to(device)
    D = Discriminator(cfg.hidden, n_classes).to(device)
    if x_init is not None:
        D.data_init(x_init.to(device))
    D_base = Discriminator(cfg.hidden, n_classes).to(device)
    D_base.load_state_dict(D.state_dict())
    return G, D, D_base


def make_optimizers(cfg: SsganConfig, G: nn.Module, D: nn.Module, D_base: nn.Module) -> dict:
    """Adam for each network, ``betas = (beta1, 0.999)``; D_base uses D's learning rate."""
    b = (cfg.beta1, 0.999)

    def trained(net: nn.Module) -> list[nn.Parameter]:
        return [p for p in net.parameters() if p.requires_grad]

    return {"g": torch.optim.Adam(trained(G), lr=cfg.lr_g, betas=b),
            "d": torch.optim.Adam(trained(D), lr=cfg.lr_d, betas=b),
            "base": torch.optim.Adam(trained(D_base), lr=cfg.lr_d, betas=b)}


def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def ssgan_step(cfg: SsganConfig, G: nn.Module, D: nn.Module, opts: dict,
               batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One update of D (``L_sup + w L_unsup``), then one of G (feature matching, or the
    non-saturating loss with ``cfg.feature_matching`` off); ``opts["d"]``, ``opts["g"]``.

    ``batch``: ``x_lab`` ``(B, 1, 28, 28)``, ``y_lab`` ``(B,)``, ``x_unl`` and ``x_unl2`` (two
    unlabelled batches, one for D, one for G's feature matching), ``z`` and ``z2`` ``(B, D)``.
    Returns the detached losses and ``d_real`` / ``d_fake`` (mean D(x) on real and fake).
    """
    fake = G(batch["z"])
    logits_unl, logits_fake = D(batch["x_unl"]), D(fake.detach())
    l_sup, l_unsup = d_losses(D(batch["x_lab"]), batch["y_lab"], logits_unl, logits_fake)
    _step(opts["d"], l_sup + cfg.unsup_weight * l_unsup)
    fake2 = G(batch["z2"])
    if cfg.feature_matching:
        with torch.no_grad():
            f_real = D.features(batch["x_unl2"])
        loss_g = feature_matching_loss(f_real, D.features(fake2))
    else:
        loss_g = F.softplus(-D(fake2).logsumexp(1)).mean()
    _step(opts["g"], loss_g)
    return {"loss_sup": l_sup.detach(), "loss_unsup": l_unsup.detach(), "loss_g": loss_g.detach(),
            "d_real": real_prob(logits_unl.detach()).mean(),
            "d_fake": real_prob(logits_fake.detach()).mean()}


def base_step(D_base: nn.Module, opt: torch.optim.Optimizer,
              batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One cross-entropy update of the labels-only network on ``batch["x_lab"]``,
    ``batch["y_lab"]``; returns ``{"loss_base": ...}`` (nats, detached)."""
    loss = F.cross_entropy(D_base(batch["x_lab"]), batch["y_lab"])
    _step(opt, loss)
    return {"loss_base": loss.detach()}


def train_step(cfg: SsganConfig, nets: tuple[nn.Module, nn.Module, nn.Module], opts: dict,
               batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`ssgan_step` of ``(G, D)`` and :func:`base_step` of ``D_base`` on the same labelled
    batch; ``nets = (G, D, D_base)``. Returns both steps' metrics."""
    G, D, D_base = nets
    return {**ssgan_step(cfg, G, D, opts, batch), **base_step(D_base, opts["base"], batch)}


def sample_batch(cfg: SsganConfig, x: torch.Tensor, x_lab: torch.Tensor, y_lab: torch.Tensor,
                 gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random labelled / unlabelled batches and latents for :func:`train_step` (indices from
    ``gen``; the labelled images repeat when fewer than ``batch_size``), the real images shifted
    by up to ``cfg.augment`` pixels (:func:`core.blocks.images.random_shift`)."""
    bs, dev = cfg.batch_size, x.device
    i_lab = torch.randint(0, len(x_lab), (bs,), generator=gen).to(dev)
    i_unl = torch.randint(0, len(x), (2, bs), generator=gen).to(dev)
    z = torch.randn(2, bs, cfg.latent_dim, generator=gen).to(dev)
    real = {"x_lab": x_lab[i_lab], "x_unl": x[i_unl[0]], "x_unl2": x[i_unl[1]]}
    real = {k: random_shift(v, cfg.augment, gen) for k, v in real.items()}
    return {**real, "y_lab": y_lab[i_lab], "z": z[0], "z2": z[1]}


def evaluate(D: nn.Module, D_base: nn.Module, test: tuple[torch.Tensor, torch.Tensor],
             k: int) -> tuple[dict[str, float], dict]:
    """Held-out ``test_acc`` (SSGAN's D) and ``base_test_acc`` (labels-only) with their
    ``confusion`` and ``base_confusion`` matrices ``(k, k)``."""
    x, y = test
    p, pb = predict(D, x), predict(D_base, x)
    metrics = {"test_acc": float((p == y).float().mean()),
               "base_test_acc": float((pb == y).float().mean())}
    return metrics, {"confusion": confusion_matrix(p, y, k),
                     "base_confusion": confusion_matrix(pb, y, k)}


def load_data(cfg: SsganConfig) -> tuple[ImageData, ImageData]:
    """(train, test) of ``cfg.dataset`` (bundled MNIST with a ``note`` when unavailable)."""
    return load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")


def train(cfg: SsganConfig) -> Iterator[Snapshot]:
    """Train a semi-supervised GAN and the labels-only network side by side, live.

    Metrics: ``loss_sup``, ``loss_unsup``, ``loss_g``, ``loss_base`` (means of the last
    32 steps, nats; ``loss_g`` is the squared feature distance under feature matching),
    ``d_real`` / ``d_fake`` (mean D(x)); at most :data:`EVAL_SHARE` of the time and on the final
    snapshot: ``test_acc`` (held-out accuracy of the SSGAN's discriminator as a K-class
    classifier) and ``base_test_acc`` (labels-only network), on up to :data:`MAX_TEST` held-out
    images.

    Artifacts: ``samples`` (uint8 8x8 grid of G(z) for fixed z, when
    :meth:`~core.protocol.Progress.pictures_due`), ``labelled`` (uint8 grid of the
    labelled images, one row per class), ``confusion`` / ``base_confusion`` ((K, K) counts, rows
    true), ``classes``, ``data_note``. ``model``: a frozen ``ModuleDict(G, D, D_base)`` now and
    then and on the final snapshot (``D`` and ``D_base`` are the weight averages that were
    scored, unless ``ema_decay == 0``).

    Raises:
        ValueError: when a class has fewer training images than ``labels_per_class``.
    """
    device = start(cfg)
    tr, te = load_data(cfg)
    k = len(tr.classes)
    lab_idx = labelled_subset(tr.y, cfg.labels_per_class, cfg.seed)
    x = tr.x.to(device)
    x_lab, y_lab = x[lab_idx.to(device)], tr.y[lab_idx].to(device)
    test = (te.x[:MAX_TEST].to(device), te.y[:MAX_TEST].to(device))
    gen = torch.Generator().manual_seed(cfg.seed)
    G, D, D_base = make_models(cfg, k, device, x[torch.randperm(len(x), generator=gen)[:N_INIT]])
    nets, opts = (G, D, D_base), None
    averages = [weight_average(D, cfg.ema_decay), weight_average(D_base, cfg.ema_decay)]
    scored = [(a.module if a else n) for a, n in zip(averages, (D, D_base))]
    z_fixed = torch.randn(N_SAMPLES, cfg.latent_dim, generator=gen).to(device)
    fixed = {"labelled": image_grid(x_lab[:: max(1, cfg.labels_per_class // 10)][:100],
                                    ncol=min(10, cfg.labels_per_class)),
             "classes": list(tr.classes), "data_note": tr.note}
    progress = Progress(cfg.steps, copy_every_s=5.0, eval_share=EVAL_SHARE,
                        eval_every_s=EVAL_EVERY_S)
    for step in range(0, cfg.steps + 1):
        if step > 0:
            opts = opts or make_optimizers(cfg, *nets)
            batch = sample_batch(cfg, x, x_lab, y_lab, gen)
            progress.losses.add(**train_step(cfg, nets, opts, batch))
            for avg, net in zip(averages, (D, D_base)):
                if avg is not None:
                    avg.update_parameters(net)
        if not progress.due(step):
            continue
        metrics, art = progress.losses.pop(), dict(fixed)
        if progress.pictures_due(step):
            with eval_mode(G):
                art["samples"] = image_grid(G(z_fixed))
        if progress.evaluation_due(step):
            with progress.budget.timed():
                acc, conf = evaluate(*scored, test, k)
            metrics.update(acc)
            art.update(conf)
        yield progress.snapshot(step, metrics, art,
                                model=nn.ModuleDict({"G": G, "D": scored[0],
                                                     "D_base": scored[1]}))


DEMOS = [
    Demo("ssgan", SsganConfig, train, title="Semi-supervised GAN",
         description="A GAN's discriminator learns to classify digits from 10 labels per class "
         "plus unlabelled and generated images; next to the same net on the labels alone."),
]
