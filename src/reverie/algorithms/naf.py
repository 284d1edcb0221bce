"""NAF: normalized advantage functions (Gu, Lillicrap, Sutskever & Levine 2016), model-free, on real data.

The paper's Algorithm 1 (Continuous Q-Learning with NAF):

    randomly initialise the normalized Q network Q(x, u | theta); target network theta' <- theta; replay buffer R
    for each episode:
        for t = 1..T:
            u_t = mu(x_t | theta) + N_t  (exploration noise);  execute u_t, observe r_t, x_t+1;  store in R
            for iteration = 1..I:
                sample a minibatch of m transitions from R
                y_i = r_i + gamma V'(x'_i | theta');  minimise 1/2 mean (y_i - Q(x_i, u_i | theta))^2
                theta' <- tau theta + (1 - tau) theta'                            (learners/naf.py: NAF.update)

I is ``updates_per_step``; the loop around the update is ``algorithms/_off_policy.py`` (uniform random actions for
the first ``learning_starts`` steps, as for SAC and TD3).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, train_off_policy
from reverie.algorithms.base import TinyRun
from reverie.learners.naf import NAF, NAFConfig

NAME = "naf"
EVALUATES_POLICY = True  # --eval-every evaluates the greedy policy mu(s)
TINY = TinyRun("Pendulum-v1", {"hidden_size": "16", "batch_size": "8", "learning_starts": "50"}, episodes=2,
               split_at=1)  # fmt: skip


@dataclass
class Config(NAFConfig, OffPolicyConfig):
    """NAF on real data: the learner's settings and the off-policy loop's (Stable-Baselines3's buffer defaults)."""

    updates_per_step: int = 5  # I, NAF steps per real step (1 learned Pendulum-v1 3x slower, docs/algorithms/naf.md)

    def __post_init__(self):
        NAFConfig.__post_init__(self)
        OffPolicyConfig.__post_init__(self)


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run NAF on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    obs_dim, space = env.observation_space.shape[0], env.action_space
    return train_off_policy(env, config, run, lambda: NAF(obs_dim, space.low, space.high, config), "naf")
