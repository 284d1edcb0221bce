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
    """values [runs, points] -> {"mean", "low", "high"} lists (95% CI of the mean; no band for 1 run)."""
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=0)
    runs = values.shape[0]
    half = np.zeros_like(mean) if runs < 2 else t_quantile(runs - 1) * values.std(axis=0, ddof=1) / math.sqrt(runs)
    return {
        "mean": mean.round(4).tolist(),
        "low": (mean - half).round(4).tolist(),
        "high": (mean + half).round(4).tolist(),
    }
