"""Environments registered with Gymnasium as ``reverie/<Name>-v0`` when reverie is imported."""

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
from reverie.envs.rewards import is_known, reward_fn, termination_fn

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
    "is_known",
    "reward_fn",
    "termination_fn",
]
