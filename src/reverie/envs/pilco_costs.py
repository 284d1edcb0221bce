"""PILCO's task descriptions by env id: target, saturating-cost weights, angle dimensions, start distribution.

PILCO needs more than a reward function: its analytic rollout starts from a Gaussian over start states and scores
each predicted state by the *expected* saturating cost 1 - exp(-(z - z*)^T W (z - z*) / 2), W = Q / width^2, where
z = [obs, sin(obs[angles]), cos(obs[angles])] (the angles enter through sin / cos so the cost is periodic).
Every entry is written from its env's source; ``pilco_task(env_id)`` returns None for an env without one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reverie.envs import pendulum, pilco_cartpole


@dataclass(frozen=True)
class PilcoTask:
    """target [D] (obs units); angles: obs dims that are angles; Q [D + 2k, D + 2k] over z; width of the cost;
    start_mean [D] and start_std [D] of the (diagonal Gaussian) start distribution."""

    target: tuple
    angles: tuple
    Q: np.ndarray
    width: float
    start_mean: tuple
    start_std: tuple

    def z_target(self) -> np.ndarray:
        t = np.asarray(self.target, dtype=np.float64)
        a = t[list(self.angles)]
        return np.concatenate([t, np.sin(a), np.cos(a)])


def _tip_q(dim: int, x_index: int | None, length: float) -> np.ndarray:
    """Q with z^T Q z = (x + l sin th)^2 + l^2 (cos th)^2 for a one-angle z = [obs (dim), sin th, cos th]: the squared
    tip distance, when measured from a target with sin th* = 0."""
    Q = np.zeros((dim + 2, dim + 2))
    s, c = dim, dim + 1
    Q[s, s] = Q[c, c] = length**2
    if x_index is not None:
        Q[x_index, x_index] = 1.0
        Q[x_index, s] = Q[s, x_index] = length
    return Q


_CARTPOLE = PilcoTask(
    target=(0.0, 0.0, math.pi, 0.0), angles=(2,), Q=_tip_q(4, 0, pilco_cartpole.POLE_LENGTH),
    width=pilco_cartpole.COST_WIDTH, start_mean=(0.0,) * 4, start_std=(pilco_cartpole.START_STD,) * 4,
)  # fmt: skip
_PENDULUM = PilcoTask(
    target=(math.pi, 0.0), angles=(0,), Q=_tip_q(2, None, pendulum.LENGTH),
    width=pendulum.COST_WIDTH, start_mean=(0.0, 0.0), start_std=(pendulum.START_STD,) * 2,
)  # fmt: skip
_PENDULUM_UP = PilcoTask(
    target=(math.pi, 0.0), angles=(0,), Q=_tip_q(2, None, pendulum.LENGTH),
    width=pendulum.COST_WIDTH, start_mean=(math.pi, 0.0), start_std=(pendulum.START_STD,) * 2,
)  # fmt: skip
# Gymnasium MountainCarContinuous-v0: obs [position, velocity], start position U(-0.6, -0.4), goal position 0.45.
_MOUNTAIN_CAR = PilcoTask(
    target=(0.45, 0.0), angles=(), Q=np.diag([1.0, 0.0]), width=0.5,
    start_mean=(-0.5, 0.0), start_std=(0.2 / math.sqrt(12), 1e-3),
)  # fmt: skip
# Gymnasium InvertedPendulum-v5: obs [cart x, hinge angle (0 upright), x_dot, angle_dot], reset noise U(-0.01, 0.01);
# the pole is 0.6 m long, so z^T Q z with Q on (x, angle) = [[1, l], [l, l^2]] is the squared (linearised) tip offset.
_INVERTED = PilcoTask(
    target=(0.0,) * 4, angles=(),
    Q=np.pad(np.array([[1.0, 0.6], [0.6, 0.36]]), ((0, 2), (0, 2))), width=0.25,
    start_mean=(0.0,) * 4, start_std=(0.01,) * 4,
)  # fmt: skip

PILCO_TASKS: dict[str, PilcoTask] = {
    "reverie/PilcoCartPole-v0": _CARTPOLE,
    "reverie/PendulumSwingUp-v0": _PENDULUM,
    "reverie/PendulumBalance-v0": _PENDULUM_UP,
    "MountainCarContinuous-v0": _MOUNTAIN_CAR,
    "InvertedPendulum-v5": _INVERTED,
}


def pilco_task(env_id: str) -> PilcoTask | None:
    """The PILCO task of ``env_id``, or None when reverie knows no PILCO cost for it."""
    return PILCO_TASKS.get(env_id)
