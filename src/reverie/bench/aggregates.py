"""Aggregates across runs and tasks as Agarwal et al. (2021, "Deep RL at the edge of the statistical precipice")
recommend: interquartile mean, performance profiles, probability of improvement and steps to a threshold, each
with a 95% stratified bootstrap interval.

Computed with SciPy's ``scipy.stats.bootstrap`` (percentile method), one sample per task, so each task's runs are
resampled alone: that is the stratified bootstrap of rliable. rliable itself (1.2.0) installs here but does not
import (its dependency arch 7.2 fails against pandas 3), so it is not used. ``tasks`` below is a list with one
1-D array of run scores per task; tasks may have different numbers of runs. A task with fewer than two runs
has no interval (``low``/``high`` are None): one run says nothing about the spread.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

REPS = 2000  # bootstrap resamples: percentile bounds of a 95% interval move by well under 1% of the spread


def _samples(tasks) -> list[np.ndarray]:
    samples = [np.asarray(t, dtype=float).ravel() for t in tasks]
    if not samples or any(s.size == 0 for s in samples):
        raise ValueError("every task needs at least one run score")
    return samples


def _interval(statistic, samples, seed: int) -> tuple:
    """(low, high) of the 95% percentile bootstrap of ``statistic(*samples, axis=-1)``, or (None, None)."""
    if any(s.size < 2 for s in samples):
        return None, None
    result = stats.bootstrap(
        tuple(samples), statistic, n_resamples=REPS, method="percentile", rng=seed, vectorized=True
    ).confidence_interval
    return result.low, result.high


def _pooled(*samples, axis=-1):
    return np.concatenate(samples, axis=axis)


def iqm(scores, axis=None):
    """Interquartile mean: the mean of the middle 50% of ``scores`` (25% trimmed from each end)."""
    return stats.trim_mean(np.asarray(scores, dtype=float), 0.25, axis=axis)


def _band(point, low, high) -> dict:
    def clean(value):
        if value is None:
            return None
        value = np.asarray(value, dtype=float)
        out = np.where(np.isfinite(value), value.round(6), np.nan).tolist()
        return _none_for_nan(out)

    return {"point": clean(point), "low": clean(low), "high": clean(high)}


def _none_for_nan(value):
    if isinstance(value, list):
        return [_none_for_nan(v) for v in value]
    return None if value != value else value  # NaN (and so infinity, above) is not JSON


def iqm_interval(tasks, seed: int = 0) -> dict:
    """IQM of every run score of every task, pooled, with its stratified 95% interval: {"point", "low", "high"}."""
    samples = _samples(tasks)
    low, high = _interval(lambda *s, axis: iqm(_pooled(*s, axis=axis), axis=axis), samples, seed)
    return _band(iqm(np.concatenate(samples)), low, high)


def mean_interval(tasks, seed: int = 0) -> dict:
    """Mean of the per-task means, with its stratified 95% interval (the aggregate that outliers move most)."""
    samples = _samples(tasks)
    low, high = _interval(lambda *s, axis: np.mean([x.mean(axis=axis) for x in s], axis=0), samples, seed)
    return _band(np.mean([s.mean() for s in samples]), low, high)


def performance_profile(tasks, taus, seed: int = 0) -> dict:
    """Fraction of runs scoring above each ``tau``, averaged over tasks (a score distribution, rliable's run-score
    profile), with stratified 95% bands: {"taus", "point", "low", "high"} lists of len(taus)."""
    samples, taus = _samples(tasks), np.asarray(taus, dtype=float)

    def profile(*s, axis):
        return np.mean([(x[..., None] > taus).mean(axis=axis - 1) for x in s], axis=0).T

    point = np.mean([(s[:, None] > taus).mean(axis=0) for s in samples], axis=0)
    low, high = _interval(lambda *s, axis: profile(*s, axis=axis), samples, seed)
    return {"taus": taus.tolist(), **_band(point, low, high)}


def probability_of_improvement(tasks_x, tasks_y, seed: int = 0) -> dict:
    """P(X > Y): the chance that a run of X beats a run of Y on a task (ties count half, the Mann-Whitney U
    statistic over n*m pairs), averaged over tasks, with a stratified 95% interval over both sets of runs."""
    x, y = _samples(tasks_x), _samples(tasks_y)
    if len(x) != len(y):
        raise ValueError("X and Y need scores on the same tasks")

    def improvement(*s, axis):
        pairs = zip(s[: len(x)], s[len(x) :], strict=True)
        per_task = [
            ((a[..., :, None] > b[..., None, :]) + 0.5 * (a[..., :, None] == b[..., None, :])).mean(axis=(-1, -2))
            for a, b in pairs
        ]
        return np.mean(per_task, axis=0)

    point = improvement(*x, *y, axis=-1)
    low, high = _interval(improvement, x + y, seed)
    return _band(point, low, high)


def steps_interval(steps, seed: int = 0) -> dict:
    """Median real steps to a threshold over runs (None: never reached, counted as infinitely many) with its 95%
    interval; an infinite bound or median is None. {"point", "low", "high", "reached", "runs"}."""
    never = 1e15  # stands for "never reached": larger than any budget, finite so the bootstrap's spread is defined
    values = np.array([never if s is None else float(s) for s in steps])
    low, high = _interval(lambda s, axis: np.median(s, axis=axis), [values], seed)
    band = _band(*(None if v is None or v >= never else v for v in (np.median(values), low, high)))
    return {**band, "reached": int((values < never).sum()), "runs": len(values)}


def two_sample_interval(x, y, how: str = "difference", seed: int = 0) -> dict:
    """mean(x) - mean(y) (``how="difference"``) or mean(x) / mean(y) (``"ratio"``) over two independent sets of
    runs, each resampled alone, with its 95% interval: {"point", "low", "high"}."""
    op = {"difference": np.subtract, "ratio": np.divide}[how]
    x, y = _samples([x, y])
    low, high = _interval(lambda a, b, axis: op(a.mean(axis=axis), b.mean(axis=axis)), [x, y], seed)
    return _band(op(x.mean(), y.mean()), low, high)
