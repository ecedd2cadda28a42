"""Gumbel-max, the Gumbel-softmax relaxation, straight-through, and two trainers that use them.

Gumbel-max trick: with ``g_k = -log(-log u_k)``, ``u_k ~ U(0, 1)``, the index
``argmax_k (log pi_k + g_k)`` is an exact sample of ``Categorical(pi)``. The Gumbel-softmax
(concrete) relaxation replaces the argmax by a tempered softmax::

    y = softmax((log pi + g) / tau)          (a point inside the simplex; one-hot as tau -> 0,
                                              uniform 1/K as tau -> infinity)

Straight-through (ST): the forward pass uses the one-hot ``argmax`` of ``y``, the backward pass
the gradient of the soft ``y``. :func:`gumbel_softmax` computes ``y`` in log space after
subtracting the largest perturbed logit, so it is finite for every ``tau > 0`` (PyTorch's own
``F.gumbel_softmax`` has NaN reports at small tau and in half precision).

Trainers (``DEMOS``):

* ``gumbel_classifier``: the same small CNN trained twice on the same batches, once with the
  standard softmax cross-entropy and once with a Gumbel-softmax output layer (tau, hard/ST,
  annealing); held-out accuracy of both.
* ``gumbel_vae``: the categorical VAE of Jang, Gu & Poole, with ``n_latents`` categorical
  variables of ``n_classes`` classes each and tau annealed (MNIST).

References:
    Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017.
    Maddison, Mnih & Teh, "The Concrete Distribution", ICLR 2017.
    Bengio, Leonard & Courville, "Estimating or Propagating Gradients Through Stochastic
    Neurons", 2013 (straight-through). Williams, "Simple statistical gradient-following
    algorithms", 1992 (REINFORCE).

Shapes: logits ``(..., K)``; samples ``(..., K)`` on the simplex; images ``(B, 1, 28, 28)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.images import image_grid
from core.data import IMAGE_DATASETS, load_images
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

TINY = 1e-20  # uniform noise is clamped into [TINY, 1 - eps] so that -log(-log u) is finite
DATASETS = tuple(d for d in IMAGE_DATASETS if d not in ("digits", "cifar10", "cifar100"))

# ------------------------------------------------------------------------ the relaxation


def sample_gumbel(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard Gumbel noise ``g = -log(-log u)``, ``u ~ U(0, 1)``, float32 of ``shape``.

    ``u`` is clamped into ``[1e-20, 1 - 2^-24]`` so ``g`` is always finite (at most ~17, at
    least ~-3.8 in float32).
    """
    u = torch.rand(shape, generator=generator, device=device)
    u = u.clamp(TINY, 1.0 - torch.finfo(torch.float32).eps / 2)
    return -torch.log(-torch.log(u))


