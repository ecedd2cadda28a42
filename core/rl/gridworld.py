"""Grid world: tabular Q-learning and SARSA against value iteration (the exact reference).

The MDP: a grid of cells, ``.`` empty, ``#`` wall, ``P`` pit (reward -1, episode ends), ``G``
goal (reward +1, episode ends), ``S`` start. Actions up/right/down/left; with probability
``slip`` the agent moves to one of the two perpendicular directions instead (half each), as in
Russell & Norvig's 4x3 world. Bumping into a wall or the border leaves it in place. Every step
costs ``step_cost``.

* Value iteration (Bellman 1957): ``V(s) <- max_a sum_s' P(s'|s,a) [r + gamma V(s')]``.
* Q-learning (Watkins 1989): ``Q(s,a) += alpha [r + gamma max_a' Q(s',a') - Q(s,a)]``.
* SARSA (Rummery & Niranjan 1994): ``Q(s,a) += alpha [r + gamma Q(s',a') - Q(s,a)]`` with
  ``a'`` the epsilon-greedy action actually taken next.
Reference: Sutton & Barto, *Reinforcement Learning: An Introduction*, 2nd ed., ch. 4 and 6.

Shapes: ``Q`` is ``(H, W, 4)``; ``V`` and the policies are ``(H, W)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from core.protocol import Demo, RunOptions, Snapshot, Ticker, param, start

ACTIONS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
ARROWS = ("↑", "→", "↓", "←")
PRESETS = {
    "classic": "...G/.#.P/S...",
    "cliff": "............/............/............/SPPPPPPPPPPG",
    "maze": "S.#...../..#.##../..#..#../.##.##../.....#.G/###.P#../......P.",
    "bridge": "PPPPPPP/S.....G/PPPPPPP",
}
CELLS = ".#PGS"


@dataclass(frozen=True)
class GridConfig(RunOptions):
    """Everything that defines one grid-world experiment (ε decays geometrically per episode
    from ``epsilon_start`` to at least ``epsilon_end``)."""

    layout: str = param(PRESETS["classic"], help="rows separated by '/': . empty, # wall, "
                        "P pit, G goal, S start")
    algorithm: str = param("q_learning", choices=("q_learning", "sarsa"))
    alpha: float = param(0.2, lo=0.01, hi=1.0, step=0.01, label="Learning rate α")
    gamma: float = param(0.95, lo=0.5, hi=0.999, step=0.005, label="Discount γ")
    epsilon_start: float = param(1.0, lo=0.0, hi=1.0, step=0.05, label="Exploration ε (start)",
                                 aliases=("epsilon",))
    epsilon_decay: float = param(0.99, lo=0.9, hi=1.0, step=0.001,
                                 label="ε decay per episode")
    epsilon_end: float = param(0.05, lo=0.0, hi=0.5, step=0.01, label="Minimum ε",
                               aliases=("epsilon_min",))
    episodes: int = param(500, lo=10, hi=20000, step=10)
    slip: float = param(0.0, lo=0.0, hi=0.5, step=0.05, label="Slip probability")
    step_cost: float = param(0.04, lo=0.0, hi=0.5, step=0.01, label="Step cost")
    max_steps: int = param(200, lo=10, hi=1000, help="steps before an episode is cut off")
    pace_ms: int = param(0, lo=0, hi=200, step=5, label="Slow motion (ms per episode)",
                         help="pause after each episode so you can watch the Q-table fill")
    device: str = param("cpu", choices=("auto", "cpu", "cuda"),
                        help="tabular methods run in NumPy; kept for the common protocol")

    def __post_init__(self) -> None:
        parse_layout(self.layout)


def parse_layout(layout: str) -> np.ndarray:
    """Parse ``"...G/.#.P/S..."`` into a (H, W) array of single-character cells.

    Raises:
        ValueError: for ragged rows, unknown characters, sizes outside 1..12 x 2..16, or a grid
            without exactly one start and at least one goal.
    """
    rows = [r for r in str(layout).strip().split("/")]
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError("every row of the grid must have the same length")
    if not (1 <= len(rows) <= 12 and 2 <= len(rows[0]) <= 16):
        raise ValueError("the grid must be 1 to 12 rows by 2 to 16 columns")
    bad = set("".join(rows)) - set(CELLS)
    if bad:
        raise ValueError(f"unknown cell(s) {''.join(sorted(bad))!r}; use . # P G S")
    grid = np.array([list(r) for r in rows])
    if (grid == "S").sum() != 1:
        raise ValueError("the grid needs exactly one start cell S")
    if (grid == "G").sum() < 1:
        raise ValueError("the grid needs at least one goal cell G")
    return grid


class GridWorld:
    """The MDP of a layout: states are (row, col) cells; terminal cells are pits and goals."""

    def __init__(self, grid: np.ndarray, slip: float, step_cost: float) -> None:
        self.grid = grid
        self.h, self.w = grid.shape
        self.slip = slip
        self.step_cost = step_cost
        self.start = tuple(int(v) for v in np.argwhere(grid == "S")[0])

    def terminal(self, s: tuple[int, int]) -> bool:
        return self.grid[s] in "PG"

    def move(self, s: tuple[int, int], a: int) -> tuple[int, int]:
        r, c = s[0] + ACTIONS[a][0], s[1] + ACTIONS[a][1]
        if not (0 <= r < self.h and 0 <= c < self.w) or self.grid[r, c] == "#":
            return s
        return (r, c)

    def reward(self, s2: tuple[int, int]) -> float:
        cell = self.grid[s2]
        return -self.step_cost + (1.0 if cell == "G" else -1.0 if cell == "P" else 0.0)

    def transitions(self, s: tuple[int, int], a: int) -> list[tuple[float, tuple[int, int]]]:
        """``[(probability, next_state), ...]`` for taking action ``a`` in ``s``."""
        out = [(1.0 - self.slip, self.move(s, a))]
        if self.slip > 0:
            out += [(self.slip / 2, self.move(s, (a + 1) % 4)),
                    (self.slip / 2, self.move(s, (a + 3) % 4))]
        return out

    def step(self, s: tuple[int, int], a: int, rng: np.random.Generator
             ) -> tuple[tuple[int, int], float, bool]:
        """Sample one transition: ``(next_state, reward, done)``."""
        u = rng.random()
        if u < self.slip / 2:
            a = (a + 1) % 4
        elif u < self.slip:
            a = (a + 3) % 4
        s2 = self.move(s, a)
        return s2, self.reward(s2), self.terminal(s2)

    def states(self) -> list[tuple[int, int]]:
        """All non-wall, non-terminal cells."""
        return [(r, c) for r in range(self.h) for c in range(self.w)
                if self.grid[r, c] not in "#PG"]


def transition_model(env: GridWorld) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """The MDP as arrays over its non-terminal states ``S`` (:meth:`GridWorld.states`) and every
    cell as a successor: ``(states, P, R)`` with ``P`` (S, 4, H*W) the probability of each next
    cell and ``R`` (H*W,) the reward of entering it; ``terminal`` cells keep value 0."""
    states = env.states()
    P = np.zeros((len(states), 4, env.h * env.w))
    for i, s in enumerate(states):
        for a in range(4):
            for p, (r, c) in env.transitions(s, a):
                P[i, a, r * env.w + c] += p
    R = np.array([env.reward((r, c)) for r in range(env.h) for c in range(env.w)])
    return states, P, R


def value_iteration(env: GridWorld, gamma: float, tol: float = 1e-8, max_iter: int = 10_000
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values by value iteration, ``V(s) <- max_a sum_s' P(s'|s,a) [r(s') + gamma
    V(s')]`` (Sutton & Barto, ch. 4.4), all states at once, until the largest change is below
    ``tol`` or after ``max_iter`` sweeps (about a second for a 16x16 grid at gamma 0.999).

    Returns:
        ``(V, Q)``: V (H, W) with 0 on walls and terminals, Q (H, W, 4) the optimal
        action values ``Q*(s, a) = sum_s' P(s'|s,a) [r(s') + gamma V*(s')]``.
    """
    states, P, R = transition_model(env)
    idx = np.array([r * env.w + c for r, c in states], dtype=np.int64)
    V = np.zeros(env.h * env.w)
    q = np.zeros((len(states), 4))
    for _ in range(max_iter):
        q = P @ (R + gamma * V)  # (S, 4); terminal and wall cells keep V = 0
        best = q.max(axis=1)
        delta = float(np.abs(best - V[idx]).max()) if len(idx) else 0.0
        V[idx] = best
        if delta < tol:
            break
    Q = np.zeros((env.h, env.w, 4))
    for i, s in enumerate(states):
        Q[s] = q[i]
    return V.reshape(env.h, env.w), Q


