"""Everything reverie knows about an env, one ``TaskInfo`` per Gymnasium id, found by ``task_info(env_id)``.

A record names its parts by import path (``"module:attribute"``) and imports one only when it is asked for, so
reading the records (``reverie list``) imports neither torch nor any env module; a part may also be the object
itself (a test's variant of a task). The parts, each None when reverie does not know it:

- ``reward``, ``termination``: torch functions ``(obs [..., D], act [..., A], next_obs [..., D]) -> [...]``
  (``envs.rewards``), used by a model-based planner instead of learned heads; ``reward_approximate`` marks a reward
  that is only an approximation from ``(obs, act, next_obs)``;
- ``pilco``: PILCO's ``PilcoTask`` (start distribution, saturating cost, control period, units; ``envs.pilco_costs``);
- ``gps_cost``: a NumPy cost ``(obs [..., D], act [..., A]) -> [...]`` equal to minus the reward (``envs.costs``);
- ``true_dynamics``: the env's own step in torch ``(obs [..., D], act [..., A]) -> next_obs [..., D]``
  (``envs.true_dynamics``), for planning with the true simulator;
- ``success``: how ``info["is_success"]`` is known: ``ENV_REPORTS`` (the env sets it), or a ``gym.Wrapper`` that
  adds it (``runner.make_env`` applies it through ``TaskInfo.with_success``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import Any

from reverie.envs import MAZES

ENV_REPORTS = "env"  # success: the env puts info["is_success"] in its steps itself

_R, _P, _C, _D = (
    "reverie.envs.rewards:",
    "reverie.envs.pilco_costs:",
    "reverie.envs.costs:",
    "reverie.envs.true_dynamics:",
)
_TERMINATION_IS_SUCCESS = "reverie.envs.goals:TerminationIsSuccess"

# the part names that `reverie list` prints and `env_ids_with` takes, by field
PART_NAMES = {
    "reward": "reward",
    "termination": "termination",
    "pilco": "pilco",
    "gps_cost": "gps-cost",
    "true_dynamics": "simulator",
    "success": "success",
}


@dataclass(frozen=True)
class TaskInfo:
    """What reverie knows about one env id; every part is an import path, the object itself, or None (unknown)."""

    env_id: str
    reward: Any = None
    termination: Any = None
    reward_approximate: bool = False
    pilco: Any = None
    gps_cost: Any = None
    true_dynamics: Any = None
    success: Any = None

    def reward_fn(self):
        """The torch reward function, or None."""
        return _load(self.reward)

    def termination_fn(self):
        """The torch termination function, or None."""
        return _load(self.termination)

    def pilco_task(self):
        """The ``PilcoTask``, or None."""
        return _load(self.pilco)

    def gps_cost_fn(self):
        """The NumPy cost (= -reward), or None."""
        return _load(self.gps_cost)

    def true_step(self):
        """The true dynamics in torch, or None."""
        return _load(self.true_dynamics)

    def with_success(self, env):
        """``env`` wrapped to report ``info["is_success"]`` when the record names a wrapper; otherwise ``env``."""
        return env if self.success in (None, ENV_REPORTS) else _load(self.success)(env)

    def parts(self) -> tuple[str, ...]:
        """The names (``PART_NAMES``) of the parts this record knows, in field order; ``reward~``: approximate."""
        names = []
        for field in fields(self):
            if field.name in PART_NAMES and getattr(self, field.name) is not None:
                approximate = field.name == "reward" and self.reward_approximate
                names.append(PART_NAMES[field.name] + ("~" if approximate else ""))
        return tuple(names)


def _load(part):
    if not isinstance(part, str):
        return part
    module, _, name = part.partition(":")
    return getattr(importlib.import_module(module), name)


def _known(env_id, reward, termination=_R + "never_terminates", **parts) -> TaskInfo:
    """A record whose reward is ``envs.rewards``'s function ``reward``, and whose env never terminates by default."""
    return TaskInfo(env_id, _R + reward, termination, **parts)


