"""Compiled tabular building blocks: the RNG, Q backups and action choice, the priority queue, the model."""

import numpy as np
import pytest

from reverie.learners.tabular_q import epsilon_greedy, greedy_action, q_backup
from reverie.models.tabular import (
    assume,
    edge_is_current,
    ensure_edge_room,
    make_model,
    observe,
    query,
    sample_pair,
)
from reverie.planners.priority_queue import make_queue, pop, push
from reverie.rng import make_rng, randint, uniform

# Chi-square goodness of fit: for k equiprobable bins the statistic of a correct generator follows
# chi2(k - 1); its 99.9th percentile is 27.88 for k = 10 and 22.46 for k = 7, so a bound of 30 / 25
# fails a good generator less than once in 1000 seeds (and the seeds here are fixed).
CHI2_BOUND = {10: 30.0, 7: 25.0}


def chi2(counts):
    counts = np.asarray(counts, float)
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


# -- reverie.rng -------------------------------------------------------------------------------------


def test_make_rng_is_a_nonzero_uint64_and_seed_dependent():
    a, b = make_rng(0), make_rng(1)
    assert a.shape == (1,) and a.dtype == np.uint64 and a[0] != 0
    assert a[0] != b[0]


def test_uniform_in_unit_interval_and_roughly_uniform():
    rng = make_rng(123)
    xs = np.array([uniform(rng) for _ in range(100_000)])
    assert xs.min() >= 0.0 and xs.max() < 1.0
    assert abs(xs.mean() - 0.5) < 0.005  # std of the mean: sqrt(1/12 / 1e5) = 0.0009, so > 5 sigma
    assert chi2(np.histogram(xs, bins=10, range=(0, 1))[0]) < CHI2_BOUND[10]


def test_randint_in_range_and_roughly_uniform():
    rng = make_rng(7)
    ks = np.array([randint(rng, 7) for _ in range(100_000)])
    assert ks.min() == 0 and ks.max() == 6  # every value occurs, none outside [0, 7)
    assert chi2(np.bincount(ks, minlength=7)) < CHI2_BOUND[7]


def test_same_seed_same_stream_and_state_advances_in_place():
    a, b, c = make_rng(42), make_rng(42), make_rng(43)
    first = a[0]
    stream_a = [uniform(a) for _ in range(20)]
    assert a[0] != first  # advanced in place
    assert stream_a == [uniform(b) for _ in range(20)]
    assert stream_a != [uniform(c) for _ in range(20)]


# -- reverie.learners.tabular_q -----------------------------------------------------------------------


def test_q_backup_hand_computed():
    q = np.array([[0.5, -1.0], [2.0, 1.0]])  # Q(0,0) = 0.5; max_a Q(1, a) = 2
    td = q_backup(q, (0, 0, 1.0, 1, False), 0.1, 0.9)
    # target 1 + 0.9 * 2 = 2.8; td = 2.8 - 0.5 = 2.3; Q <- 0.5 + 0.1 * 2.3 = 0.73
    assert td == pytest.approx(2.3)
    assert q[0, 0] == pytest.approx(0.5 + 0.1 * (1 + 1.8 - 0.5))
    assert q[0, 1] == -1.0 and list(q[1]) == [2.0, 1.0]  # nothing else moves


def test_q_backup_terminated_ignores_bootstrap_and_returns_abs_td():
    q = np.array([[0.5, 0.0], [2.0, 1.0]])
    td = q_backup(q, (0, 0, 0.0, 1, True), 0.1, 0.9)
    # target is just r = 0: td = -0.5, returned as 0.5; Q <- 0.5 - 0.05
    assert td == pytest.approx(0.5)
    assert q[0, 0] == pytest.approx(0.45)


def test_greedy_action_breaks_ties_uniformly_among_maxima():
    q = np.array([[1.0, 3.0, 3.0, 0.0, 3.0]])
    rng = make_rng(5)
    counts = np.bincount([greedy_action(q, 0, rng) for _ in range(30_000)], minlength=5)
    assert counts[0] == 0 and counts[3] == 0  # never a non-maximal action
    # each tied action ~ 1/3; std of a frequency is sqrt(p(1-p)/n) = 0.0027, so 0.02 is > 7 sigma
    assert np.allclose(counts[[1, 2, 4]] / 30_000, 1 / 3, atol=0.02)


