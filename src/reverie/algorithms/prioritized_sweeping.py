"""Prioritized sweeping (Moore & Atkeson 1993; Sutton & Barto 2018, section 8.4): plan on the pairs
whose values would change most, working backwards from the states whose values just changed.

    a <- epsilon-greedy(s, Q); (s', r) <- E(s, a)
    M(s,a) <- (s', r)
    P <- |r + gamma max_a' Q(s',a') - Q(s,a)|;  if P > theta: insert (s,a) into PQueue with P
    repeat N times while PQueue is not empty:
        (s^,a^) <- first(PQueue); (s', r) <- M(s^, a^)
        Q(s^,a^) <- Q(s^,a^) + alpha [r + gamma max_a' Q(s',a') - Q(s^,a^)]
        for all (s_,a_) predicted to lead to s^:
            r_ <- predicted reward of (s_, a_, s^)
            P <- |r_ + gamma max_a Q(s^,a) - Q(s_,a_)|;  if P > theta: insert (s_,a_) with P

A pair already queued keeps the higher of its priorities. As in the book, real samples reach Q only
through the queue (no separate direct update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from reverie.algorithms._tabular import DynaConfig, train_algorithm
from reverie.algorithms.base import TinyRun, check_range
from reverie.jit import kernel
from reverie.learners.tabular_q import max_q, q_backup
from reverie.models.tabular import edge_is_current, observe, predicted_reward, query
from reverie.planners.priority_queue import pop, push

NAME = "prioritized-sweeping"
TINY = TinyRun("reverie/DynaMaze-v0", {"planning_steps": "5"})  # the contract test's run


@dataclass
class Config(DynaConfig):
    """Prioritized-sweeping settings (defaults: Example 8.4). N counts queue pops per real step and must be
    at least 1: real samples reach Q only through the queue."""

    alpha: float = 0.5
    planning_steps: int = 5
    theta: float = 1e-4  # smallest priority that enters the queue

    MIN_PLANNING_STEPS: ClassVar[int] = 1

    def __post_init__(self):
        super().__post_init__()
        check_range("theta", self.theta, 0.0, math.inf)

    def params(self) -> tuple:
        return (self.alpha, self.gamma, float(self.planning_steps), self.theta)


@kernel
def _priority(q, transition, gamma):
    """|r + gamma max_a' Q(s',a') - Q(s,a)| of transition = (s, a, r, s2, terminated), without updating Q."""
    s, a, r, s2, terminated = transition
    target = r if terminated else r + gamma * max_q(q, s2)
    return abs(target - q[s, a])


@kernel
def step(state, transition, params):
    """One real transition = (s, a, r, s2, terminated); params = (alpha, gamma, planning_steps, theta)."""
    s, a, r, s2, terminated = transition
    alpha, gamma, planning_steps, theta = params[0], params[1], int(params[2]), params[3]
    model, queue, q = state.model, state.queue, state.q
    n_actions = q.shape[1]
    # M(s,a) <- (s', r)
    observe(model, s, a, r, s2, terminated)
    # P <- |r + gamma max_a' Q(s',a') - Q(s,a)|; if P > theta, insert (s,a) into PQueue
    priority = _priority(q, transition, gamma)
    if priority > theta:
        push(queue, s * n_actions + a, priority)
    # repeat N times, while PQueue is not empty
    for _ in range(planning_steps):
        if queue.size[0] == 0:
            break
        # (s^,a^) <- first(PQueue); (s', r) <- M(s^, a^); Q update
        pair = pop(queue)
        s_hat, a_hat = pair // n_actions, pair % n_actions
        s2_hat, r_hat, terminated_hat = query(model, s_hat, a_hat, state.rng)
        q_backup(q, (s_hat, a_hat, r_hat, s2_hat, terminated_hat), alpha, gamma)
        state.updates[0] += 1
        # for all (s_,a_) predicted to lead to s^: queue them by their own priority
        edge = model.first_into_target[s_hat]
        while edge >= 0:
            if edge_is_current(model, edge):
                pred = model.edge_source[edge]
                s_bar, a_bar = pred // n_actions, pred % n_actions
                r_bar = predicted_reward(model, edge)
                priority = _priority(q, (s_bar, a_bar, r_bar, s_hat, model.edge_terminated[edge]), gamma)
                if priority > theta:
                    push(queue, pred, priority)
            edge = model.next_into_target[edge]


def train(env, config: Config, run) -> dict:
    """Run prioritized sweeping on ``env`` until the run's budget is spent."""
    return train_algorithm(env, config, run, NAME, step)
