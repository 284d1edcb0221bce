"""Known per-step costs in NumPy, by Gymnasium id, for trajectory optimisation (Guided Policy Search).

Each cost maps ``(obs [..., obs_dim], act [..., act_dim])`` to ``[...]`` and equals minus the env's reward for that
step (the reward is computed from the observation *before* the step and the action as given). ``None`` means
unknown: GPS then refuses the env.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from reverie.envs.reaching import PointMass2D, reaching_cost
from reverie.envs.two_link_arm import TwoLinkArm

Cost = Callable[[np.ndarray, np.ndarray], np.ndarray]

KNOWN_COSTS: dict[str, Cost] = {
    "reverie/PointMass2D-v0": functools.partial(reaching_cost, action_weight=PointMass2D.ACTION_WEIGHT),
    "reverie/TwoLinkArm-v0": functools.partial(reaching_cost, action_weight=TwoLinkArm.ACTION_WEIGHT),
    # ReacherTargets.ACTION_WEIGHT, written here so that knowing the cost does not import MuJoCo
    "reverie/ReacherTargets-v0": functools.partial(reaching_cost, action_weight=1e-3),
}


def cost_fn(env_id: str) -> Cost | None:
    """The NumPy cost of ``env_id`` (= -reward), or None when unknown."""
    return KNOWN_COSTS.get(env_id)
