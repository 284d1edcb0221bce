"""Known per-step costs in NumPy for trajectory optimisation (Guided Policy Search); ``envs.tasks`` says whose.

Each cost maps ``(obs [..., obs_dim], act [..., act_dim])`` to ``[...]`` and equals minus the env's reward for that
step (the reward is computed from the observation *before* the step and the action as given). An env without
one (``task_info(env_id).gps_cost() is None``) is refused by GPS.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from reverie.envs.reaching import PointMass2D, reaching_cost
from reverie.envs.two_link_arm import TwoLinkArm

Cost = Callable[[np.ndarray, np.ndarray], np.ndarray]

point_mass_2d_cost = functools.partial(reaching_cost, action_weight=PointMass2D.ACTION_WEIGHT)
two_link_arm_cost = functools.partial(reaching_cost, action_weight=TwoLinkArm.ACTION_WEIGHT)
# ReacherTargets.ACTION_WEIGHT, written here so that knowing the cost does not import MuJoCo
reacher_targets_cost = functools.partial(reaching_cost, action_weight=1e-3)
