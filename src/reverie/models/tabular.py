"""Learned tabular models M(s, a) -> (s', r, terminated), compiled with numba.

Two kinds share one layout:

- deterministic: M(s, a) returns the last outcome observed from (s, a) (Sutton & Barto, Dyna-Q);
- stochastic: transition counts n(s, a, s'); M(s, a) samples s' with probability n(s,a,s') / n(s,a)
  and returns the mean reward observed on that outcome, so Dyna plans correctly on slippery worlds.

Every distinct observed outcome (s, a) -> s' is an *edge*. Edges sit on two linked lists, one per
source pair (to sample successors) and one per target state (the predecessor lists of prioritized
sweeping), so memory grows with what was seen, not with n_states^2 * n_actions.

Pairs are indexed ``sa = s * n_actions + a``.
"""

from typing import NamedTuple

import numpy as np

from reverie.jit import kernel
from reverie.rng import randint


class TabularModel(NamedTuple):
    """Arrays of a learned tabular model (``S`` states, ``A`` actions, ``E`` edge capacity)."""

    stochastic: np.ndarray  # [1] bool: sample outcomes by counts instead of replaying the last one
    known: np.ndarray  # [S, A] bool: M(s, a) is defined (observed, or assumed as in Dyna-Q+)
    visits: np.ndarray  # [S, A] int64: real observations of (s, a)
    listed_states: np.ndarray  # [S] int64: states with a known action, in order of first visit
    n_listed_states: np.ndarray  # [1] int64
    listed_actions: np.ndarray  # [S, A] int64: known actions of each state
    n_listed_actions: np.ndarray  # [S] int64
    next_state: np.ndarray  # [S, A] int64: last outcome
    reward: np.ndarray  # [S, A] float64: last reward
    terminated: np.ndarray  # [S, A] bool: last termination flag
    edge_source: np.ndarray  # [E] int64: sa
    edge_target: np.ndarray  # [E] int64: s'
    edge_count: np.ndarray  # [E] int64: n(s, a, s')
    edge_reward_sum: np.ndarray  # [E] float64
    edge_terminated: np.ndarray  # [E] bool
    next_from_source: np.ndarray  # [E] int64: next edge with the same sa, -1 ends
    next_into_target: np.ndarray  # [E] int64: next edge with the same s', -1 ends
    first_from_source: np.ndarray  # [S * A] int64
    first_into_target: np.ndarray  # [S] int64
    n_edges: np.ndarray  # [1] int64


def make_model(n_states: int, n_actions: int, stochastic: bool, edge_capacity: int | None = None) -> TabularModel:
    """An empty model; ``edge_capacity`` defaults to 2 * n_states * n_actions and grows on demand."""
    cap = edge_capacity or 2 * n_states * n_actions
    sa = n_states * n_actions
    return TabularModel(
        np.array([stochastic]),
        np.zeros((n_states, n_actions), bool),
        np.zeros((n_states, n_actions), np.int64),
        np.zeros(n_states, np.int64),
        np.zeros(1, np.int64),
        np.zeros((n_states, n_actions), np.int64),
        np.zeros(n_states, np.int64),
        np.zeros((n_states, n_actions), np.int64),
        np.zeros((n_states, n_actions)),
        np.zeros((n_states, n_actions), bool),
        np.zeros(cap, np.int64),
        np.zeros(cap, np.int64),
        np.zeros(cap, np.int64),
        np.zeros(cap),
        np.zeros(cap, bool),
        np.full(cap, -1, np.int64),
        np.full(cap, -1, np.int64),
        np.full(sa, -1, np.int64),
        np.full(n_states, -1, np.int64),
        np.zeros(1, np.int64),
    )


def ensure_edge_room(model: TabularModel) -> TabularModel:
    """Double the edge arrays when full; one real observation adds at most one edge."""
    cap = model.edge_source.shape[0]
    if model.n_edges[0] < cap:
        return model
    grown = {}
    for name in TabularModel._fields:
        arr = getattr(model, name)
        if name.startswith(("edge_", "next_from", "next_into")):
            fill = -1 if name.startswith("next_") else 0
            extra = np.full(cap, fill, dtype=arr.dtype)
            arr = np.concatenate([arr, extra])
        grown[name] = arr
    return TabularModel(**grown)


