"""Environments registered with Gymnasium as ``reverie/<Name>-v0`` when reverie is imported.

Registration names entry points as strings, so importing this package loads no env module beyond the mazes and
cart-poles it re-exports, and never torch (the torch reward functions live in ``reverie.envs.rewards``, and the
records of ``reverie.envs.tasks`` name them by import path). What reverie knows of each env: ``envs.tasks``.
"""

import gymnasium as gym

from reverie.envs.cartpole import CartPoleContinuous, CartPoleSwingUp
from reverie.envs.mazes import (
    BlockingMaze,
    DynaMaze,
    Maze,
    ScaledDynaMaze,
    ShortcutMaze,
    TransitionTable,
)

MAZES = ("DynaMaze", "BlockingMaze", "ShortcutMaze", "ScaledDynaMaze")
CONTINUOUS = ("CartPoleContinuous", "CartPoleSwingUp")

for _name in MAZES:
    _id = f"reverie/{_name}-v0"
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"reverie.envs.mazes:{_name}")

for _name in CONTINUOUS:
    _id = f"reverie/{_name}-v0"
    if _id not in gym.registry:
        # 200 steps: the horizon of mbrl-lib's PETS cart-pole and of the PETS swing-up.
        gym.register(id=_id, entry_point=f"reverie.envs.cartpole:{_name}", max_episode_steps=200)

if "reverie/PointMass-v0" not in gym.registry:
    gym.register(id="reverie/PointMass-v0", entry_point="reverie.envs.point_mass:PointMass", max_episode_steps=60)

# reaching tasks with a known quadratic cost (Guided Policy Search); 50 steps: 5 s for the mass, 2.5 s for the arm
if "reverie/PointMass2D-v0" not in gym.registry:
    gym.register(id="reverie/PointMass2D-v0", entry_point="reverie.envs.reaching:PointMass2D", max_episode_steps=50)
if "reverie/TwoLinkArm-v0" not in gym.registry:
    gym.register(id="reverie/TwoLinkArm-v0", entry_point="reverie.envs.two_link_arm:TwoLinkArm", max_episode_steps=50)
if "reverie/ReacherTargets-v0" not in gym.registry:  # MuJoCo's Reacher-v5 with targets
    gym.register(
        id="reverie/ReacherTargets-v0", entry_point="reverie.envs.reacher_targets:ReacherTargets", max_episode_steps=50
    )

# PILCO's swing-ups: 40 steps of 0.1 s (4 s), the horizon of Deisenroth & Rasmussen 2011.
for _name, _entry, _kwargs in (
    ("PilcoCartPole", "reverie.envs.pilco_cartpole:PilcoCartPole", {}),
    ("PendulumSwingUp", "reverie.envs.pendulum:PendulumSwingUp", {}),
    ("PendulumBalance", "reverie.envs.pendulum:PendulumSwingUp", {"start": "up"}),
):
    if f"reverie/{_name}-v0" not in gym.registry:
        gym.register(id=f"reverie/{_name}-v0", entry_point=_entry, max_episode_steps=40, kwargs=_kwargs)

# Value Iteration Networks' grid worlds (envs/grid_planning.py); each episode ends by 2 x optimal + 1 moves itself
if "reverie/GridPlanning-v0" not in gym.registry:
    gym.register(id="reverie/GridPlanning-v0", entry_point="reverie.envs.grid_planning:GridPlanning")

# Value Prediction Network's Collect (envs/collect.py); it ends itself after 20 primitive steps, an option being >= 1
if "reverie/Collect-v0" not in gym.registry:
    gym.register(id="reverie/Collect-v0", entry_point="reverie.envs.collect:Collect", max_episode_steps=20)

__all__ = [
    "CONTINUOUS",
    "MAZES",
    "BlockingMaze",
    "CartPoleContinuous",
    "CartPoleSwingUp",
    "DynaMaze",
    "Maze",
    "ScaledDynaMaze",
    "ShortcutMaze",
    "TransitionTable",
]
