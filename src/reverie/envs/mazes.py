"""The grid mazes of Sutton & Barto (2018), chapter 8, as Gymnasium environments.

State ``s = row * cols + col``; actions 0 up, 1 down, 2 left, 3 right. A move into a wall or off the
grid leaves the agent where it is. Reaching the goal gives reward +1 and terminates; every other step
gives 0. The blocking and shortcut mazes change their wall after a number of *lifetime* steps (counted
across episodes, as in the book), so one env instance is used for a whole run.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right


class TransitionTable(NamedTuple):
    """A deterministic tabular MDP as arrays, for compiled simulation.

    next_state: [S, A] int64; reward: [S, A] float64; terminated: [S, A] bool.
    """

    next_state: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray


class Maze(gym.Env):
    """A deterministic grid maze whose walls may switch to a second layout after ``switch_step``.

    Args:
        rows, cols: grid size.
        start: (row, col) where every episode begins.
        goal: (row, col) of the terminal goal cell.
        walls: blocked cells.
        walls_after: the wall layout used from lifetime step ``switch_step`` on (None: never changes).
        switch_step: lifetime steps after which ``walls_after`` replaces ``walls``.
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        rows: int,
        cols: int,
        start: tuple[int, int],
        goal: tuple[int, int],
        walls,
        *,
        walls_after=None,
        switch_step: int | None = None,
        render_mode: str | None = None,
    ):
        self.rows, self.cols = int(rows), int(cols)
        self.start, self.goal = tuple(start), tuple(goal)
        self.walls_before = frozenset(map(tuple, walls))
        self.walls_after = None if walls_after is None else frozenset(map(tuple, walls_after))
        if (self.walls_after is None) != (switch_step is None):
            raise ValueError("walls_after and switch_step go together")
        if switch_step is not None and int(switch_step) < 0:
            raise ValueError(f"switch_step must be >= 0, got {switch_step}")
        self.switch_step = None if switch_step is None else int(switch_step)
        for cell in (self.start, self.goal):
            if not (0 <= cell[0] < self.rows and 0 <= cell[1] < self.cols):
                raise ValueError(f"cell {cell} lies outside the {self.rows}x{self.cols} grid")
        self.observation_space = gym.spaces.Discrete(self.rows * self.cols)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode = render_mode
        self.lifetime_steps = 0
        self._cell = self.start

    # -- layout -------------------------------------------------------------------------------
    @property
    def walls(self) -> frozenset:
        """The wall layout in force now."""
        switched = self.switch_step is not None and self.lifetime_steps >= self.switch_step
        return self.walls_after if switched else self.walls_before

    def state_of(self, cell: tuple[int, int]) -> int:
        return cell[0] * self.cols + cell[1]

    def _move(self, cell, action, walls):
        row, col = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
        if not (0 <= row < self.rows and 0 <= col < self.cols) or (row, col) in walls:
            return cell
        return (row, col)

    def transition_table(self, walls=None) -> TransitionTable:
        """The layout's dynamics as arrays ([S, A] each); the goal row is absorbing."""
        walls = self.walls if walls is None else walls
        n_states = self.rows * self.cols
        next_state = np.zeros((n_states, 4), dtype=np.int64)
        reward = np.zeros((n_states, 4))
        terminated = np.zeros((n_states, 4), dtype=bool)
        for row in range(self.rows):
            for col in range(self.cols):
                s = self.state_of((row, col))
                for a in range(4):
                    nxt = (row, col) if (row, col) == self.goal else self._move((row, col), a, walls)
                    next_state[s, a] = self.state_of(nxt)
                    hit_goal = nxt == self.goal and (row, col) != self.goal
                    reward[s, a] = 1.0 if hit_goal else 0.0
                    terminated[s, a] = nxt == self.goal
        return TransitionTable(next_state, reward, terminated)

    @property
    def P(self) -> dict:
        """Transition table in FrozenLake's form: ``P[s][a] = [(prob, next_s, reward, terminated)]``."""
        table = self.transition_table()
        return {
            s: {
                a: [(1.0, int(table.next_state[s, a]), float(table.reward[s, a]), bool(table.terminated[s, a]))]
                for a in range(4)
            }
            for s in range(self.rows * self.cols)
        }

    def shortest_path_length(self, walls=None) -> int:
        """Fewest steps from start to goal under ``walls`` (breadth-first search); -1 if unreachable."""
        walls = self.walls if walls is None else walls
        frontier, seen, depth = [self.start], {self.start}, 0
        while frontier:
            if self.goal in frontier:
                return depth
            nxt = []
            for cell in frontier:
                for a in range(4):
                    new = self._move(cell, a, walls)
                    if new not in seen:
                        seen.add(new)
                        nxt.append(new)
            frontier, depth = nxt, depth + 1
        return -1

    # -- Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._cell = self.start
        return self.state_of(self._cell), {}

    def step(self, action):
        # a plain int in range skips Discrete.contains, whose NumPy checks cost more than the step itself
        if not (type(action) is int and 0 <= action < 4) and not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        self._cell = self._move(self._cell, int(action), self.walls)
        self.lifetime_steps += 1
        terminated = self._cell == self.goal
        info = {"is_success": terminated}  # every step, so a time-limit cut reads as a failure
        return self.state_of(self._cell), float(terminated), terminated, False, info

    def render(self):
        walls = self.walls
        rows = []
        for row in range(self.rows):
            line = ""
            for col in range(self.cols):
                cell = (row, col)
                line += "A" if cell == self._cell else "G" if cell == self.goal else "#" if cell in walls else "."
            rows.append(line)
        return "\n".join(rows) + "\n"

    # -- cross-episode state, so a resumed run sees the same wall switch ------------------------
    def state_dict(self) -> dict:
        return {"lifetime_steps": self.lifetime_steps}

    def load_state_dict(self, state: dict) -> None:
        self.lifetime_steps = int(state["lifetime_steps"])


