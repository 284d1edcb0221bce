"""TD3 (Fujimoto et al. 2018), model-free, and DDPG (Lillicrap et al. 2016) as its preset ``ddpg``.

The paper's Algorithm 1:

    initialise critics Q_theta1, Q_theta2, actor pi_phi, targets theta_bar_i <- theta_i, phi_bar <- phi; buffer B
    for t = 1..T:
        a ~ pi_phi(s) + eps, eps ~ N(0, sigma);  observe r, s';  B <- B u {(s, a, r, s')}
        sample N transitions from B; one critic step, and every d steps an actor and target step
        (learners/td3.py: TD3.update)

The exploration noise, the number of critics, the delay d and the target smoothing are settings (``reverie list
td3``); the loop around them is ``algorithms/_off_policy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, train_off_policy
from reverie.algorithms.base import Preset, TinyRun
from reverie.learners.td3 import TD3, TD3Config

NAME = "td3"
EVALUATES_POLICY = True  # --eval-every evaluates the deterministic policy mu(s)
_TINY_KEYS = {"hidden_size": "16", "hidden_size_2": "8", "batch_size": "8", "learning_starts": "50"}
TINY = TinyRun("Pendulum-v1", _TINY_KEYS, episodes=2, split_at=1)

PRESETS = {
    "ddpg": Preset(
        "DDPG (Lillicrap et al. 2016) as Stable-Baselines3 2.9 runs it: one critic, no delay, no target smoothing",
        {"critics": 1, "policy_delay": 1, "target_noise": 0.0},
        tiny=TinyRun("Pendulum-v1", _TINY_KEYS, episodes=2, split_at=1),
    ),
}


@dataclass
class Config(TD3Config, OffPolicyConfig):
    """TD3 on real data; defaults are Stable-Baselines3 2.9's TD3 with the paper's N(0, 0.1) exploration noise."""

    def __post_init__(self):
        TD3Config.__post_init__(self)
        OffPolicyConfig.__post_init__(self)


def check_env(env: gym.Env, algo: str = NAME) -> None:
    check_box_env(env, algo)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run TD3 (or DDPG, by its settings) on ``env`` until the run's budget is spent; returns summary fields."""
    check_env(env)
    obs_dim, space = env.observation_space.shape[0], env.action_space
    return train_off_policy(env, config, run, lambda: TD3(obs_dim, space.low, space.high, config), "td3")
