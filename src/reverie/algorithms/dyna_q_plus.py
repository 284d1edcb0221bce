"""Dyna-Q+ (Sutton & Barto 2018, section 8.3): Dyna-Q with an exploration bonus in planning, so the
agent re-tests parts of the world it has not visited for a while and notices when the world changes.

    a <- epsilon-greedy(s, Q); (s', r) <- E(s, a)
    if s is new: M(s, b) <- (s, 0) for every untried b      untried actions lead back, reward 0
    Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]
    M(s,a) <- (s', r); tau(s,a) <- 0
    for n = 1..N:
        s^, a^ random previously seen; (s', r) <- M(s^, a^)
        Q(s^,a^) <- Q(s^,a^) + alpha [r + kappa sqrt(tau(s^,a^)) + gamma max_a' Q(s',a') - Q(s^,a^)]

tau(s, a) is the number of real steps since (s, a) was last tried (kept as the step it was tried).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from reverie.algorithms._tabular import DynaConfig, train_algorithm
from reverie.algorithms.base import TinyRun, check_range
from reverie.jit import kernel
from reverie.learners.tabular_q import q_backup
from reverie.models.tabular import assume, observe, query, sample_pair

NAME = "dyna-q-plus"
TINY = TinyRun("reverie/BlockingMaze-v0", {"planning_steps": "5"})  # the contract test's run


@dataclass
class Config(DynaConfig):
    """Dyna-Q+ settings (defaults: the book's companion code for Figure 8.4)."""

    alpha: float = 1.0
    planning_steps: int = 10
    kappa: float = 1e-4  # weight of the sqrt(tau) exploration bonus

    def __post_init__(self):
        super().__post_init__()
        check_range("kappa", self.kappa, 0.0, math.inf)

    def params(self) -> tuple:
        return (self.alpha, self.gamma, float(self.planning_steps), self.kappa)


@kernel
def step(state, transition, params):
    """One real transition = (s, a, r, s2, terminated); params = (alpha, gamma, planning_steps, kappa)."""
    s, a, r, s2, terminated = transition
    alpha, gamma, planning_steps, kappa = params[0], params[1], int(params[2]), params[3]
    model = state.model
    state.clock[0] += 1
    # a state seen for the first time: its untried actions are modelled as leading back to it
    # with reward 0, so planning may consider them (the book's footnote to Figure 8.4)
    if model.n_listed_actions[s] == 0:
        for untried in range(state.q.shape[1]):
            if untried != a:
                assume(model, s, untried, s, 0.0)
    # Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]     direct RL update
    q_backup(state.q, transition, alpha, gamma)
    # M(s,a) <- (s', r); tau(s,a) <- 0                                   model learning
    observe(model, s, a, r, s2, terminated)
    state.last_tried[s, a] = state.clock[0]
    # for n = 1..N: plan with the bonus reward r + kappa sqrt(tau)
    for _ in range(planning_steps):
        s_hat, a_hat = sample_pair(model, state.rng)
        s2_hat, r_hat, terminated_hat = query(model, s_hat, a_hat, state.rng)
        tau = state.clock[0] - state.last_tried[s_hat, a_hat]
        bonus = kappa * math.sqrt(tau)
        q_backup(state.q, (s_hat, a_hat, r_hat + bonus, s2_hat, terminated_hat), alpha, gamma)
    state.updates[0] += 1 + planning_steps


def train(env, config: Config, run) -> dict:
    """Run Dyna-Q+ on ``env`` until the run's budget is spent."""
    return train_algorithm(env, config, run, NAME, step)
