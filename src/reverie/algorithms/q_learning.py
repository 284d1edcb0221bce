"""Q-learning (Watkins 1989): the model-free baseline, Dyna-Q with N = 0 planning steps.

Loop (Sutton & Barto 2018, section 6.5), one real step at a time:

    A <- epsilon-greedy(S, Q)
    (S', R) <- E(S, A)                                 act in the real environment
    Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]
"""

from __future__ import annotations

from dataclasses import dataclass

from reverie.algorithms._tabular import TabularConfig, train_algorithm
from reverie.algorithms.base import TinyRun
from reverie.jit import kernel
from reverie.learners.tabular_q import q_backup

NAME = "q-learning"
TINY = TinyRun("reverie/DynaMaze-v0", {})  # the contract test's run


@dataclass
class Config(TabularConfig):
    """Q-learning settings: step size, discount and exploration (no model is learned)."""


@kernel
def step(state, transition, params):
    """One real transition = (s, a, r, s2, terminated); params = (alpha, gamma, unused, unused)."""
    alpha, gamma = params[0], params[1]
    # Q(S,A) <- Q(S,A) + alpha [R + gamma max_a Q(S',a) - Q(S,A)]     direct RL update
    q_backup(state.q, transition, alpha, gamma)
    state.updates[0] += 1


def train(env, config: Config, run) -> dict:
    """Learn Q from real experience only, until the run's budget is spent."""
    return train_algorithm(env, config, run, NAME, step)
