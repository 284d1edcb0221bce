"""Shooting planners for model-predictive control: sample whole action sequences, score them in a model,
keep the best.

The package's modules import downward only, so any of them can be imported first in a fresh interpreter:

- ``base.py``: the interface (``ShootingPlanner``: ``plan``, ``shift``, ``reset``) and shared pieces
  (``score``, ``keep_best``, categorical sampling for discrete actions); it imports no sibling;
- ``random_shooting.py`` (``RandomShooting``), ``cem.py`` (``CEM``), ``icem.py`` (``ICEM``),
  ``mppi.py`` (``MPPI``): one planner each, importing only ``base``;
- this ``__init__``: the registry ``PLANNERS`` and ``make_planner`` / ``planner_config`` /
  ``planner_fields``, which import every planner and are imported by none.

The interface is documented in ``base.py`` and docs/planners/README.md.
"""

from __future__ import annotations

import dataclasses

from reverie.config import build_config
from reverie.errors import UserError
from reverie.planners.shooting.base import Evaluate, ShootingPlanner, score
from reverie.planners.shooting.cem import CEM, CEMConfig, truncated_normal
from reverie.planners.shooting.icem import ICEM, ICEMConfig, colored_noise
from reverie.planners.shooting.mppi import MPPI, MPPIConfig
from reverie.planners.shooting.random_shooting import RandomShooting, RandomShootingConfig

__all__ = [
    "CEM",
    "ICEM",
    "MPPI",
    "PLANNERS",
    "PLANNER_CONFIGS",
    "CEMConfig",
    "Evaluate",
    "ICEMConfig",
    "MPPIConfig",
    "RandomShooting",
    "RandomShootingConfig",
    "ShootingPlanner",
    "build_planner",
    "colored_noise",
    "make_planner",
    "planner_config",
    "planner_fields",
    "score",
    "truncated_normal",
]

# name -> (config dataclass, planner class)
PLANNERS = {
    "random": (RandomShootingConfig, RandomShooting),
    "cem": (CEMConfig, CEM),
    "icem": (ICEMConfig, ICEM),
    "mppi": (MPPIConfig, MPPI),
}
PLANNER_CONFIGS = {name: classes[0] for name, classes in PLANNERS.items()}  # for ``config.one_of``


def planner_fields(name: str) -> tuple[str, ...]:
    """The config keys of planner ``name``; an unknown name raises UserError."""
    classes = PLANNERS
    if name not in classes:
        raise UserError(f"unknown planner '{name}'; known planners: {', '.join(classes)}.")
    return tuple(f.name for f in dataclasses.fields(classes[name][0]))


def planner_config(name: str, config_overrides: dict | None):
    """The checked config of planner ``name``: defaults replaced by ``config_overrides`` (UserError if bad)."""
    planner_fields(name)  # the name check
    return build_config(PLANNERS[name][0], config_overrides or {}, f"planner '{name}'", listed=False)


def make_planner(name: str, config_overrides: dict | None, action_space, device="cpu") -> ShootingPlanner:
    """Planner ``name`` ("random", "cem", "icem", "mppi") for a Gymnasium ``Box`` (1-D, finite bounds) or
    ``Discrete`` (starting at 0) action space, its config defaults replaced by ``config_overrides``."""
    return build_planner(planner_config(name, config_overrides), action_space, device)


def build_planner(config, action_space, device="cpu") -> ShootingPlanner:
    """The planner that ``config`` (a checked ``CEMConfig``, ``ICEMConfig``, ...) configures, for ``action_space``
    (as ``make_planner``)."""
    planner_cls = next(planner for config_cls, planner in PLANNERS.values() if type(config) is config_cls)
    if hasattr(action_space, "n") and not hasattr(action_space, "low"):  # gymnasium.spaces.Discrete
        if int(getattr(action_space, "start", 0)) != 0:
            raise UserError("Planners need a Discrete action space that starts at 0.")
        return planner_cls(config, n_actions=int(action_space.n), device=device)
    if not hasattr(action_space, "low") or len(action_space.shape) != 1:
        raise UserError(f"Planners need a 1-D Box or a Discrete action space, got {action_space}.")
    return planner_cls(config, low=action_space.low, high=action_space.high, device=device)