def test_greedy_action_unique_maximum_is_deterministic():
    q = np.array([[0.0, 0.0], [0.1, 0.2]])
    rng = make_rng(0)
    assert {greedy_action(q, 1, rng) for _ in range(100)} == {1}


def test_epsilon_greedy_extremes():
    q = np.array([[0.0, 5.0, 1.0, 2.0]])
    rng = make_rng(9)
    assert {epsilon_greedy(q, 0, 0.0, rng) for _ in range(1000)} == {1}
    counts = np.bincount([epsilon_greedy(q, 0, 1.0, rng) for _ in range(40_000)], minlength=4)
    assert np.allclose(counts / 40_000, 0.25, atol=0.02)  # uniform, the greedy action included once


def test_epsilon_greedy_mixture_frequency():
    # epsilon 0.2 over 4 actions: greedy with prob 0.8 + 0.2 / 4 = 0.85
    q = np.array([[0.0, 5.0, 1.0, 2.0]])
    rng = make_rng(11)
    picks = np.array([epsilon_greedy(q, 0, 0.2, rng) for _ in range(40_000)])
    assert (picks == 1).mean() == pytest.approx(0.85, abs=0.01)


# -- reverie.planners.priority_queue ------------------------------------------------------------------


def test_queue_pops_in_descending_priority_like_a_sorted_reference():
    gen = np.random.default_rng(0)
    queue, reference = make_queue(60), {}
    for item, priority in zip(gen.integers(0, 60, 300), gen.random(300), strict=True):
        push(queue, int(item), float(priority))
        reference[int(item)] = max(reference.get(int(item), -1.0), float(priority))
    assert queue.size[0] == len(reference)  # each item queued at most once
    popped = []
    while queue.size[0] > 0:
        popped.append(int(pop(queue)))
    assert popped == sorted(reference, key=reference.get, reverse=True)
    assert (queue.position == -1).all()


def test_re_push_keeps_max_priority_and_single_occurrence():
    queue = make_queue(10)
    push(queue, 3, 5.0)
    push(queue, 3, 2.0)  # lower: ignored
    assert queue.size[0] == 1 and queue.priority[0] == 5.0
    push(queue, 7, 6.0)
    push(queue, 3, 9.0)  # higher: raised and sifted to the top
    assert queue.size[0] == 2 and queue.priority[queue.position[3]] == 9.0
    assert [pop(queue), pop(queue)] == [3, 7]
    push(queue, 3, 1.0)  # a popped item can be queued again
    assert queue.size[0] == 1 and pop(queue) == 3


# -- reverie.models.tabular ---------------------------------------------------------------------------


def test_deterministic_model_replays_last_outcome():
    m, rng = make_model(4, 2, False), make_rng(0)
    observe(m, 0, 1, 0.5, 2, False)
    observe(m, 0, 1, -1.0, 3, True)
    assert m.visits[0, 1] == 2 and m.known[0, 1]
    assert [tuple(query(m, 0, 1, rng)) for _ in range(50)] == [(3, -1.0, True)] * 50


def test_stochastic_model_samples_by_counts_with_mean_rewards():
    m, rng = make_model(4, 2, True), make_rng(1)
    for r in (1.0, 2.0, 3.0):  # 3 observations of 0 --1--> 2 with mean reward 2
        observe(m, 0, 1, r, 2, False)
    observe(m, 0, 1, 10.0, 3, True)  # 1 observation of 0 --1--> 3
    results = [tuple(query(m, 0, 1, rng)) for _ in range(20_000)]
    assert set(results) == {(2, 2.0, False), (3, 10.0, True)}
    frac = sum(s2 == 2 for s2, _, _ in results) / 20_000
    assert frac == pytest.approx(0.75, abs=0.015)  # std sqrt(.75*.25/2e4) = 0.003


