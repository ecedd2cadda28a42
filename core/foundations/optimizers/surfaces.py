"""2-D test functions for the race and the sweep: Rosenbrock, Beale, Himmelblau, a saddle and
a rotated quadratic of condition number κ (plain or with noisy gradients).

Shapes: a point on a surface is ``(..., 2)``; losses are ``(...)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DIVERGED", "ROTATION", "SURFACES", "Surface", "quadratic_matrix", "stochastic_loss",
           "surface", "surface_grid"]

SURFACES = ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "noisy_quadratic")
DIVERGED = 1e6  # a coordinate beyond this magnitude (or non-finite) counts as diverged
ROTATION = math.pi / 6  # the quadratic's eigenvectors are rotated by 30°: no axis is special


@dataclass(frozen=True)
class Surface:
    """A 2-D test function: ``f`` maps points (..., 2) to losses (...); ``box`` is
    ``(x_lo, x_hi, y_lo, y_hi)`` for the contour plot; ``start`` the usual start; ``minima`` the
    global minimisers (K, 2) and ``f_min`` the minimum value."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    box: tuple[float, float, float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float
    formula: str


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _beale(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _saddle(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return x * x - y * y + y**4 / 4


def quadratic_matrix(kappa: float) -> np.ndarray:
    """The 2x2 Hessian ``A = R diag(1, κ) Rᵀ`` (R a 30° rotation): eigenvalues 1 and κ."""
    c, s = math.cos(ROTATION), math.sin(ROTATION)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([1.0, float(kappa)]) @ r.T


def _quadratic(kappa: float) -> Callable[[torch.Tensor], torch.Tensor]:
    a = torch.tensor(quadratic_matrix(kappa), dtype=torch.float64)

    def f(p: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.einsum("...i,ij,...j->...", p, a.to(p.dtype), p)
    return f


def surface(name: str, kappa: float = 10.0) -> Surface:
    """The named :class:`Surface` (``kappa`` sets the quadratics' condition number).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "rosenbrock":
        return Surface(name, _rosenbrock, (-2.0, 2.0, -1.0, 3.0), (-1.5, 2.5), ((1.0, 1.0),), 0.0,
                       r"f(x,y) = (1-x)^2 + 100\,(y-x^2)^2")
    if name == "beale":
        return Surface(name, _beale, (-4.5, 4.5, -4.5, 4.5), (1.0, 1.5), ((3.0, 0.5),), 0.0,
                       r"f = (1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2")
    if name == "himmelblau":
        return Surface(name, _himmelblau, (-5.0, 5.0, -5.0, 5.0), (0.0, -0.5),
                       ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                        (3.584428, -1.848126)), 0.0, r"f = (x^2+y-11)^2 + (x+y^2-7)^2")
    if name == "saddle":
        m = math.sqrt(2.0)
        return Surface(name, _saddle, (-2.5, 2.5, -2.5, 2.5), (-2.0, 0.01), ((0.0, m), (0.0, -m)),
                       -1.0, r"f = x^2 - y^2 + y^4/4 \quad(\text{saddle at } 0)")
    if name in ("quadratic", "noisy_quadratic"):
        return Surface(name, _quadratic(kappa), (-3.0, 3.0, -3.0, 3.0), (-2.5, 2.0), ((0.0, 0.0),),
                       0.0, r"f(w) = \tfrac12 w^\top A w,\quad \lambda(A) = \{1, \kappa\}")
    raise ValueError(f"unknown surface {name!r}; allowed: {', '.join(SURFACES)}")


def surface_grid(s: Surface, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs (n,), ys (n,), z (n, n))``: the surface on a grid over its box, ``z[i, j]`` at
    ``(xs[j], ys[i])``."""
    xs = torch.linspace(s.box[0], s.box[1], n, dtype=torch.float64)
    ys = torch.linspace(s.box[2], s.box[3], n, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        z = s.f(torch.stack([gx, gy], -1))
    return xs.numpy(), ys.numpy(), z.numpy()


def stochastic_loss(s: Surface, p: torch.Tensor, noise: float,
                    gen: torch.Generator | None) -> torch.Tensor:
    """The loss whose gradient an optimizer sees at ``p`` (..., 2): the surface itself, or for
    ``noisy_quadratic`` the surface plus ``noise · ξ·p`` with ``ξ ~ N(0, I)`` drawn per call, so
    the gradient is the true one plus Gaussian noise of standard deviation ``noise``."""
    loss = s.f(p)
    if s.name == "noisy_quadratic" and noise > 0:
        xi = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        loss = loss + noise * (xi * p).sum(-1)
    return loss