def reachable(env: GridWorld) -> list[tuple[int, int]]:
    """Non-terminal cells reachable from the start (breadth-first over all actions)."""
    seen, frontier = {env.start}, [env.start]
    while frontier:
        s = frontier.pop()
        if env.terminal(s):
            continue
        for a in range(4):
            s2 = env.move(s, a)
            if s2 not in seen:
                seen.add(s2)
                frontier.append(s2)
    return [s for s in seen if not env.terminal(s)]


def policy_agreement(Q: np.ndarray, Q_star: np.ndarray, states: list[tuple[int, int]],
                     tol: float = 1e-3) -> float:
    """Share of ``states`` where the greedy action of ``Q`` is optimal under ``Q_star``
    (within ``tol`` of the best optimal value, so ties count as agreement)."""
    if not states:
        return 1.0
    ok = [Q_star[s][int(np.argmax(Q[s]))] >= Q_star[s].max() - tol for s in states]
    return float(np.mean(ok))


def epsilon_greedy(q: np.ndarray, eps: float, rng: np.random.Generator) -> int:
    """A random action with probability ``eps``, else a greedy one (ties broken at random)."""
    if rng.random() < eps:
        return int(rng.integers(4))
    best = np.flatnonzero(q == q.max())
    return int(rng.choice(best))


