"""PILCO's task descriptions by env id: target, saturating-cost weights, angle dimensions, start distribution.

PILCO needs more than a reward function: its analytic rollout starts from a Gaussian over start states and scores
each predicted state by the *expected* saturating cost 1 - exp(-(z - z*)^T W (z - z*) / 2), W = Q / width^2, where
z = [obs, sin(obs[angles]), cos(obs[angles])] (the angles enter through sin / cos so the cost is periodic).
Every task is written from its env's source; ``envs.tasks`` says which env has which
(``task_info(env_id).pilco_task()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from reverie.envs import pendulum, pilco_cartpole


@dataclass(frozen=True)
class PilcoTask:
    """target [D] (obs units); angles: obs dims that are angles; Q [D + 2k, D + 2k] over z; width of the cost;
    start_mean [D] and start_std [D] of the (diagonal Gaussian) start distribution; action_repeat: the
    control period in env steps; obs_scale [D]: the unit of each obs dim in which PILCO models and plans (None: 1;
    an angle keeps 1), so that the GP's absolute noise floor and the controller's unit length-scales fit every dim."""

    target: tuple
    angles: tuple
    Q: np.ndarray
    width: float
    start_mean: tuple
    start_std: tuple
    action_repeat: int = 1  # env steps per control decision (one model transition, one rollout step)
    obs_scale: tuple | None = None

    def scale(self) -> np.ndarray:
        """[D] the obs units PILCO works in: model-unit obs = obs / scale."""
        return np.ones(len(self.target)) if self.obs_scale is None else np.asarray(self.obs_scale, dtype=np.float64)

    def in_model_units(self) -> PilcoTask:
        """The same task with obs divided by ``scale()``: target, start and Q (z = [obs, sin, cos]) rescaled."""
        s = self.scale()
        z_scale = np.concatenate([s, np.ones(2 * len(self.angles))])
        return replace(
            self, target=tuple(np.asarray(self.target) / s), Q=self.Q * np.outer(z_scale, z_scale),
            start_mean=tuple(np.asarray(self.start_mean) / s), start_std=tuple(np.asarray(self.start_std) / s),
            obs_scale=None,
        )  # fmt: skip

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


CARTPOLE = PilcoTask(
    target=(0.0, 0.0, math.pi, 0.0), angles=(2,), Q=_tip_q(4, 0, pilco_cartpole.POLE_LENGTH),
    width=pilco_cartpole.COST_WIDTH, start_mean=(0.0,) * 4, start_std=(pilco_cartpole.START_STD,) * 4,
)  # fmt: skip
PENDULUM_SWINGUP = PilcoTask(
    target=(math.pi, 0.0), angles=(0,), Q=_tip_q(2, None, pendulum.LENGTH),
    width=pendulum.COST_WIDTH, start_mean=(0.0, 0.0), start_std=(pendulum.START_STD,) * 2,
)  # fmt: skip
PENDULUM_BALANCE = PilcoTask(
    target=(math.pi, 0.0), angles=(0,), Q=_tip_q(2, None, pendulum.LENGTH),
    width=pendulum.COST_WIDTH, start_mean=(math.pi, 0.0), start_std=(pendulum.START_STD,) * 2,
)  # fmt: skip
# Gymnasium MountainCarContinuous-v0: obs [position, velocity (|v| <= 0.07)], start position U(-0.6, -0.4), goal
# position 0.45. One env step moves the car by ~1e-3 (below the GP's noise floor), so a decision holds for 5 steps and
# velocity is modelled in units of its bound. Width 0.2, not wider: at 0.5 a swing that stalls at 0.38 costs almost
# nothing, and the controller settles for it.
MOUNTAIN_CAR = PilcoTask(
    target=(0.45, 0.0), angles=(), Q=np.diag([1.0, 0.0]), width=0.2,
    start_mean=(-0.5, 0.0), start_std=(0.2 / math.sqrt(12), 1e-3), action_repeat=5, obs_scale=(1.0, 0.07),
)  # fmt: skip
# Gymnasium InvertedPendulum-v5: obs [cart x, hinge angle (0 upright), x_dot, angle_dot], reset noise U(-0.01, 0.01);
# the pole is 0.6 m long, so z^T Q z with Q on (x, angle) = [[1, l], [l, l^2]] is the squared (linearised) tip offset.
INVERTED_PENDULUM = PilcoTask(
    target=(0.0,) * 4, angles=(),
    Q=np.pad(np.array([[1.0, 0.6], [0.6, 0.36]]), ((0, 2), (0, 2))), width=0.25,
    start_mean=(0.0,) * 4, start_std=(0.01,) * 4,
)  # fmt: skip
