"""Tabular Q-learning / SARSA against value iteration on the grid world."""

import numpy as np
import pytest

from core.protocol import config_from_strings
from core.rl import gridworld as gw


def final(cfg: gw.GridConfig):
    *_, last = gw.train(cfg)
    return last


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q_learning_converges_to_the_value_iteration_policy(seed):
    last = final(gw.GridConfig(seed=seed))
    assert last.metrics["policy_agreement"] == 1.0
    env = gw.GridWorld(gw.parse_layout(gw.GridConfig().layout), 0.0, 0.04)
    _, q_star = gw.value_iteration(env, 0.95)
    optimal = gw.greedy_return(env, q_star, np.random.default_rng(0), 200)
    assert last.metrics["eval_return"] == pytest.approx(optimal, abs=1e-9)  # 5 steps: 1 - 5*0.04


def test_value_iteration_matches_a_hand_computed_value():
    env = gw.GridWorld(gw.parse_layout("S.G"), slip=0.0, step_cost=0.1)
    v, q = gw.value_iteration(env, gamma=0.9)
    assert v[0, 1] == pytest.approx(0.9)  # one step to the goal: -0.1 + 1
    assert v[0, 0] == pytest.approx(-0.1 + 0.9 * 0.9)
    assert np.argmax(q[0, 0]) == 1  # right


def test_slip_makes_the_optimal_policy_avoid_the_pit():
    cfg = gw.GridConfig(slip=0.2)
    env = gw.GridWorld(gw.parse_layout(cfg.layout), cfg.slip, cfg.step_cost)
    _, q_slip = gw.value_iteration(env, cfg.gamma)
    # cell (1, 2) is right above the pit's row neighbour: with slip it must not head for the pit
    assert np.argmax(q_slip[1, 2]) != 1


def test_sarsa_learns_and_episode_returns_improve():
    snaps = list(gw.train(gw.GridConfig(algorithm="sarsa", seed=3)))
    assert snaps[-1].metrics["eval_return"] > 0.5
    assert snaps[-1].metrics["value_gap"] < snaps[0].metrics["value_gap"] + 0.5


@pytest.mark.parametrize("layout, message", [
    ("S../..G.", "same length"), ("...G/....", "exactly one start"), ("S.xG", "unknown cell")])
def test_layout_errors_are_clear(layout, message):
    with pytest.raises(ValueError, match=message):
        gw.parse_layout(layout)


@pytest.mark.parametrize("old_key, value, field", [
    ("epsilon", "0.5", "epsilon_start"), ("epsilon_min", "0.2", "epsilon_end")])
def test_old_field_names_still_set_the_renamed_fields(old_key, value, field):
    """Links and commands written before the renames keep their settings."""
    cfg = config_from_strings(gw.GridConfig, {old_key: value})
    assert getattr(cfg, field) == float(value) != getattr(gw.GridConfig(), field)


def test_epsilon_decays_from_start_to_end():
    snaps = list(gw.train(gw.GridConfig(epsilon_start=0.5, epsilon_decay=0.9, epsilon_end=0.2,
                                        episodes=20)))
    assert snaps[0].metrics["epsilon"] == pytest.approx(0.45)  # after the first episode
    assert snaps[-1].metrics["epsilon"] == pytest.approx(0.2)


def test_painting_cells_and_greedy_arrows():
    assert gw.paint("S..G", 0, 2, "#") == "S.#G"
    assert gw.paint("S.#G", 0, 2, "#") == "S..G"  # painting the same cell again empties it
    assert gw.paint("S..G", 0, 1, "S") == ".S.G"  # there is one start
    q = np.zeros((1, 2, 4))
    q[0, 1] = [0.5, 0.5, 0.1, 0.0]
    assert gw.greedy_arrows(q).tolist() == [["", "↑→"]]
