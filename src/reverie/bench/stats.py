"""Means with 95% confidence bands across runs (Student t, so 5 runs get an honest, wide band)."""

from __future__ import annotations

import math

import numpy as np

# two-sided 95% quantiles of Student's t for 1..30 degrees of freedom
_T975 = tuple(
    float(x)
    for x in """12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131
    2.120 2.110 2.101 2.093 2.086 2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042""".split()
)


def t_quantile(dof: int) -> float:
    """t_{0.975, dof}; the normal 1.96 beyond 30 degrees of freedom."""
    return _T975[dof - 1] if 1 <= dof <= 30 else 1.96


def mean_band(values: np.ndarray) -> dict:
    """values [runs, points] -> {"mean", "low", "high"} lists (95% CI of the mean; no band for 1 run; NaN skipped)."""
    values = np.asarray(values, dtype=float)
    mean = np.nanmean(values, axis=0)  # NaN marks a point a run did not reach; the band uses the runs that did
    runs = np.isfinite(values).sum(axis=0)
    half = np.zeros_like(mean)
    for i, n in enumerate(runs):
        if n >= 2:
            half[i] = t_quantile(int(n) - 1) * np.nanstd(values[:, i], ddof=1) / math.sqrt(n)
    return {
        "mean": mean.round(4).tolist(),
        "low": (mean - half).round(4).tolist(),
        "high": (mean + half).round(4).tolist(),
    }


def steps_to_threshold(returns, end_steps, threshold: float, window: int = 3) -> int | None:
    """Real env steps until the mean return of ``window`` consecutive episodes first reaches ``threshold``.

    returns [episodes], end_steps [episodes] (cumulative env steps when each episode ended) -> the step count
    at the end of the first such window, or None if it never happens. The same rule for every library compared.
    """
    returns = np.asarray(returns, dtype=float)
    for end in range(window, len(returns) + 1):
        if returns[end - window : end].mean() >= threshold:
            return int(end_steps[end - 1])
    return None


def on_step_grid(returns, end_steps, grid) -> np.ndarray:
    """The return of the last episode finished by each step of ``grid``, [len(grid)]: NaN before the first episode
    ends and after the run's last one (a run that stopped early is not drawn as if it went on)."""
    end_steps, grid = np.asarray(end_steps), np.asarray(grid)
    index = np.searchsorted(end_steps, grid, side="right") - 1
    values = np.asarray(returns, dtype=float)[np.maximum(index, 0)]
    return np.where((index >= 0) & (grid <= end_steps[-1]), values, np.nan)
