"""Environments registered with Gymnasium as ``reverie/<Name>-v0`` when reverie is imported."""

import gymnasium as gym

from reverie.envs.mazes import (
    BlockingMaze,
    DynaMaze,
    Maze,
    ScaledDynaMaze,
    ShortcutMaze,
    TransitionTable,
)

MAZES = ("DynaMaze", "BlockingMaze", "ShortcutMaze", "ScaledDynaMaze")

for _name in MAZES:
    _id = f"reverie/{_name}-v0"
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=f"reverie.envs.mazes:{_name}")

__all__ = ["MAZES", "BlockingMaze", "DynaMaze", "Maze", "ScaledDynaMaze", "ShortcutMaze", "TransitionTable"]