def _check_tau(tau: float) -> None:
    if not (isinstance(tau, (int, float)) and math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau={tau!r} must be a finite number above 0")


def gumbel_log_softmax(logits: torch.Tensor, tau: float, gumbels: torch.Tensor | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """``log y`` of a Gumbel-softmax sample, ``log softmax((logits + g) / tau)``, (..., K).

    Computed in float32 after subtracting the largest perturbed logit: every entry of
    ``(z - max z) / tau`` is ``<= 0`` and one is exactly 0, so nothing overflows for any
    ``tau > 0`` (entries may be -inf, i.e. probability 0; the result is never NaN).

    Args:
        logits: unnormalised log-probabilities (..., K), any float dtype; must be finite.
        tau: temperature > 0.
        gumbels: the noise ``g`` (..., K) to use (default: fresh :func:`sample_gumbel`).

    Raises:
        ValueError: if ``tau`` is not a finite number above 0.
    """
    _check_tau(tau)
    z = logits.float()
    if gumbels is None:
        gumbels = sample_gumbel(z.shape, generator, z.device)
    z = z + gumbels
    z = z - z.detach().amax(dim=-1, keepdim=True)
    return torch.log_softmax(z / tau, dim=-1)


def gumbel_softmax(logits: torch.Tensor, tau: float = 1.0, hard: bool = False,
                   gumbels: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A Gumbel-softmax sample ``y = softmax((logits + g) / tau)``, (..., K), in ``logits``'
    dtype; finite for every ``tau > 0`` (see :func:`gumbel_log_softmax`).

    With ``hard=True`` the forward value is exactly one-hot (the argmax of ``y``, i.e. an exact
    Gumbel-max sample) and the gradient is that of the soft ``y`` (straight-through):
    ``y_hard + (y - y.detach())``.

    Raises:
        ValueError: if ``tau`` is not a finite number above 0.
    """
    y = gumbel_log_softmax(logits, tau, gumbels, generator).exp()
    if hard:
        one_hot = F.one_hot(y.argmax(dim=-1), y.shape[-1]).to(y.dtype)
        y = one_hot + (y - y.detach())  # forward: exactly one-hot; backward: d y_soft
    return y.to(logits.dtype)


# --------------------------------------------------------------------- sampling panel


def gumbel_max_frequencies(logits: torch.Tensor, n: int = 10_000, seed: int = 0) -> np.ndarray:
    """How often ``argmax(logits + g)`` picks each class over ``n`` draws: (K,) frequencies,
    which converge to ``softmax(logits)`` (the Gumbel-max trick is exact)."""
    gen = torch.Generator().manual_seed(seed)
    g = sample_gumbel((n, logits.shape[-1]), gen)
    idx = (logits.float()[None] + g).argmax(-1)
    return np.bincount(idx.numpy(), minlength=logits.shape[-1]) / n


def relaxed_samples(logits: torch.Tensor, tau: float, n: int = 500, seed: int = 0,
                    hard: bool = False) -> np.ndarray:
    """``n`` Gumbel-softmax samples (n, K) as NumPy (soft, or one-hot with ``hard``)."""
    gen = torch.Generator().manual_seed(seed)
    logits = logits.float()[None].expand(n, -1)
    return gumbel_softmax(logits, tau, hard, generator=gen).numpy()


def simplex_xy(y: np.ndarray) -> np.ndarray:
    """Barycentric (N, 3) points of the 2-simplex -> (N, 2) positions in an equilateral
    triangle with corners (0, 0), (1, 0), (0.5, sqrt(3)/2) for classes 1, 2, 3."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    return np.asarray(y, dtype=np.float64) @ corners


# --------------------------------------------------------------------- gradient panel


def toy_objective(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The toy loss ``f(z) = ||z - t||^2`` of a (relaxed) one-hot sample ``z`` (..., K) to a
    fixed point ``t`` (K,) inside the simplex; returns (...,). Nonlinear, so the relaxation's
    gradient is biased for ``tau > 0``."""
    return ((z - target) ** 2).sum(-1)


def exact_gradient(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``d/d logits E_{z ~ Cat(softmax(logits))}[f(z)]`` exactly, (K,), by enumerating the K
    one-hot outcomes."""
    theta = logits.detach().float().clone().requires_grad_(True)
    eye = torch.eye(len(theta))
    (theta.softmax(-1) * toy_objective(eye, target)).sum().backward()
    return theta.grad


def estimator_samples(logits: torch.Tensor, target: torch.Tensor, tau: float, n: int,
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``n`` single-sample gradient estimates (n, K) of :func:`exact_gradient` per estimator:

    * ``relaxed``: ``d f(y) / d logits`` with ``y`` the Gumbel-softmax sample (biased, tau-dependent),
    * ``straight_through``: ``d f(y_hard) / d y_hard`` pushed through ``d y / d logits``,
    * ``reinforce``: ``f(z) d log p(z) / d logits`` with ``z`` an exact sample (unbiased).

    The three share one draw of the Gumbel noise per sample.
    """
    K = logits.shape[-1]
    theta = logits.detach().float()[None].expand(n, K).clone().requires_grad_(True)
    g = sample_gumbel((n, K), generator)
    out = {}
    for name, hard in (("relaxed", False), ("straight_through", True)):
        y = gumbel_softmax(theta, tau, hard, gumbels=g)
        (grad,) = torch.autograd.grad(toy_objective(y, target).sum(), theta)
        out[name] = grad
    with torch.no_grad():
        z = F.one_hot((theta + g).argmax(-1), K).float()
        fz = toy_objective(z, target)
    logp = (torch.log_softmax(theta, -1) * z).sum()
    (score,) = torch.autograd.grad(logp, theta)
    out["reinforce"] = fz[:, None] * score
    return out


ESTIMATORS = ("relaxed", "straight_through", "reinforce")


def estimator_stats(logits: torch.Tensor, target: torch.Tensor, taus: list[float],
                    n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Bias and variance of each estimator against ``tau``, measured from ``n`` samples.

    Returns:
        ``{"tau": (T,), "exact": (K,), f"{est}_bias": (T,), f"{est}_var": (T,)}`` where bias is
        ``||mean estimate - exact gradient||`` and variance the trace of the estimates'
        covariance (sum of per-component variances); ``f"{est}_se"`` (T,) is the standard error
        of the measured mean, ``sqrt(var / n)``: a measured bias below about twice it is
        indistinguishable from 0. REINFORCE does not depend on tau; its bias is sampling error.
    """
    exact = exact_gradient(logits, target)
    gen = torch.Generator().manual_seed(seed)
    res: dict[str, list[float]] = {f"{e}_{s}": [] for e in ESTIMATORS for s in ("bias", "var")}
    for tau in taus:
        est = estimator_samples(logits, target, tau, n, gen)
        for e in ESTIMATORS:
            res[f"{e}_bias"].append(float((est[e].mean(0) - exact).norm()))
            res[f"{e}_var"].append(float(est[e].var(0).sum()))
    out = {"tau": np.asarray(taus), "exact": exact.numpy(),
           **{k: np.asarray(v) for k, v in res.items()}}
    for e in ESTIMATORS:
        out[f"{e}_se"] = np.sqrt(out[f"{e}_var"] / n)
    return out


# ------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class ClassifierConfig(RunOptions):
    """Softmax vs Gumbel-softmax output layer on the same CNN, data and batches."""

    dataset: str = param("mnist", choices=DATASETS, help="bundled MNIST works offline")
    tau: float = param(1.0, lo=0.01, hi=10.0, log=True, label="Temperature τ",
                       help="the Gumbel-softmax temperature (the start value when annealed)")
    tau_min: float = param(0.1, lo=0.01, hi=10.0, log=True, label="Final τ (annealing)")
    anneal: bool = param(False, label="Anneal τ",
                         help="decay τ exponentially to the final τ over the run (Jang et al.)")
    hard: bool = param(False, label="Hard (straight-through)",
                       help="forward a one-hot sample, backpropagate the soft sample's gradient")
    channels: int = param(16, choices=(8, 16, 32), help="channels of the first conv layer")
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    steps: int = param(600, lo=10, hi=20000, step=10, help="mini-batch updates (of each model)")

    def __post_init__(self) -> None:
        if self.anneal and self.tau_min > self.tau:
            raise ValueError(f"the final τ ({self.tau_min}) must not exceed the start τ "
                             f"({self.tau}) when annealing")


def small_cnn(channels: int = 16, n_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Two 3x3 conv + ReLU + 2x2 max-pool blocks and a linear layer: images (B, C, 28, 28) ->
    logits (B, n_classes)."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * c * 7 * 7, n_classes))


def tau_at(step: int, total: int, tau: float, tau_min: float, anneal: bool) -> float:
    """The temperature at ``step`` of ``total``: constant, or ``tau * r^step`` with ``r`` chosen
    so that it reaches ``tau_min`` at the last step (exponential annealing, Jang et al.)."""
    if not anneal or total <= 0:
        return tau
    return max(tau_min, tau * (tau_min / tau) ** (step / total))


def gumbel_output_loss(logits: torch.Tensor, y: torch.Tensor, tau: float, hard: bool
                       ) -> torch.Tensor:
    """The loss of a Gumbel-softmax output layer, a scalar.

    Soft: the cross-entropy of the relaxed sample, ``-log y_soft[label]`` (log space, finite).
    Hard: a one-hot sample ``y_hard`` forward with straight-through gradients, scored by the
    squared error ``||y - onehot(label)||^2 / 2`` (0 when the sample is right, 1 when wrong;
    ``-log`` of a one-hot would be infinite).
    """
    if not hard:
        return F.nll_loss(gumbel_log_softmax(logits, tau), y)
    sample = gumbel_softmax(logits.float(), tau, hard=True)
    return ((sample - F.one_hot(y, logits.shape[-1]).float()) ** 2).sum(-1).mean() / 2


def _split(name: str, device: torch.device) -> tuple[torch.Tensor, ...]:
    tr, te = load_images(name, "train"), load_images(name, "test")
    return tr.x.to(device), tr.y.to(device), te.x.to(device), te.y.to(device), tr.note


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Share of ``x`` (N, C, H, W) whose argmax logit equals ``y`` (N,), in eval mode."""
    correct = 0
    with eval_mode(model):
        for i in range(0, len(x), batch):
            correct += int((model(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def sampled_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, tau: float,
                     seed: int = 0) -> float:
    """Share of ``x`` whose *sampled* class (Gumbel-max on the logits) is right: what the
    Gumbel output layer's forward pass sees during training. The noise comes from its own
    generator seeded with ``seed``, never from the training's random stream."""
    with eval_mode(model):
        logits = model(x)
    gen = torch.Generator(device=logits.device).manual_seed(seed)
    return float((gumbel_softmax(logits, tau, hard=True, generator=gen).argmax(-1) == y)
                 .float().mean())


def train_classifier(cfg: ClassifierConfig) -> Iterator[Snapshot]:
    """Train the softmax and the Gumbel-softmax CNN side by side on the same batches.

    Metrics: ``loss_softmax``, ``loss_gumbel`` (training losses, see
    :func:`gumbel_output_loss`), ``tau``, ``test_acc`` (Gumbel model, argmax of its logits),
    ``test_acc_softmax``, ``test_acc_sampled`` (Gumbel model, class sampled at the current tau).
    Artifacts: ``note`` (data fallback line or None), ``probs`` (2, 10) both models' class
    probabilities for test image 0, ``image`` (28, 28) uint8 of it.
    """
    device = start(cfg)
    xtr, ytr, xte, yte, note = _split(cfg.dataset, device)
    models = {"softmax": small_cnn(cfg.channels), "gumbel": small_cnn(cfg.channels)}
    models["gumbel"].load_state_dict(models["softmax"].state_dict())  # the same initial weights
    models = {k: m.to(device) for k, m in models.items()}
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    progress, metrics_eval = Progress(cfg.steps, eval_share=0.2), {}
    for step in range(0, cfg.steps + 1):
        tau = tau_at(step, cfg.steps, cfg.tau, cfg.tau_min, cfg.anneal)
        if step > 0:
            idx = torch.randint(0, len(xtr), (cfg.batch_size,), generator=gen).to(device)
            x, y = xtr[idx], ytr[idx]
            for k in ("softmax", "gumbel"):
                logits = models[k](x)
                loss = (F.cross_entropy(logits, y) if k == "softmax"
                        else gumbel_output_loss(logits, y, tau, cfg.hard))
                opts[k].zero_grad()
                loss.backward()
                opts[k].step()
                progress.losses.add(**{f"loss_{k}": loss.detach()})
        if progress.due(step):
            if progress.evaluation_due(step):
                with progress.budget.timed():
                    metrics_eval = {"test_acc": accuracy(models["gumbel"], xte, yte),
                                    "test_acc_softmax": accuracy(models["softmax"], xte, yte),
                                    "test_acc_sampled": sampled_accuracy(models["gumbel"], xte,
                                                                         yte, tau, cfg.seed)}
            with eval_mode(*models.values()):
                probs = np.stack([models[k](xte[:1]).softmax(-1)[0].cpu().numpy()
                                  for k in ("softmax", "gumbel")])
            art = {"note": note, "probs": probs,
                   "image": (xte[0, 0].cpu().numpy() * 255).astype(np.uint8)}
            yield progress.snapshot(step, {**progress.losses.pop(), "tau": tau, **metrics_eval},
                                    art, model=models["gumbel"])


# ------------------------------------------------------------------------ categorical VAE


@dataclass(frozen=True)
class VaeConfig(RunOptions):
    """The categorical VAE of Jang et al. (2017), sized for a CPU."""

    dataset: str = param("mnist", choices=DATASETS, help="bundled MNIST works offline")
    n_latents: int = param(20, lo=1, hi=30, label="Categorical latents N")
    n_classes: int = param(10, lo=2, hi=10, label="Classes per latent K")
    hidden: int = param(256, choices=(64, 128, 256, 512), help="units of the MLP layers")
    tau: float = param(1.0, lo=0.05, hi=10.0, log=True, label="Start τ")
    tau_min: float = param(0.5, lo=0.05, hi=10.0, log=True, label="Final τ")
    hard: bool = param(False, label="Hard (straight-through)")
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    batch_size: int = param(100, choices=(32, 64, 100, 128, 256), label="Batch size")
    steps: int = param(1500, lo=10, hi=50000, step=10, help="mini-batch updates")

    def __post_init__(self) -> None:
        if self.tau_min > self.tau:
            raise ValueError(f"the final τ ({self.tau_min}) must not exceed the start τ "
                             f"({self.tau})")


class CategoricalVAE(nn.Module):
    """Encoder MLP 784 -> hidden -> N*K logits; decoder N*K -> hidden -> 784 Bernoulli logits.

    ``forward(x (B, 1, 28, 28), tau, hard) -> (x_logits (B, 784), q_logits (B, N, K))``.
    """

    def __init__(self, n_latents: int, n_classes: int, hidden: int = 256) -> None:
        super().__init__()
        self.n_latents, self.n_classes = n_latents, n_classes
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_latents * n_classes))
        self.decoder = nn.Sequential(nn.Linear(n_latents * n_classes, hidden), nn.ReLU(),
                                     nn.Linear(hidden, 784))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).view(-1, self.n_latents, self.n_classes)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """One-hot or relaxed codes (B, N, K) -> pixel probabilities (B, 1, 28, 28)."""
        return torch.sigmoid(self.decoder(z.flatten(1))).view(-1, 1, 28, 28)

    def forward(self, x: torch.Tensor, tau: float, hard: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        q_logits = self.encode(x)
        z = gumbel_softmax(q_logits, tau, hard, generator=generator)
        return self.decoder(z.flatten(1)), q_logits


def neg_elbo(model: CategoricalVAE, x: torch.Tensor, tau: float, hard: bool,
             generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(-ELBO, recon, kl)`` per image in nats: Bernoulli cross-entropy of the pixels and
    ``KL(q(z|x) || Uniform(K))`` summed over the N latents (Jang et al., Eq. 6 setup); the
    Gumbel noise from ``generator`` (default: the global random stream)."""
    x_logits, q_logits = model(x, tau, hard, generator)
    recon = F.binary_cross_entropy_with_logits(x_logits, x.flatten(1), reduction="sum") / len(x)
    log_q = torch.log_softmax(q_logits, -1)
    kl = (log_q.exp() * (log_q + math.log(model.n_classes))).sum((1, 2)).mean()
    return recon + kl, recon, kl


def code_images(model: CategoricalVAE, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions from the argmax codes: ``(codes (B, N) int, grid uint8)`` where the grid
    holds the inputs in the first row and their reconstructions in the second."""
    with eval_mode(model):
        codes = model.encode(x).argmax(-1)
        rec = model.decode(F.one_hot(codes, model.n_classes).float())
    return codes.cpu().numpy(), image_grid(torch.cat([x, rec]).cpu(), ncol=len(x))


def switch_variable(model: CategoricalVAE, code: np.ndarray, variable: int) -> np.ndarray:
    """Decode ``code`` (N,) with latent ``variable`` set to each of its K classes in turn:
    a uint8 grid of K images (one row).

    Raises:
        ValueError: if ``variable`` is outside ``[0, N)`` or ``code`` has the wrong length.
    """
    n, k = model.n_latents, model.n_classes
    if not 0 <= variable < n or len(code) != n:
        raise ValueError(f"variable must be in [0, {n}) and the code of length {n}")
    codes = torch.as_tensor(np.asarray(code), dtype=torch.int64).repeat(k, 1)
    codes[:, variable] = torch.arange(k)
    with eval_mode(model):
        imgs = model.decode(F.one_hot(codes, k).float())
    return image_grid(imgs.cpu(), ncol=k)


def train_vae(cfg: VaeConfig) -> Iterator[Snapshot]:
    """Train the categorical VAE with tau annealed from ``tau`` to ``tau_min``.

    Metrics: ``neg_elbo``, ``recon``, ``kl`` (training, nats per image), ``tau``,
    ``test_neg_elbo`` (held-out, at the current tau). Artifacts: ``recons`` (inputs over their
    argmax-code reconstructions, uint8), ``codes`` (8, N) int, ``samples`` (decoded uniform
    random codes, uint8; the three on snapshots where
    :meth:`~core.protocol.Progress.pictures_due`), ``note``.
    """
    device = start(cfg)
    xtr, _, xte, _, note = _split(cfg.dataset, device)
    model = CategoricalVAE(cfg.n_latents, cfg.n_classes, cfg.hidden).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    z_prior = F.one_hot(torch.randint(0, cfg.n_classes, (16, cfg.n_latents), generator=gen),
                        cfg.n_classes).float().to(device)
    progress, test = Progress(cfg.steps, copy_every_s=5, eval_share=0.2), {}
    for step in range(0, cfg.steps + 1):
        tau = tau_at(step, cfg.steps, cfg.tau, cfg.tau_min, True)
        if step > 0:
            idx = torch.randint(0, len(xtr), (cfg.batch_size,), generator=gen).to(device)
            loss, recon, kl = neg_elbo(model, xtr[idx], tau, cfg.hard)
            opt.zero_grad()
            loss.backward()
            opt.step()
            progress.losses.add(neg_elbo=loss.detach(), recon=recon.detach(), kl=kl.detach())
        if progress.due(step):
            if progress.evaluation_due(step):
                with progress.evaluating(model):
                    # its own noise: an evaluation due on the clock must not move training's RNG
                    test_gen = torch.Generator(device=device).manual_seed(cfg.seed)
                    test = {"test_neg_elbo": float(neg_elbo(model, xte[:500], tau, cfg.hard,
                                                            test_gen)[0])}
            art = {"note": note}
            if progress.pictures_due(step):  # the page redraws once a second
                codes, recons = code_images(model, xte[:8])
                with eval_mode(model):
                    samples = image_grid(model.decode(z_prior).cpu(), ncol=8)
                art |= {"recons": recons, "codes": codes, "samples": samples}
            yield progress.snapshot(step, {**progress.losses.pop(), "tau": tau, **test}, art,
                                    model=model)


DEMOS = [
    Demo("gumbel_classifier", ClassifierConfig, train_classifier,
         title="Softmax vs Gumbel-softmax classifier",
         description="The same CNN with a softmax and with a Gumbel-softmax output layer."),
    Demo("gumbel_vae", VaeConfig, train_vae, title="Categorical VAE",
         description="N categorical latents of K classes with the Gumbel-softmax (Jang 2017)."),
]
