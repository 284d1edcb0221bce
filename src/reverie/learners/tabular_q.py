"""Tabular Q-learning pieces, compiled with numba: the one-step backup and epsilon-greedy choice.

``q`` is a ``[n_states, n_actions]`` float64 table; ``rng`` a generator state from ``reverie.rng``.
"""

from reverie.jit import kernel
from reverie.rng import randint, uniform


@kernel(inline=True)
def max_q(q, s):
    """max_a Q(s, a), as a plain loop (numpy reductions allocate, and kernels may not)."""
    best = q[s, 0]
    for a in range(1, q.shape[1]):
        if q[s, a] > best:
            best = q[s, a]
    return best


@kernel(inline=True)
def argmax_q(q, s):
    """The first action with the largest Q(s, a)."""
    best = 0
    for a in range(1, q.shape[1]):
        if q[s, a] > q[s, best]:
            best = a
    return best


@kernel(inline=True)
def q_backup(q, transition, alpha, gamma):
    """Q(s,a) <- Q(s,a) + alpha [r + gamma max_a' Q(s',a') - Q(s,a)]; no bootstrap past termination.

    ``transition`` is the tuple (s, a, r, s2, terminated): ints s, a, s2, float r, bool terminated.
    Returns the size of the temporal-difference error before the update.
    """
    s, a, r, s2, terminated = transition
    target = r if terminated else r + gamma * max_q(q, s2)
    td_error = target - q[s, a]
    q[s, a] += alpha * td_error
    return abs(td_error)


@kernel(inline=True)
def greedy_action(q, s, rng):
    """argmax_a Q(s, a), ties broken uniformly at random (as in the book's experiments)."""
    best = max_q(q, s)
    n_best = 0
    for a in range(q.shape[1]):
        if q[s, a] == best:
            n_best += 1
    pick = randint(rng, n_best)
    for a in range(q.shape[1]):
        if q[s, a] == best:
            if pick == 0:
                return a
            pick -= 1
    return 0  # unreachable: some action always equals the maximum


@kernel(inline=True)
def epsilon_greedy(q, s, epsilon, rng):
    """A random action with probability epsilon, otherwise a greedy one."""
    if uniform(rng) < epsilon:
        return randint(rng, q.shape[1])
    return greedy_action(q, s, rng)
