"""The grid-world planning domain of Value Iteration Networks (Tamar, Wu, Thomas, Levine & Abbeel 2016).

An n x n grid with a border of obstacles, random obstacles inside, a goal and a start; 8 moves (the 4 compass
moves cost 1, the 4 diagonals sqrt(2)); the expert follows a shortest path to the goal. Maps are drawn as the
authors' generator draws them: up to ``max_obstacles`` random filled circles and rectangles of radius / side up to
``obstacle_size``, an obstacle that would cover the goal is dropped, and a map where none was placed is drawn
again. Shortest paths come from Dijkstra's algorithm (SciPy's ``csgraph.dijkstra``) run once over the block-diagonal
graph of a whole batch of maps, from every goal at once.

``GridPlanning`` is the Gymnasium env (``reverie/GridPlanning-v0``): a new map each episode, or a user-given
``layout``. Its observation is ``{"image": [2, n, n] uint8 (obstacles, goal), "position": [2] int64 (row, col)}``;
each move's reward is minus its length, so an episode's return is minus the path's length. Moving off the free
cells ends the episode as a failure: with a deterministic policy a bump would leave the agent where it was, to take
the same action for ever, so this only ends earlier what the authors' evaluation (bumps stay in place) scores as a
failure too. An episode is truncated after ``2 * optimal_steps + 1`` moves, the authors' evaluation limit.
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

from reverie.errors import UserError

# the 8 moves in the authors' order: N, S, E, W, NE, NW, SE, SW, as (row, col) offsets
MOVES = np.array([[-1, 0], [1, 0], [0, 1], [0, -1], [-1, 1], [-1, -1], [1, 1], [1, -1]], dtype=np.int64)
MOVE_COSTS = np.where(np.abs(MOVES).sum(axis=1) == 2, math.sqrt(2.0), 1.0)
# the authors' generator settings per map size (scripts/make_data_gridworld_nips.m): obstacles at most, their size
PAPER_OBSTACLES = {8: (30, 0), 16: (40, 1), 28: (50, 2)}
MIN_SIZE = 4  # the border takes two rows: a smaller grid has at most one free row


def default_obstacles(size: int) -> tuple[int, int]:
    """(max_obstacles, obstacle_size) of the authors' generator for ``size``, interpolated between their sizes."""
    if size in PAPER_OBSTACLES:
        return PAPER_OBSTACLES[size]
    return max(1, round(30 + 20 * (size - 8) / 20)), max(0, round((size - 8) / 10))


class Maps(NamedTuple):
    """A batch of maps: ``obstacles`` [M, n, n] bool, ``goals`` [M, 2] int64 (row, col), and ``distances``
    [M, n, n] float64, each free cell's shortest-path length to its map's goal (inf: unreachable or obstacle)."""

    obstacles: np.ndarray
    goals: np.ndarray
    distances: np.ndarray


def check_size(size: int) -> None:
    if not isinstance(size, int | np.integer) or size < MIN_SIZE:
        raise UserError(f"the grid size must be an integer of at least {MIN_SIZE}, got {size!r}")


def draw_maps(count: int, size: int, rng: np.random.Generator, max_obstacles: int, obstacle_size: int) -> Maps:
    """``count`` random maps of the authors' generator (module docstring), with their goals' distance fields."""
    check_size(size)
    obstacles = np.zeros((count, size, size), dtype=bool)
    goals = np.zeros((count, 2), dtype=np.int64)
    rows, cols = np.mgrid[:size, :size]
    for index in range(count):
        while True:
            goal = rng.integers(1, size - 1, size=2)
            grid = np.zeros((size, size), dtype=bool)
            placed = 0
            for _ in range(int(rng.integers(1, max_obstacles + 1))):
                extent = math.ceil(rng.random() * obstacle_size)
                top, left = rng.integers(0, size, size=2)
                if rng.random() < 0.5:  # a filled circle of radius `extent` (0: one cell)
                    shape = (rows - top) ** 2 + (cols - left) ** 2 <= extent**2
                else:  # a filled rectangle of sides up to `extent` + 1 cells
                    height, width = 1 + int(rng.integers(0, extent + 1)), 1 + int(rng.integers(0, extent + 1))
                    shape = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
                if not shape[goal[0], goal[1]]:
                    grid |= shape
                    placed += 1
            if placed:
                break
        grid[0, :] = grid[-1, :] = grid[:, 0] = grid[:, -1] = True
        obstacles[index], goals[index] = grid, goal
    return Maps(obstacles, goals, shortest_distances(obstacles, goals))


