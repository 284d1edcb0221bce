"""Dyna-Q (Sutton 1990), the hybrid loop: every real sample updates Q directly *and* the model, then
N imagined samples from the model update Q again.

Lecture pseudocode ("Dyna-Q Algorithm"), one real step at a time:

    a <- epsilon-greedy(s, Q)
    (s', r) <- E(s, a)                                 learn from the environment
    Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]
    M(s,a) <- (s', r)
    for n = 1..N:
        select s^, a^ at random (previously observed)
        (s', r) <- M(s^, a^)                           imagined state and reward
        Q(s^,a^) <- Q(s^,a^) + alpha [r + gamma max_a' Q(s',a') - Q(s^,a^)]
"""

from __future__ import annotations

from dataclasses import dataclass

from reverie.algorithms._tabular import DynaConfig, train_algorithm
from reverie.algorithms.base import TinyRun
from reverie.jit import kernel
from reverie.learners.tabular_q import q_backup
from reverie.models.tabular import observe, query, sample_pair

NAME = "dyna-q"
TINY = TinyRun("reverie/DynaMaze-v0", {"planning_steps": "5"})  # the contract test's run


@dataclass
class Config(DynaConfig):
    """Dyna-Q settings (defaults: Figure 8.2 with N = 50; N = 0 gives Q-learning)."""


@kernel
def step(state, transition, params):
    """One real transition = (s, a, r, s2, terminated); params = (alpha, gamma, planning_steps, unused)."""
    s, a, r, s2, terminated = transition
    alpha, gamma, planning_steps = params[0], params[1], int(params[2])
    # Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]     direct RL update
    q_backup(state.q, transition, alpha, gamma)
    # M(s,a) <- (s', r)                                                 model learning
    observe(state.model, s, a, r, s2, terminated)
    # for n = 1..N:                                                      planning (imagination)
    for _ in range(planning_steps):
        #   select s^, a^ at random among previously observed pairs
        s_hat, a_hat = sample_pair(state.model, state.rng)
        #   (s', r) <- M(s^, a^)
        s2_hat, r_hat, terminated_hat = query(state.model, s_hat, a_hat, state.rng)
        #   Q(s^,a^) <- Q(s^,a^) + alpha [r + gamma max_a' Q(s',a') - Q(s^,a^)]
        q_backup(state.q, (s_hat, a_hat, r_hat, s2_hat, terminated_hat), alpha, gamma)
    state.updates[0] += 1 + planning_steps


def train(env, config: Config, run) -> dict:
    """Run Dyna-Q on ``env`` until the run's budget is spent."""
    return train_algorithm(env, config, run, NAME, step)