DYNA_WALLS = [(1, 2), (2, 2), (3, 2), (0, 7), (1, 7), (2, 7), (4, 5)]


class DynaMaze(Maze):
    """Example 8.1: 6x9 grid, start (2,0), goal (0,8); shortest path 14 steps."""

    def __init__(self, render_mode=None):
        super().__init__(6, 9, (2, 0), (0, 8), DYNA_WALLS, render_mode=render_mode)


class BlockingMaze(Maze):
    """Figure 8.4: the short way round the wall on row 3 is blocked after ``switch_step`` steps."""

    def __init__(self, switch_step: int = 1000, render_mode=None):
        super().__init__(
            6,
            9,
            (5, 3),
            (0, 8),
            walls=[(3, col) for col in range(8)],
            walls_after=[(3, col) for col in range(1, 9)],
            switch_step=switch_step,
            render_mode=render_mode,
        )


class ShortcutMaze(Maze):
    """Figure 8.5: a shortcut on the right of the row-3 wall opens after ``switch_step`` steps."""

    def __init__(self, switch_step: int = 3000, render_mode=None):
        super().__init__(
            6,
            9,
            (5, 3),
            (0, 8),
            walls=[(3, col) for col in range(1, 9)],
            walls_after=[(3, col) for col in range(1, 8)],
            switch_step=switch_step,
            render_mode=render_mode,
        )


class ScaledDynaMaze(Maze):
    """Example 8.4: DynaMaze with every cell blown up to ``scale x scale``; shortest path 14 * scale."""

    def __init__(self, scale: int = 1, render_mode=None):
        scale = int(scale)
        if scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        walls = [(r * scale + i, c * scale + j) for r, c in DYNA_WALLS for i in range(scale) for j in range(scale)]
        super().__init__(6 * scale, 9 * scale, (2 * scale, 0), (0, 8 * scale), walls, render_mode=render_mode)
        self.scale = scale