_RECORDS = (
    # the chapter-8 mazes
    *(TaskInfo(f"reverie/{name}-v0", success=ENV_REPORTS) for name in MAZES),
    # reverie's continuous envs (envs/cartpole.py, point_mass.py; PILCO's pilco_cartpole.py, pendulum.py)
    _known(
        "reverie/CartPoleContinuous-v0", "cartpole_reward", _R + "cartpole_termination",
        true_dynamics=_D + "cartpole_step",
    ),
    _known("reverie/CartPoleSwingUp-v0", "swingup_reward", true_dynamics=_D + "swingup_step"),
    _known("reverie/PointMass-v0", "point_mass_reward", _R + "point_mass_termination", success=ENV_REPORTS),
    _known("reverie/PilcoCartPole-v0", "pilco_cartpole_reward", pilco=_P + "CARTPOLE", success=ENV_REPORTS),
    _known(
        "reverie/PendulumSwingUp-v0", "pendulum_swingup_reward", pilco=_P + "PENDULUM_SWINGUP", success=ENV_REPORTS
    ),
    _known(
        "reverie/PendulumBalance-v0", "pendulum_swingup_reward", pilco=_P + "PENDULUM_BALANCE", success=ENV_REPORTS
    ),
    # GPS's reaching tasks (envs/reaching.py, two_link_arm.py, reacher_targets.py)
    TaskInfo("reverie/PointMass2D-v0", gps_cost=_C + "point_mass_2d_cost", success=ENV_REPORTS),
    TaskInfo("reverie/TwoLinkArm-v0", gps_cost=_C + "two_link_arm_cost", success=ENV_REPORTS),
    TaskInfo("reverie/ReacherTargets-v0", gps_cost=_C + "reacher_targets_cost", success=ENV_REPORTS),
    # Value Iteration Networks' grid worlds (envs/grid_planning.py): the env says whether the goal was reached
    TaskInfo("reverie/GridPlanning-v0", success=ENV_REPORTS),
    # Value Prediction Network's Collect (envs/collect.py): image observations, no part applies; listed so
    # every reverie id has its record
    TaskInfo("reverie/Collect-v0"),
    # Gymnasium's own envs; CartPole-v1 pays and ends as reverie's continuous cart-pole does
    _known("CartPole-v1", "cartpole_reward", _R + "cartpole_termination", true_dynamics=_D + "cartpole_v1_step"),
    _known("Acrobot-v1", "acrobot_reward", _R + "acrobot_termination", true_dynamics=_D + "acrobot_v1_step"),
    _known("Pendulum-v1", "pendulum_reward", true_dynamics=_D + "pendulum_v1_step"),
    TaskInfo("MountainCar-v0", success=_TERMINATION_IS_SUCCESS),  # terminated <=> the car reached the flag
    _known(
        "MountainCarContinuous-v0", "mountain_car_reward", _R + "mountain_car_termination",
        pilco=_P + "MOUNTAIN_CAR", success=_TERMINATION_IS_SUCCESS,
    ),
    _known("InvertedPendulum-v5", "inverted_pendulum_reward", _R + "inverted_pendulum_termination",
           pilco=_P + "INVERTED_PENDULUM"),
    _known("Reacher-v5", "reacher_reward"),
    _known("HalfCheetah-v5", "half_cheetah_reward", reward_approximate=True),
)  # fmt: skip
TASKS: dict[str, TaskInfo] = {record.env_id: record for record in _RECORDS}


def task_info(env_id: str) -> TaskInfo:
    """The record of ``env_id``; an id reverie knows nothing about gets an empty one (every part None)."""
    return TASKS.get(env_id) or TaskInfo(env_id)


def model_functions(env, reward: str) -> tuple:
    """(reward_fn, termination_fn) for a model of ``env`` as MBPO's family uses them: the known reward when
    ``reward`` is "known" (None, to be learned with the dynamics, when "learned" or unknown) and the known
    termination whenever there is one (None: learned)."""
    known = task_info(env.spec.id if env.spec is not None else "")
    return (known.reward_fn() if reward == "known" else None), known.termination_fn()


def env_ids_with(part: str) -> tuple[str, ...]:
    """The env ids whose record knows ``part`` (a ``PART_NAMES`` value, e.g. "pilco"), for listings and errors."""
    if part not in PART_NAMES.values():
        raise ValueError(f"unknown part '{part}'; one of {', '.join(PART_NAMES.values())}")
    return tuple(env_id for env_id, record in TASKS.items() if part in (p.rstrip("~") for p in record.parts()))
