"""Whole runs of a tabular algorithm in machine code on a known deterministic maze, for benchmarks.

The kernel calls the algorithms' own ``step`` functions (the code ``reverie train`` runs, on the same
random stream), chosen by an integer code rather than passed as a function object: numba cannot cache
a kernel that takes a function argument, and recompiling it cost ~1.5 s per algorithm per process.
"""

from __future__ import annotations

import numpy as np

from reverie.algorithms import dyna_q, dyna_q_plus, dyna_q_strict, prioritized_sweeping, q_learning
from reverie.algorithms._tabular import make_state
from reverie.envs.mazes import TransitionTable
from reverie.errors import UserError
from reverie.jit import kernel
from reverie.learners.tabular_q import argmax_q, epsilon_greedy

CODES = {
    module.NAME: code
    for code, module in enumerate((q_learning, dyna_q, dyna_q_strict, dyna_q_plus, prioritized_sweeping))
}


@kernel(inline=True)
def _step(code, state, transition, params):
    if code == 0:
        q_learning.step(state, transition, params)
    elif code == 1:
        dyna_q.step(state, transition, params)
    elif code == 2:
        dyna_q_strict.step(state, transition, params)
    elif code == 3:
        dyna_q_plus.step(state, transition, params)
    else:
        prioritized_sweeping.step(state, transition, params)


@kernel
def _greedy_path_within(q, table, start, bound):
    """Whether following argmax Q (first maximum) from ``start`` terminates within ``bound`` steps."""
    s = start
    for _ in range(bound):
        a = argmax_q(q, s)
        if table.terminated[s, a]:
            return True
        s = table.next_state[s, a]
    return False


@kernel
def simulate(algorithm, state, maze, budget, out):
    """Run one agent on a deterministic maze entirely in machine code.

    The arguments come in tuples, not a long positional list that a call could silently reorder. The
    kernels group rather than take keyword-only parameters, which numba cannot bind when one kernel
    calls another; a tuple names its parts where it is unpacked and costs nothing once compiled.

    algorithm = (code, params, epsilon): the step's ``CODES`` entry, its Config's ``params()`` and the
    behaviour policy's exploration rate.
    maze = (before, after, switch_step, start): TransitionTable in force before / from lifetime step
    ``switch_step`` (-1: never), and the start state of every episode.
    budget = (max_episodes, max_steps, greedy_bound): stops after ``max_episodes`` episodes or
    ``max_steps`` steps (0: no limit), or, with ``greedy_bound`` > 0, once the greedy path reaches the
    goal within that many steps.
    out = (lengths [>= 1] int64, cum [>= 1] float64): writes ``lengths[e]`` (steps of episode e) and
    ``cum[t]`` (reward collected by step t + 1).
    Returns the number of finished episodes.
    """
    code, params, epsilon = algorithm
    before, after, switch_step, start = maze
    max_episodes, max_steps, greedy_bound = budget
    lengths, cum = out
    lifetime = 0
    episodes = 0
    total = 0.0
    while (max_episodes <= 0 or episodes < max_episodes) and (max_steps <= 0 or lifetime < max_steps):
        s = start
        length = 0
        terminated = False
        while True:
            table = after if 0 <= switch_step <= lifetime else before
            a = epsilon_greedy(state.q, s, epsilon, state.rng)
            s2 = table.next_state[s, a]
            r = table.reward[s, a]
            terminated = table.terminated[s, a]
            _step(code, state, (s, a, r, s2, terminated), params)
            lifetime += 1
            length += 1
            total += r
            if max_steps > 0:
                cum[lifetime - 1] = total
            s = s2
            if terminated or (max_steps > 0 and lifetime >= max_steps):
                break
        if not terminated:
            break
        if episodes < lengths.shape[0]:
            lengths[episodes] = length
        episodes += 1
        if greedy_bound > 0:
            table = after if 0 <= switch_step <= lifetime else before
            if _greedy_path_within(state.q, table, start, greedy_bound):
                break
    return episodes


def simulate_runs(
    algo: str,
    params: tuple,
    *,
    n_states: int,
    n_actions: int,
    seeds,
    epsilon: float,
    before: TransitionTable,
    start: int,
    after: TransitionTable | None = None,
    switch_step: int = -1,
    max_episodes: int = 0,
    max_steps: int = 0,
    greedy_bound: int = 0,
    stochastic_model: bool = False,
):
    """Simulate ``algo`` (a tabular algorithm's name) once per seed; ``params`` is its Config's ``params()``.

    Everything after ``params`` is keyword-only: the maze's sizes, seeds, epsilon and budget are plain
    numbers that a positional call could swap without any error.

    Returns (lengths [runs, max_episodes], cum [runs, max_steps], updates [runs])."""
    if algo not in CODES:
        raise UserError(f"no compiled simulator for '{algo}'; known: {', '.join(CODES)}")
    after = before if after is None else after
    lengths = np.zeros((len(seeds), max(max_episodes, 1)), np.int64)
    cum = np.zeros((len(seeds), max(max_steps, 1)))
    updates = np.zeros(len(seeds), np.int64)
    for i, seed in enumerate(seeds):
        # the compiled loop cannot grow arrays: room for every pair to change its outcome several times
        state = make_state(n_states, n_actions, seed, stochastic_model, edge_capacity=8 * n_states * n_actions)
        simulate(
            (CODES[algo], tuple(float(p) for p in params), epsilon),
            state,
            (before, after, switch_step, start),
            (max_episodes, max_steps, greedy_bound),
            (lengths[i], cum[i]),
        )
        updates[i] = state.updates[0]
    return lengths, cum, updates
