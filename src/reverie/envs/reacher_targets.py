"""Gymnasium's MuJoCo Reacher-v5 with target conditions and a quadratic cost, for Guided Policy Search.

Needs the optional ``mujoco`` extra (``pip install "gymnasium[mujoco]"``); it is imported when the env is made.

The physics, observation (cos q, sin q, target x y, q', fingertip - target; 10 dims), action space and 50-step episodes
are Reacher-v5's. What changes is what GPS needs (see ``reverie.envs.reaching``):

- targets ("conditions"): ``reset(options={"target": (x, y)})`` puts the target there; without it, one of
  ``TRAIN_TARGETS`` is drawn instead of Reacher's uniform draw. The arm's start keeps Reacher's noise (+-0.1 rad).
  All targets lie on the arc of radius 0.15 about the base (the arm reaches 0.21): training targets at 40, 70, 110
  and 140 degrees, held-out targets between them at 55, 80, 100 and 125 degrees, as for ``reverie/TwoLinkArm-v0``.
- reward = -cost(obs_before, action) with ``reaching_cost`` (squared distance + ``ACTION_WEIGHT`` |a|^2), a smooth
  cost GPS can expand; Reacher's own reward uses the unsquared distance after the step.
- ``info["is_success"]``: the fingertip lies within ``SUCCESS_RADIUS`` = 0.02 m of the target (a tenth of the arm).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from gymnasium.envs.mujoco.reacher_v5 import ReacherEnv

from reverie.envs.reaching import polar_targets, reaching_cost


class ReacherTargets(ReacherEnv):
    """Reacher-v5 with settable targets, a quadratic cost and a success flag (see the module docstring)."""

    ACTION_WEIGHT = 1e-3  # squared distances are ~0.01-0.1 here; a larger weight would stop the tip short
    SUCCESS_RADIUS = 0.02
    TRAIN_TARGETS: ClassVar[np.ndarray] = polar_targets(0.15, np.array([40, 70, 110, 140]))
    HELDOUT_TARGETS: ClassVar[np.ndarray] = polar_targets(0.15, np.array([55, 80, 100, 125]))

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._target_option = None

    def reset(self, *, seed=None, options=None):
        target = None if not options else options.get("target")
        if target is not None:
            target = np.asarray(target, np.float64).reshape(-1)
            if target.shape != (2,) or not np.isfinite(target).all():
                raise ValueError(f"reset option 'target' must be two finite numbers, got {options['target']}")
        self._target_option = target
        return super().reset(seed=seed, options=options)

    def reset_model(self):
        super().reset_model()  # the arm's noisy start (and a uniform goal, replaced here)
        target = self._target_option
        if target is None:
            target = self.TRAIN_TARGETS[self.np_random.integers(len(self.TRAIN_TARGETS))]
        qpos, qvel = self.data.qpos.copy(), self.data.qvel.copy()
        self.goal = qpos[-2:] = target
        self.set_state(qpos, qvel)
        return self._get_obs()

    def step(self, action):
        before = self._get_obs()
        obs, _, terminated, truncated, info = super().step(action)
        cost = float(reaching_cost(before, np.asarray(action, np.float64), self.ACTION_WEIGHT))
        info["is_success"] = bool(np.linalg.norm(obs[-2:]) < self.SUCCESS_RADIUS)
        return obs, -cost, terminated, truncated, info
