"""Soft actor-critic (Haarnoja et al. 2018), model-free: the learner of ``learners/sac.py`` on real experience.

The paper's Algorithm 1:

    initialise theta_1, theta_2, phi; theta_bar_i <- theta_i; D <- {}
    for each iteration:
        for each environment step:
            a_t ~ pi_phi(a_t | s_t);  s_t+1 ~ p(s_t+1 | s_t, a_t);  D <- D u {(s_t, a_t, r_t, s_t+1)}
        for each gradient step:
            update theta_i, phi, alpha, theta_bar_i (learners/sac.py: SAC.update)

Here both loops run once per real step (``updates_per_step`` gradient steps after each), after
``learning_starts`` uniformly random steps (the loop is ``algorithms/_off_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, train_off_policy
from reverie.algorithms.base import TinyRun
from reverie.learners.sac import SAC, SACConfig

NAME = "sac"
EVALUATES_POLICY = True  # --eval-every evaluates the deterministic policy tanh(mu(s))
TINY = TinyRun("Pendulum-v1", {"hidden_size": "16", "batch_size": "8", "learning_starts": "50"}, episodes=2,
               split_at=1)  # fmt: skip


@dataclass
class Config(SACConfig, OffPolicyConfig):
    """SAC on real data; every default is Stable-Baselines3 2.9's, so the two can be compared as they ship."""

    def __post_init__(self):
        SACConfig.__post_init__(self)
        OffPolicyConfig.__post_init__(self)


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run SAC on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    obs_dim, space = env.observation_space.shape[0], env.action_space
    return train_off_policy(env, config, run, lambda: SAC(obs_dim, space.low, space.high, config), "sac")
