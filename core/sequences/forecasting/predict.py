"""Forecasts of a trained :class:`~core.sequences.forecasting.models.Forecaster`: one step
ahead from true windows, multi-step teacher-forced (Williams & Zipser 1989) and free-running
(predictions fed back), the error against the horizon, and the band past the end of the data
(Monte Carlo dropout, Gal & Ghahramani 2016, plus the validation residuals' noise).

Shapes: the series ``v`` (N,) in data units; scaled windows (B, W); forecasts (H,) or (B, H).
"""

from __future__ import annotations

import numpy as np
import torch

from core.protocol import eval_mode
from core.sequences.forecasting.models import Forecaster

__all__ = ["N_PATHS", "one_step", "free_run", "multi_step", "horizon_errors",
           "forecast_future"]

N_PATHS = 32  # sampled paths of the forecast past the end


def one_step(model: Forecaster, v: np.ndarray, targets: np.ndarray, window: int) -> np.ndarray:
    """One-step predictions (data units) of ``v[t]`` for each target index ``t`` from the true
    window before it: (len(targets),)."""
    device = model.mean.device
    s = model.scale(torch.as_tensor(v, dtype=torch.float32, device=device))
    idx = torch.as_tensor(targets[:, None] - window + np.arange(window)[None, :], device=device)
    with eval_mode(model):
        pred = torch.cat([model(s[idx[i:i + 512]])[:, -1] for i in range(0, len(idx), 512)])
    return model.unscale(pred).cpu().numpy().astype(np.float64)


def free_run(model: Forecaster, history: torch.Tensor, horizon: int) -> torch.Tensor:
    """Feed predictions back: from scaled windows (B, W), the next ``horizon`` values (B, H)
    in scaled units (dropout stays as the model's mode leaves it: MC dropout in train mode)."""
    window, out = history, []
    for _ in range(horizon):
        nxt = model(window)[:, -1:]
        out.append(nxt)
        window = torch.cat([window[:, 1:], nxt], 1)
    return torch.cat(out, 1)


def multi_step(model: Forecaster, v: np.ndarray, origin: int, horizon: int, window: int
               ) -> dict[str, np.ndarray]:
    """From ``origin`` (the first forecast index; ``window <= origin``, ``origin + horizon <=
    len(v)``): ``{"teacher_forced": (H,), "free_running": (H,), "true": (H,)}`` in data units.

    Raises:
        ValueError: if the origin leaves no room for the window or the horizon."""
    if not window <= origin <= len(v) - horizon:
        raise ValueError(f"origin {origin} must be in [{window}, {len(v) - horizon}]")
    t = np.arange(origin, origin + horizon)
    s = model.scale(torch.as_tensor(v[origin - window:origin], dtype=torch.float32,
                                    device=model.mean.device))
    with eval_mode(model):
        free = model.unscale(free_run(model, s[None], horizon))[0].cpu().numpy()
    return {"teacher_forced": one_step(model, v, t, window), "free_running": free,
            "true": v[t]}


def horizon_errors(model: Forecaster, v: np.ndarray, b: int, horizon: int, window: int,
                   n_origins: int = 12) -> dict[str, np.ndarray]:
    """Mean absolute error against the horizon (1..H) over up to ``n_origins`` origins spread
    over the test part: ``{"teacher_forced": (H,), "free_running": (H,)}``."""
    last = len(v) - horizon
    origins = np.unique(np.linspace(b, max(b, last), n_origins).astype(int))
    origins = origins[origins <= last]
    t = (origins[:, None] + np.arange(horizon)[None, :]).reshape(-1)
    tf = np.abs(one_step(model, v, t, window) - v[t]).reshape(len(origins), horizon)
    s = model.scale(torch.as_tensor(v, dtype=torch.float32, device=model.mean.device))
    hist = torch.stack([s[o - window:o] for o in origins])
    with eval_mode(model):
        free = model.unscale(free_run(model, hist, horizon)).cpu().numpy()
    true = np.stack([v[o:o + horizon] for o in origins])
    return {"teacher_forced": tf.mean(0), "free_running": np.abs(free - true).mean(0)}


def _sample_paths(model: Forecaster, window_s: torch.Tensor, horizon: int, noise_std: float
                  ) -> torch.Tensor:
    """Free-running paths (B, H) in scaled units with dropout on and Gaussian noise; draws from
    its own seeded streams, never from the training's."""
    gen = torch.Generator().manual_seed(0)
    dev = model.mean.device
    paths = []
    with torch.no_grad(), torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda"
                                                else []):
        torch.manual_seed(0)  # MC dropout's own stream: the training's random stream is untouched
        for _ in range(horizon):
            nxt = model(window_s)[:, -1:]
            nxt = nxt + noise_std * torch.randn(nxt.shape, generator=gen).to(nxt.device)
            paths.append(nxt)
            window_s = torch.cat([window_s[:, 1:], nxt], 1)
    return torch.cat(paths, 1)


def forecast_future(model: Forecaster, v: np.ndarray, horizon: int, window: int,
                    noise_std: float, n_paths: int = N_PATHS) -> dict[str, np.ndarray]:
    """Forecast ``horizon`` steps past the end: ``n_paths`` free-running paths with dropout on
    (MC dropout, Gal & Ghahramani 2016) and Gaussian noise of the validation residuals'
    deviation ``noise_std`` (scaled units) added at every step.

    Returns:
        ``{"median", "lo", "hi"}`` (H,) in data units; lo/hi = 5% / 95% quantiles.
    """
    s = model.scale(torch.as_tensor(v[-window:], dtype=torch.float32, device=model.mean.device))
    was = model.training
    model.train()
    try:
        p = model.unscale(_sample_paths(model, s[None].repeat(n_paths, 1), horizon, noise_std))
    finally:
        model.train(was)
    q = np.quantile(p.cpu().numpy(), [0.05, 0.5, 0.95], axis=0)
    return {"lo": q[0], "median": q[1], "hi": q[2]}
