"""The strict model-only loop of the lecture ("Strict Learned Dynamics Model"): real samples only
teach the model; the policy is improved *only* by planning in the learned model.

    repeat:
        sample env E to get (s, a, r, s')              act epsilon-greedily in the real environment
        learn model M = T_a(s, s'), R_a(s, s')
        for n = 1..N: update the policy using M        imagined Q updates only

Compared with Dyna-Q the direct update is gone, so with N = 0 nothing is ever learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from reverie.algorithms._tabular import DynaConfig, train_algorithm
from reverie.algorithms.base import TinyRun
from reverie.jit import kernel
from reverie.learners.tabular_q import q_backup
from reverie.models.tabular import observe, query, sample_pair

NAME = "dyna-q-strict"
TINY = TinyRun("reverie/DynaMaze-v0", {"planning_steps": "5"})  # the contract test's run


@dataclass
class Config(DynaConfig):
    """Strict model-based settings (Figure 8.2's, N = 50); N >= 1, since planning is all that learns."""

    MIN_PLANNING_STEPS: ClassVar[int] = 1


@kernel
def step(state, transition, params):
    """One real transition = (s, a, r, s2, terminated); params = (alpha, gamma, planning_steps, unused)."""
    s, a, r, s2, terminated = transition
    alpha, gamma, planning_steps = params[0], params[1], int(params[2])
    # learn model M = T_a(s, s'), R_a(s, s')        (no direct update of the policy)
    observe(state.model, s, a, r, s2, terminated)
    # for n = 1..N: update policy using M
    for _ in range(planning_steps):
        s_hat, a_hat = sample_pair(state.model, state.rng)
        s2_hat, r_hat, terminated_hat = query(state.model, s_hat, a_hat, state.rng)
        q_backup(state.q, (s_hat, a_hat, r_hat, s2_hat, terminated_hat), alpha, gamma)
    state.updates[0] += planning_steps


def train(env, config: Config, run) -> dict:
    """Run the strict model-only loop on ``env`` until the run's budget is spent."""
    return train_algorithm(env, config, run, NAME, step)