def test_sample_pair_only_observed_pairs_state_first_then_action():
    m, rng = make_model(5, 4, False), make_rng(2)
    for a in (0, 1, 2):
        observe(m, 3, a, 0.0, 3, False)
    observe(m, 1, 2, 0.0, 1, False)
    pairs = [tuple(sample_pair(m, rng)) for _ in range(30_000)]
    freq = {p: pairs.count(p) / 30_000 for p in set(pairs)}
    assert set(freq) == {(3, 0), (3, 1), (3, 2), (1, 2)}
    # state uniform (1/2 each), then action uniform within it: (1,2) gets 1/2, each of state 3's 1/6.
    # Uniform over pairs would give 1/4 each instead.
    assert freq[(1, 2)] == pytest.approx(0.5, abs=0.015)
    for a in (0, 1, 2):
        assert freq[(3, a)] == pytest.approx(1 / 6, abs=0.015)


def predecessors(m, s2):
    edge, found = m.first_into_target[s2], []
    while edge >= 0:
        found.append(int(m.edge_source[edge]))
        edge = m.next_into_target[edge]
    return found


def test_predecessor_lists_find_every_pair_into_a_state():
    n_actions = 3
    m = make_model(6, n_actions, False)
    observe(m, 1, 2, 0.0, 4, False)
    observe(m, 0, 1, 0.0, 4, False)
    observe(m, 0, 1, 0.0, 4, False)  # same edge again: no duplicate
    observe(m, 5, 0, 0.0, 2, False)
    assert sorted(predecessors(m, 4)) == [0 * n_actions + 1, 1 * n_actions + 2]
    assert predecessors(m, 2) == [5 * n_actions + 0]
    assert predecessors(m, 3) == []
    assert m.n_edges[0] == 3


def test_edge_is_current_false_after_deterministic_outcome_changes():
    for stochastic in (False, True):
        m = make_model(4, 2, stochastic)
        observe(m, 0, 0, 0.0, 1, False)
        observe(m, 0, 0, 0.0, 2, False)
        old_edge, new_edge = m.first_into_target[1], m.first_into_target[2]
        assert edge_is_current(m, new_edge)
        # a deterministic model forgets 0 -> 1; a stochastic one still samples it
        assert edge_is_current(m, old_edge) == stochastic


def test_ensure_edge_room_doubles_capacity_and_keeps_content():
    m = make_model(3, 2, False, edge_capacity=2)
    assert ensure_edge_room(m) is m  # room left: unchanged
    observe(m, 0, 0, 1.0, 1, False)
    observe(m, 1, 1, 2.0, 2, True)
    with pytest.raises(RuntimeError):
        observe(m, 2, 0, 0.0, 0, False)  # full: the kernel refuses instead of overrunning
    grown = ensure_edge_room(m)
    assert grown.edge_source.shape == (4,) and grown.next_into_target.shape == (4,)
    assert list(grown.edge_source[:2]) == [0, 3] and list(grown.edge_target[:2]) == [1, 2]
    assert list(grown.edge_reward_sum[:2]) == [1.0, 2.0] and list(grown.edge_count) == [1, 1, 0, 0]
    assert list(grown.next_from_source[2:]) == [-1, -1] and list(grown.next_into_target[2:]) == [-1, -1]
    assert grown.first_into_target is m.first_into_target  # per-state arrays untouched
    observe(grown, 2, 0, 0.0, 0, False)
    assert grown.n_edges[0] == 3 and predecessors(grown, 0) == [4]


def test_assume_defines_untried_pair_without_a_visit():
    m, rng = make_model(3, 2, False), make_rng(3)
    assume(m, 1, 0, 1, 0.0)
    assert m.known[1, 0] and m.visits[1, 0] == 0 and m.n_edges[0] == 0
    assert tuple(query(m, 1, 0, rng)) == (1, 0.0, False)
    assert tuple(sample_pair(m, rng)) == (1, 0)  # listed, so planning may pick it
    observe(m, 1, 1, 1.0, 2, True)
    assume(m, 1, 1, 1, 0.0)  # already observed: assume must not overwrite it
    assert tuple(query(m, 1, 1, rng)) == (2, 1.0, True) and m.visits[1, 1] == 1
    assert m.n_listed_states[0] == 1 and m.n_listed_actions[1] == 2