def shortest_distances(obstacles: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Each free cell's shortest 8-connected path length to its map's goal, [M, n, n] (inf where there is none).

    Moves are symmetric (a move is allowed both ways between two free cells, at the same cost), so the distance
    to the goal equals the distance from it: one Dijkstra from all goals over the disconnected union of the maps.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    count, size, _ = obstacles.shape
    free = ~obstacles
    ids = np.arange(count * size * size).reshape(count, size, size)
    sources, targets, weights = [], [], []
    for (d_row, d_col), cost in zip(MOVES, MOVE_COSTS, strict=True):
        row_from, row_to = slice(max(0, -d_row), size - max(0, d_row)), slice(max(0, d_row), size + min(0, d_row))
        col_from, col_to = slice(max(0, -d_col), size - max(0, d_col)), slice(max(0, d_col), size + min(0, d_col))
        both = free[:, row_from, col_from] & free[:, row_to, col_to]
        sources.append(ids[:, row_from, col_from][both])
        targets.append(ids[:, row_to, col_to][both])
        weights.append(np.full(int(both.sum()), cost))
    nodes = count * size * size
    graph = coo_matrix((np.concatenate(weights), (np.concatenate(sources), np.concatenate(targets))), (nodes, nodes))
    goal_ids = ids[np.arange(count), goals[:, 0], goals[:, 1]]
    distances = dijkstra(graph.tocsr(), directed=True, indices=goal_ids, min_only=True)
    return distances.reshape(count, size, size)


def start_cells(maps: Maps, index: int) -> np.ndarray:
    """The cells of map ``index`` a trajectory may start from: free, reaching the goal, not the goal; [K, 2]."""
    reachable = np.argwhere(np.isfinite(maps.distances[index]))
    return reachable[(reachable != maps.goals[index]).any(axis=1)]


def expert_actions(obstacles: np.ndarray, distances: np.ndarray, positions: np.ndarray, maps: np.ndarray):
    """The shortest-path move from each of ``positions`` [N, 2] on map ``maps`` [N] ([N] int64): the move minimising
    its cost plus the distance left, the first in ``MOVES`` order among equals (the expert's tie-break)."""
    size = obstacles.shape[-1]
    targets = positions[:, None, :] + MOVES[None]  # [N, 8, 2]
    inside = ((targets >= 0) & (targets < size)).all(axis=-1)
    clipped = np.clip(targets, 0, size - 1)
    left = distances[maps[:, None], clipped[..., 0], clipped[..., 1]]
    totals = np.where(inside, MOVE_COSTS[None] + left, np.inf)
    best = totals.min(axis=1, keepdims=True)
    return np.argmax(totals <= best + 1e-9, axis=1).astype(np.int64)


def expert_path(maps: Maps, index: int, start) -> np.ndarray:
    """The expert's cells from ``start`` to map ``index``'s goal, [steps + 1, 2] int64 (start first)."""
    path = [np.asarray(start, dtype=np.int64)]
    goal = maps.goals[index]
    if not np.isfinite(maps.distances[index, path[0][0], path[0][1]]):
        raise UserError(f"no path from start {tuple(path[0])} to goal {tuple(goal)} on this map")
    while not np.array_equal(path[-1], goal):
        action = expert_actions(maps.obstacles, maps.distances, path[-1][None], np.array([index]))[0]
        path.append(path[-1] + MOVES[action])
    return np.stack(path)


def parse_layout(layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A map drawn as text, rows separated by '/' or newlines: '#' obstacle, '.' free, 'S' start, 'G' goal.
    Returns (obstacles [n, n] bool, goal [2], start [2]); a malformed layout raises UserError."""
    rows = [row for row in layout.replace("/", "\n").split("\n") if row.strip()]
    if not rows or any(len(row) != len(rows) for row in rows):
        raise UserError(f"a layout must be a square of rows of equal length, got {len(rows)} rows: {layout!r}")
    check_size(len(rows))
    grid = np.array([list(row) for row in rows])
    if set(np.unique(grid)) - set("#.SG"):
        raise UserError("a layout may hold only '#' (obstacle), '.' (free), 'S' (start) and 'G' (goal)")
    starts, goals = np.argwhere(grid == "S"), np.argwhere(grid == "G")
    if len(starts) != 1 or len(goals) != 1:
        raise UserError(f"a layout needs exactly one 'S' and one 'G', got {len(starts)} and {len(goals)}")
    return grid == "#", goals[0].astype(np.int64), starts[0].astype(np.int64)


class GridPlanning(gym.Env):
    """VIN's grid world as an env (module docstring): a new random map each episode, or the fixed ``layout``.

    Args:
        size: n, the grid's side (at least 4); ignored with ``layout``.
        max_obstacles, obstacle_size: the generator's density knobs (None: the authors' values for ``size``).
        layout: a fixed map as text (``parse_layout``); its start must reach its goal.
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, size: int = 8, max_obstacles: int | None = None, obstacle_size: int | None = None,
                 layout: str | None = None):  # fmt: skip
        self.layout = None if layout is None else parse_layout(layout)
        size = len(self.layout[0]) if self.layout is not None else size
        check_size(size)
        default_count, default_extent = default_obstacles(size)
        self.size = int(size)
        self.max_obstacles = default_count if max_obstacles is None else int(max_obstacles)
        self.obstacle_size = default_extent if obstacle_size is None else int(obstacle_size)
        if self.max_obstacles < 1 or self.obstacle_size < 0:
            raise UserError(f"max_obstacles must be >= 1 and obstacle_size >= 0, got {max_obstacles}, {obstacle_size}")
        if self.layout is not None:
            obstacles, goal, start = self.layout
            maps = Maps(obstacles[None], goal[None], shortest_distances(obstacles[None], goal[None]))
            if not np.isfinite(maps.distances[0, start[0], start[1]]):
                raise UserError(f"the layout has no path from its start {tuple(start)} to its goal {tuple(goal)}")
        self.observation_space = gym.spaces.Dict(
            {
                "image": gym.spaces.Box(0, 1, (2, self.size, self.size), np.uint8),
                "position": gym.spaces.Box(0, self.size - 1, (2,), np.int64),
            }
        )
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self._maps, self._position, self._steps, self._limit = None, None, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.layout is not None:
            obstacles, goal, start = self.layout
            self._maps = Maps(obstacles[None], goal[None], shortest_distances(obstacles[None], goal[None]))
        else:
            self._maps = draw_maps(1, self.size, self.np_random, self.max_obstacles, self.obstacle_size)
            reachable = start_cells(self._maps, 0)
            if len(reachable) == 0:  # the goal is walled in: draw another map
                return self.reset(options=options)
            start = reachable[self.np_random.integers(len(reachable))]
        self._position, self._steps = np.asarray(start, dtype=np.int64), 0
        self.optimal_steps = len(expert_path(self._maps, 0, self._position)) - 1  # moves of the expert's path
        self.optimal_length = float(self._maps.distances[0, start[0], start[1]])  # its length (diagonals sqrt 2)
        self._limit = 2 * self.optimal_steps + 1
        return self._observation(), self._info()

    def step(self, action):
        move = MOVES[int(action)]
        target = self._position + move
        self._steps += 1
        reward = -float(MOVE_COSTS[int(action)])
        inside = bool(((target >= 0) & (target < self.size)).all())
        if not inside or self._maps.obstacles[0, target[0], target[1]]:
            return self._observation(), reward, True, False, self._info(success=False)
        self._position = target
        reached = bool(np.array_equal(target, self._maps.goals[0]))
        truncated = not reached and self._steps >= self._limit
        return self._observation(), reward, reached, truncated, self._info(success=reached)

    def _observation(self):
        image = np.zeros((2, self.size, self.size), dtype=np.uint8)
        image[0] = self._maps.obstacles[0]
        image[1, self._maps.goals[0][0], self._maps.goals[0][1]] = 1
        return {"image": image, "position": self._position.copy()}

    def _info(self, success: bool = False) -> dict:
        return {"is_success": success, "optimal_steps": self.optimal_steps, "optimal_length": self.optimal_length}
