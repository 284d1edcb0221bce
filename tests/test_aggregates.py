"""bench/aggregates.py against values worked by hand and against a plain NumPy stratified bootstrap."""

import numpy as np
import pytest

from reverie.bench import aggregates


def test_iqm_is_the_mean_of_the_middle_half_and_ignores_an_outlier():
    assert aggregates.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # 3, 4, 5, 6
    scores = np.array([10.0, 11, 12, 13, 1e6, 9, 10, 11])
    assert aggregates.iqm(scores) == pytest.approx(np.mean([10, 11, 11, 12]))  # sorted: 9 10 | 10 11 11 12 | 13 1e6
    assert np.mean(scores) > 1e5


def test_the_bootstrap_is_stratified_by_task():
    # Pooled resampling would vary how many runs of each task it draws, and so the IQM; per-task resampling of
    # constant tasks cannot: the stratified interval has zero width.
    tasks = [np.zeros(4), np.full(12, 100.0)]
    band = aggregates.iqm_interval(tasks)
    assert band["point"] == band["low"] == band["high"] == pytest.approx(100.0)


def test_intervals_match_a_numpy_stratified_bootstrap():
    rng = np.random.default_rng(3)
    tasks = [rng.normal(0, 1, 6), rng.normal(2, 3, 9), rng.exponential(1, 5)]
    band = aggregates.iqm_interval(tasks, seed=1)
    draws = [aggregates.iqm(np.concatenate([t[rng.integers(0, len(t), len(t))] for t in tasks])) for _ in range(4000)]
    low, high = np.percentile(draws, [2.5, 97.5])
    spread = high - low
    assert band["low"] < band["point"] < band["high"]
    assert abs(band["low"] - low) < 0.1 * spread and abs(band["high"] - high) < 0.1 * spread


def test_probability_of_improvement_counts_pairs_and_ties():
    y = [np.array([0.0, 1, 2]), np.array([5.0, 5])]
    better = [t + 10 for t in y]
    assert aggregates.probability_of_improvement(better, y)["point"] == pytest.approx(1.0)
    assert aggregates.probability_of_improvement(y, y)["point"] == pytest.approx(0.5)  # every tie counts half
    x = [np.array([1.0, 3]), np.array([4.0, 6])]
    forward = aggregates.probability_of_improvement(x, y)["point"]
    assert forward == pytest.approx((4.5 / 6 + 2 / 4) / 2)  # task 1: 1>0, 1=1 half, 3>all three; task 2: 6>5 twice
    assert forward + aggregates.probability_of_improvement(y, x)["point"] == pytest.approx(1.0)


def test_performance_profile_falls_from_one_to_zero():
    tasks = [np.array([1.0, 2, 3, 4]), np.array([2.0, 4])]
    profile = aggregates.performance_profile(tasks, [0, 2, 3, 10])
    assert profile["point"] == pytest.approx([1.0, (0.5 + 0.5) / 2, (0.25 + 0.5) / 2, 0.0])
    assert all(lo <= p <= hi for lo, p, hi in zip(profile["low"], profile["point"], profile["high"], strict=True))


def test_steps_to_threshold_counts_runs_that_never_reach_it():
    band = aggregates.steps_interval([100, 200, None, 150, 300])
    assert band["point"] == 200 and band["reached"] == 4 and band["runs"] == 5
    assert band["low"] <= 200 and band["high"] is None  # an unbounded upper end: a resample may have 3 'never's
    assert aggregates.steps_interval([100, None, None])["point"] is None  # the median run never got there
    single = aggregates.steps_interval([100])
    assert single["point"] == 100 and single["low"] is None and single["high"] is None
