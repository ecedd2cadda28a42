"""Benchmark: wall-clock and environment steps for DQN to solve CartPole-v1 (mean greedy return
>= 475 over 10 episodes), Liveprop's DQN (default config) vs Stable-Baselines3's DQN with the
rl-baselines3-zoo CartPole-v1 hyperparameters, run in the same process on the same machine.

Both agents are evaluated every 2,500 environment steps on the same 10 start states (greedy,
ε = 0); the evaluation time is excluded from both wall-clocks. Reported per seed:
* first solve: the first evaluation with mean return >= 475;
* stable solve: the first evaluation after which every later one (to the end of the run's budget)
  stays >= 475.
Goal (issue 7): stable solve in less than half of SB3's stable-solve wall-clock, on every seed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/rl/bench_dqn.py --seeds 0 1 2 3 4
(needs `pip install -r bench/requirements.txt`; writes bench/results/dqn.md)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.rl import dqn  # noqa: E402

EVAL_EVERY = 2_500
EVAL_EPISODES = 10
SOLVED = 475.0
DESIGN_NOTES = "## Design notes"


def solve_points(curve: list[tuple[int, float, float]]) -> tuple[tuple | None, tuple | None]:
    """(first, stable) as (step, wall_s) from a curve of (step, train_wall_s, mean_return)."""
    first = next(((s, w) for s, w, r in curve if r >= SOLVED), None)
    stable = None
    for i in range(len(curve) - 1, -1, -1):
        if curve[i][2] < SOLVED:
            break
        stable = (curve[i][0], curve[i][1])
    return first, stable


def run_ours(seed: int, total: int) -> list[tuple[int, float, float]]:
    cfg = dqn.DqnConfig(seed=seed, device="cpu", steps=total, eval_every=EVAL_EVERY,
                        eval_episodes=EVAL_EPISODES)
    curve, seen = [], 0
    t0 = time.perf_counter()
    for snap in dqn.train(cfg):
        evals = snap.artifacts["evals"]
        if len(evals) > seen:
            seen = len(evals)
            wall = time.perf_counter() - t0 - snap.metrics["eval_time_s"]
            curve.append((int(evals[-1, 0]), wall, float(evals[-1, 1])))
    return curve


def run_sb3(seed: int, total: int) -> list[tuple[int, float, float]]:
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    class EvalClock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.curve: list[tuple[int, float, float]] = []
            self.eval_time = 0.0
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY == 0:
                t = time.perf_counter()
                rets = dqn.evaluate(self.model.q_net,  # SB3's QNetwork: obs -> q_values
                                    EVAL_EPISODES, seed=10_000 + seed)
                self.eval_time += time.perf_counter() - t
                self.curve.append((self.num_timesteps,
                                   time.perf_counter() - self.t0 - self.eval_time,
                                   float(rets.mean())))
            return True

    env = gym.make("CartPole-v1")
    model = DQN("MlpPolicy", env, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1_000, gamma=0.99, target_update_interval=10, train_freq=256,
                gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
                policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu", verbose=0)
    cb = EvalClock()
    cb.t0 = time.perf_counter()
    model.learn(total_timesteps=total, callback=cb)
    return cb.curve


def fmt(p: tuple | None) -> str:
    return "never" if p is None else f"{p[0] / 1000:.1f}k / {p[1]:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=50_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows, met = [], []
    for seed in args.seeds:
        load0 = os.getloadavg()[0]
        ours = run_ours(seed, min(args.steps, dqn.DqnConfig().steps))
        sb3 = run_sb3(seed, args.steps)
        load1 = os.getloadavg()[0]
        (of, os_), (sf, ss) = solve_points(ours), solve_points(sb3)
        ok = os_ is not None and (ss is None or os_[1] < 0.5 * ss[1])
        met.append(ok)
        rows.append(f"| {seed} | {fmt(of)} | {fmt(os_)} | {fmt(sf)} | {fmt(ss)} | "
                    f"{'yes' if ok else 'no'} | {load0:.1f}-{load1:.1f} |")
        curves = " ".join(f"{s // 1000}k:{r:.0f}" for s, _, r in ours)
        curves_sb3 = " ".join(f"{s // 1000}k:{r:.0f}" for s, _, r in sb3)
        rows.append(f"|  | ours: {curves} | | SB3: {curves_sb3} | | | |")
        print(rows[-2], flush=True)
    table = ["| seed | ours first solve (steps / train s) | ours stable solve | SB3 first solve | "
             "SB3 stable solve | goal met (ours stable < ½ SB3 stable) | load avg |",
             "|---|---|---|---|---|---|---|", *rows]
    text = ("# DQN on CartPole-v1: time to a mean evaluation return of 475\n\n"
            f"Evaluation: {EVAL_EPISODES} greedy episodes every {EVAL_EVERY} steps, evaluation "
            "time excluded. Liveprop: default `DqnConfig`; SB3: rl-baselines3-zoo CartPole-v1 "
            f"hyperparameters, {args.steps} steps. CPU torch, 1 thread. Machine: "
            f"{os.cpu_count()} cores shared with other jobs (load average in the last column; "
            "wall-clocks are inflated by contention).\n\n" + "\n".join(table) +
            f"\n\nGoal met on {sum(met)} of {len(met)} seeds.\n")
    print(text)
    out = ROOT / "bench" / "results" / "dqn.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    notes = out.read_text().partition(DESIGN_NOTES)[2] if out.exists() else ""
    out.write_text(text + (f"\n{DESIGN_NOTES}{notes}" if notes else ""))  # the notes are kept


if __name__ == "__main__":
    main()