@kernel(inline=True)
def _list_pair(model, s, a):
    if model.known[s, a]:
        return
    model.known[s, a] = True
    if model.n_listed_actions[s] == 0:
        model.listed_states[model.n_listed_states[0]] = s
        model.n_listed_states[0] += 1
    model.listed_actions[s, model.n_listed_actions[s]] = a
    model.n_listed_actions[s] += 1


@kernel(inline=True)
def _find_or_add_edge(model, sa, s2):
    edge = model.first_from_source[sa]
    while edge >= 0:
        if model.edge_target[edge] == s2:
            return edge
        edge = model.next_from_source[edge]
    edge = model.n_edges[0]
    if edge >= model.edge_source.shape[0]:
        raise RuntimeError("tabular model edge arrays are full (call ensure_edge_room first)")
    model.n_edges[0] += 1
    model.edge_source[edge] = sa
    model.edge_target[edge] = s2
    model.next_from_source[edge] = model.first_from_source[sa]
    model.first_from_source[sa] = edge
    model.next_into_target[edge] = model.first_into_target[s2]
    model.first_into_target[s2] = edge
    return edge


@kernel(inline=True)
def observe(model, s, a, r, s2, terminated):
    """M(s, a) <- (s', r): record one real transition."""
    _list_pair(model, s, a)
    edge = _find_or_add_edge(model, s * model.known.shape[1] + a, s2)
    model.edge_count[edge] += 1
    model.edge_reward_sum[edge] += r
    model.edge_terminated[edge] = terminated
    model.visits[s, a] += 1
    model.next_state[s, a] = s2
    model.reward[s, a] = r
    model.terminated[s, a] = terminated


@kernel
def assume(model, s, a, s2, r):
    """Define M(s, a) = (s2, r) without an observation (Dyna-Q+'s model of untried actions)."""
    if model.known[s, a]:
        return
    _list_pair(model, s, a)
    model.next_state[s, a] = s2
    model.reward[s, a] = r
    model.terminated[s, a] = False


@kernel(inline=True)
def sample_pair(model, rng):
    """A previously seen state at random, then one of its known actions at random."""
    s = model.listed_states[randint(rng, model.n_listed_states[0])]
    a = model.listed_actions[s, randint(rng, model.n_listed_actions[s])]
    return s, a


@kernel(inline=True)
def query(model, s, a, rng):
    """(s', r, terminated) ~ M(s, a): the last outcome, or a count-weighted sample if stochastic."""
    if not model.stochastic[0] or model.visits[s, a] == 0:
        return model.next_state[s, a], model.reward[s, a], model.terminated[s, a]
    pick = randint(rng, model.visits[s, a])
    edge = model.first_from_source[s * model.known.shape[1] + a]
    while pick >= model.edge_count[edge]:
        pick -= model.edge_count[edge]
        edge = model.next_from_source[edge]
    mean_reward = model.edge_reward_sum[edge] / model.edge_count[edge]
    return model.edge_target[edge], mean_reward, model.edge_terminated[edge]


@kernel
def predicted_reward(model, edge):
    """R(s_bar, a_bar, s) the model predicts on one edge: its last reward, or its mean if stochastic."""
    if model.stochastic[0]:
        return model.edge_reward_sum[edge] / model.edge_count[edge]
    sa = model.edge_source[edge]
    n_actions = model.known.shape[1]
    return model.reward[sa // n_actions, sa % n_actions]


@kernel
def edge_is_current(model, edge):
    """Whether an edge is still part of the model (a deterministic model forgets replaced outcomes)."""
    if model.stochastic[0]:
        return True
    sa = model.edge_source[edge]
    n_actions = model.known.shape[1]
    return model.next_state[sa // n_actions, sa % n_actions] == model.edge_target[edge]
