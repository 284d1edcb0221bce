"""Expert demonstrations on VIN's grid worlds: maps, shortest-path trajectories and (state, action) samples.

As the authors' dataset (Tamar et al. 2016, scripts/make_data_gridworld_nips.m): ``maps`` random maps, ``starts``
distinct random start cells on each (free, reachable, not the goal; fewer where fewer exist), the expert's
shortest path from each start, and one sample per state on a path with the expert's move as its label. A dataset
is a pure function of its arguments (the seed included), so training and test sets are two seeds, and a run caches
its sets as ``.npz`` files.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from reverie.envs.grid_planning import MOVES, Maps, draw_maps, expert_actions, start_cells

CACHE_LAYOUT = 2  # bumped when the stored arrays change meaning, so an older cache is made again


class GridDemos(NamedTuple):
    """One dataset: the maps and their expert trajectories, flattened into samples.

    Attributes:
        obstacles: [M, n, n] bool; goals: [M, 2] int64 (row, col); distances: [M, n, n] float64 (to the goal).
        sample_map, sample_position, sample_action: [S] int64, [S, 2] int64, [S] int64 (the expert's move).
        start_map, start_position, optimal_steps: [T] int64, [T, 2] int64, [T] int64, one row per trajectory.
    """

    obstacles: np.ndarray
    goals: np.ndarray
    distances: np.ndarray
    sample_map: np.ndarray
    sample_position: np.ndarray
    sample_action: np.ndarray
    start_map: np.ndarray
    start_position: np.ndarray
    optimal_steps: np.ndarray

    def sample_rows(self, maps: np.ndarray) -> np.ndarray:
        """The rows of the samples on ``maps`` (sorted map indices), [S'] int64: samples are stored by map, so
        each map's are one contiguous range."""
        return _ranges(self.sample_map, maps)

    def start_rows(self, maps: np.ndarray) -> np.ndarray:
        """The rows of the trajectories that start on ``maps`` (sorted map indices), [T'] int64."""
        return _ranges(self.start_map, maps)

    @property
    def maps(self) -> Maps:
        return Maps(self.obstacles, self.goals, self.distances)

    def images(self, maps: np.ndarray | None = None) -> np.ndarray:
        """The networks' input of ``maps`` (all when None): [M, 2, n, n] float32, obstacles and the goal (1.0)."""
        index = np.arange(len(self.goals)) if maps is None else np.asarray(maps)
        images = np.zeros((len(index), 2, *self.obstacles.shape[1:]), dtype=np.float32)
        images[:, 0] = self.obstacles[index]
        images[np.arange(len(index)), 1, self.goals[index, 0], self.goals[index, 1]] = 1.0
        return images


def _ranges(sorted_maps: np.ndarray, maps: np.ndarray) -> np.ndarray:
    low, high = np.searchsorted(sorted_maps, maps, "left"), np.searchsorted(sorted_maps, maps, "right")
    return np.concatenate([np.arange(a, b) for a, b in zip(low, high, strict=True)]) if len(maps) else low


def make_demos(maps: int, starts: int, size: int, seed: int, max_obstacles: int, obstacle_size: int) -> GridDemos:
    """``maps`` maps of side ``size`` with ``starts`` expert trajectories each, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    drawn = draw_maps(maps, size, rng, max_obstacles, obstacle_size)
    start_map, start_position = [], []
    for index in range(maps):
        reachable = start_cells(drawn, index)
        if len(reachable) == 0:  # the goal is walled in: this map gives no trajectory
            continue
        chosen = reachable[rng.choice(len(reachable), size=min(starts, len(reachable)), replace=False)]
        start_map += [index] * len(chosen)
        start_position.append(chosen)
    start_map = np.asarray(start_map, dtype=np.int64)
    start_position = np.concatenate(start_position).astype(np.int64)
    # follow every expert path at once: one batched expert step per move
    positions, on_map = start_position.copy(), start_map.copy()
    steps = np.zeros(len(start_map), dtype=np.int64)
    samples = ([], [], [])
    active = np.ones(len(start_map), dtype=bool)
    while active.any():
        rows = np.flatnonzero(active)
        actions = expert_actions(drawn.obstacles, drawn.distances, positions[rows], on_map[rows])
        samples[0].append(on_map[rows])
        samples[1].append(positions[rows].copy())
        samples[2].append(actions)
        positions[rows] += MOVES[actions]
        steps[rows] += 1
        active[rows] = (positions[rows] != drawn.goals[on_map[rows]]).any(axis=1)
    sample_map = np.concatenate(samples[0])
    by_map = np.argsort(sample_map, kind="stable")  # each map's samples contiguous, in path order
    return GridDemos(
        drawn.obstacles, drawn.goals, drawn.distances,
        sample_map[by_map], np.concatenate(samples[1])[by_map], np.concatenate(samples[2])[by_map],
        start_map, start_position, steps,
    )  # fmt: skip


def cached_demos(path: Path, **kwargs) -> GridDemos:
    """``make_demos(**kwargs)``, read from ``path`` when it holds the same dataset (same arguments), else made and
    written there."""
    path = Path(path)
    key = np.array(sorted({**kwargs, "layout": CACHE_LAYOUT}.items()), dtype=str)
    if path.exists():
        with np.load(path) as saved:
            if "key" in saved and saved["key"].shape == key.shape and (saved["key"] == key).all():
                return GridDemos(*(saved[name] for name in GridDemos._fields))
    demos = make_demos(**kwargs)
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, key=key, **demos._asdict())
    partial.replace(path)
    return demos