def td_episode(env: GridWorld, Q: np.ndarray, cfg: GridConfig, eps: float,
               rng: np.random.Generator) -> tuple[float, list[tuple[int, int]]]:
    """One ε-greedy episode of Q-learning or SARSA, updating ``Q`` in place (Sutton & Barto,
    6.4-6.5). Returns ``(return, cells visited from the start)``."""
    s, ret, path = env.start, 0.0, [env.start]
    a = epsilon_greedy(Q[s], eps, rng)
    for _t in range(cfg.max_steps):
        s2, r, done = env.step(s, a, rng)
        a2 = epsilon_greedy(Q[s2], eps, rng)
        if done:
            target = r
        elif cfg.algorithm == "q_learning":
            target = r + cfg.gamma * Q[s2].max()
        else:  # SARSA: bootstrap from the action actually taken next
            target = r + cfg.gamma * Q[s2][a2]
        Q[s][a] += cfg.alpha * (target - Q[s][a])
        ret += r
        s, a = s2, a2
        path.append(s)
        if done:
            break
    return ret, path


def train(cfg: GridConfig) -> Iterator[Snapshot]:
    """Run Q-learning or SARSA for ``cfg.episodes`` episodes; one step = one episode.

    Metrics: ``episode_return``, ``steps`` (episode length), ``epsilon``, ``value_gap``
    (mean |max_a Q - V*| over reachable states), ``policy_agreement`` (share of reachable states
    whose greedy action is optimal), ``eval_return`` (greedy policy's return, mean of 20
    episodes, at snapshots). Artifacts: ``q`` (H, W, 4), ``v_star``, ``q_star``, ``path`` (the
    last episode's cells), ``grid``.
    """
    start(cfg)
    grid = parse_layout(cfg.layout)
    env = GridWorld(grid, cfg.slip, cfg.step_cost)
    V_star, Q_star = value_iteration(env, cfg.gamma)
    states = reachable(env)
    rng = np.random.default_rng(cfg.seed)
    Q = np.zeros((env.h, env.w, 4))
    eps = cfg.epsilon_start
    tick = Ticker(total=cfg.episodes)
    for episode in range(1, cfg.episodes + 1):
        ret, path = td_episode(env, Q, cfg, eps, rng)
        eps = max(cfg.epsilon_end, eps * cfg.epsilon_decay)
        pace_s = cfg.pace_ms / 1000  # the engine waits it out; the run holds no slot meanwhile
        if not tick(episode):
            if pace_s:
                yield Snapshot(episode, tick.elapsed, {}, total_steps=cfg.episodes, pace_s=pace_s)
            continue
        gap = np.mean([abs(Q[s].max() - V_star[s]) for s in states]) if states else 0.0
        metrics = {"episode_return": ret, "steps": float(len(path) - 1), "epsilon": eps,
                   "value_gap": float(gap),
                   "policy_agreement": policy_agreement(Q, Q_star, states),
                   # a fresh generator per evaluation: the same slips however many came before
                   "eval_return": greedy_return(env, Q, np.random.default_rng(cfg.seed + 10_000),
                                                cfg.max_steps)}
        yield Snapshot(episode, tick.elapsed, metrics,
                       {"q": Q.copy(), "v_star": V_star, "q_star": Q_star, "path": path,
                        "grid": grid},
                       total_steps=cfg.episodes, final=episode == cfg.episodes, pace_s=pace_s)


def greedy_return(env: GridWorld, Q: np.ndarray, rng: np.random.Generator, max_steps: int,
                  episodes: int = 20) -> float:
    """Mean return of the greedy policy of ``Q`` over ``episodes`` sampled episodes."""
    total = 0.0
    for _ in range(episodes):
        s = env.start
        for _t in range(max_steps):
            s, r, done = env.step(s, int(np.argmax(Q[s])), rng)
            total += r
            if done:
                break
    return total / episodes


def paint(layout: str, row: int, col: int, cell: str) -> str:
    """``layout`` with cell ``(row, col)`` set to ``cell`` (one of ``. # P G S``), or emptied if
    it already is that cell; painting a start moves the single start there."""
    rows = [list(r) for r in layout.split("/")]
    if cell == "S":
        rows = [["." if ch == "S" else ch for ch in r] for r in rows]
    rows[row][col] = cell if rows[row][col] != cell else "."
    return "/".join("".join(r) for r in rows)


def greedy_arrows(q: np.ndarray) -> np.ndarray:
    """The greedy action(s) of ``Q`` (H, W, 4) as arrows per cell, (H, W) str; ties give several
    arrows, an all-zero (unvisited) cell none."""
    h, w, _ = q.shape
    out = np.full((h, w), "", dtype=object)
    for r in range(h):
        for c in range(w):
            if not np.allclose(q[r, c], 0):
                best = np.flatnonzero(np.isclose(q[r, c], q[r, c].max(), atol=1e-9))
                out[r, c] = "".join(ARROWS[a] for a in best)
    return out


DEMOS = [Demo("gridworld", GridConfig, train, title="Grid-world Q-learning",
              description="Tabular Q-learning / SARSA on an editable grid vs value iteration.")]
