"""Reinforcement learning: tabular Q-learning, DQN, and the Decision Transformer."""
