"""Deep Q-learning (DQN) on CartPole-v1, written as a readable reference implementation.

The agent learns action values ``Q(s, a)`` with a neural network and acts ε-greedily on them.
Training minimises the Huber loss between ``Q(s, a)`` and the one-step Bellman target

    y = r + γ (1 - terminated) max_a' Q_target(s', a')
    (Double DQN: y = r + γ (1 - terminated) Q_target(s', argmax_a' Q(s', a')))

on mini-batches drawn from a :class:`ReplayBuffer` of past transitions, with a *target network*
``Q_target`` that is a delayed copy of the online network (hard copy every
``target_update_period`` gradient steps, or a soft Polyak update with ``tau < 1``).
The loop in :func:`train` follows CleanRL's ``dqn.py``: :func:`linear_schedule`, the
Q-network (:func:`q_network`), a :class:`ReplayBuffer`, then act / store / train / evaluate.

References:
    Mnih et al., "Human-level control through deep reinforcement learning", Nature 518 (2015).
    van Hasselt, Guez & Silver, "Deep Reinforcement Learning with Double Q-learning", AAAI 2016.
    Hessel et al., "Rainbow: Combining Improvements in Deep Reinforcement Learning", AAAI 2018
    (n-step returns). Huang et al., "CleanRL", JMLR 23 (2022).
    Defaults: rl-baselines3-zoo's DQN for CartPole-v1 (lr 2.3e-3, batch 64, buffer 1e5, learning
    starts 1000, γ 0.99, train frequency 256, exploration fraction 0.16, final ε 0.04) with a
    64 x 64 network, 64 gradient steps per training phase, 3-step returns, Double DQN and a
    learning rate decayed to 10% (bench/results/dqn.md: solves CartPole-v1 stably).

Modules: :mod:`~core.rl.dqn.env` (CartPole-v1), :mod:`~.model` (Q-network, ε schedule,
loss, target update), :mod:`~.replay` (replay buffer, n-step returns), :mod:`~.evaluation`
(greedy returns, the Q-value slice, a rendered episode), :mod:`~.train` (config, trainer,
demo ``dqn``).

Shapes: observations ``(B, 4)`` float32 (cart position [m], cart velocity [m/s], pole angle
[rad], pole angular velocity [rad/s]); actions ``(B,)`` int64 in {0 = push left, 1 = push right};
``q_values`` ``(B, 2)``. Returns are sums of rewards (CartPole pays +1 per step, at most 500).

A finished run publishes its Q-network's weights at every evaluation as
:data:`core.handoff.POLICIES` (the Decision Transformer's offline dataset).
"""

from core.rl.dqn.env import *  # noqa: F403
from core.rl.dqn.evaluation import *  # noqa: F403
from core.rl.dqn.model import *  # noqa: F403
from core.rl.dqn.replay import *  # noqa: F403
from core.rl.dqn.train import *  # noqa: F403
