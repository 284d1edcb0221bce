"""The Collect domain of Oh, Singh & Lee (2017), "Value Prediction Network" (NeurIPS), its planning testbed.

A 10 x 10 grid: a border of walls around an 8 x 8 maze drawn anew each episode, the agent and ``num_goals`` goals
(8) on distinct free cells. Within 20 *primitive* steps the agent collects as many goals as it can; a step into a
free cell pays -0.2, a bump into a wall -0.5 (the agent stays), a step onto a goal +2 instead (the goal is gone).
The episode ends when no goal is left (terminated) or after the 20th step (truncated).

The rules follow the authors' code (github.com/junhyukoh/value-prediction-network, maze.py and
config/collect_*.xml), which the paper's text agrees with where it says something:

- **Maze.** Their depth-first generator on the 8 x 8 interior: from a random cell, carve a random wall neighbour
  that touches no other free cell; after a turn the next carve must go straight on (no zigzags); backtrack when
  nothing can be carved. Then up to ``holes`` (5) times, remove one random wall cell that separates two free cells
  in a straight line (walls on its other two sides); the rule often runs out of such walls, so 3.8 of 5 holes are
  made on average (40.7 free cells without holes, 44.5 with). Every free cell is reachable: carving keeps the free
  cells one tree, and holes only join them further. The agent, then each goal, goes on a uniformly random empty
  free cell.
- **Options** (``options=True``, the paper's actions): action ``a`` moves in its direction (0 up, 1 down, 2 left,
  3 right, as ``envs.mazes.MOVES``) step after step until the next cell that way is a wall (end of the corridor;
  a bump costs one step), a goal was collected, the agent stands on a branch (a free cell with three or four free
  neighbours), or the episode is over. One env step is one option; ``info["steps"]`` says how many primitive steps
  it took, ``reward`` is their rewards summed with ``option_discount`` (1: the plain sum; the authors' SMDP used
  0.99), ``info["score"]`` their plain sum, whose episode total is the paper's score. ``options=False``: one env
  step is one primitive step.
- **Stochastic** (``stochastic=True``: ``slip`` = ``goal_move`` = 0.3). After each primitive step that does not end
  the episode, each goal in turn moves with probability ``goal_move`` to a uniformly random empty neighbour (not a
  wall, the agent or another goal). ``slip``, with options: on reaching a branch, the option goes on past it with
  that probability (the paper's "each option can be repeated multiple times with probability 0.3"); without
  options (reverie's rule, the paper has no primitive variant): the action is replaced by a uniformly random one
  of the four.
- **Layouts** (``layout``): ``"train"`` (5 holes, 8 goals), and the paper's unseen test environments ``"fgs"``
  (fewer goals: 4) and ``"mws"`` (more walls: no holes). The paper names FGs and MWs without their numbers; these
  are our reading (docs/algorithms/vpn.md); ``num_goals`` and ``holes`` override the layout's.

Observation: ``[3, 10, 10]`` uint8, channels wall, agent, goal (the authors' order). The remaining time, which
the authors feed the network beside the image, is ``info["time_left"]`` = (20 - steps used) / 20.

``CollectBatch`` steps ``num_envs`` envs at once with NumPy arrays and resets finished ones itself; ``Collect``
(``reverie/Collect-v0``) is one env stepped in plain Python for speed. Both draw every episode's randomness in one
block from the env's own generator when the episode starts (the maze, the placements, and per primitive step the
slip and goal-move numbers), so a batch built on generators ``g_1..g_B`` plays exactly the episodes of B single
envs reset with ``g_i``'s seeds, whatever the actions; ``tests/test_collect.py`` checks this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import gymnasium as gym
import numpy as np

SIZE = 10
CELLS = SIZE * SIZE
CHANNELS = 3  # wall, agent, goal
TIME_LIMIT = 20
STEP_REWARD, BUMP_REWARD, GOAL_REWARD = -0.2, -0.5, 2.0
STOCHASTIC_P = 0.3
OFFSETS = (-SIZE, SIZE, -1, 1)  # up, down, left, right on the flat cell index row * 10 + col
LAYOUTS = {"train": (5, 8), "fgs": (5, 4), "mws": (0, 8)}  # (holes, goals)
MAX_GOALS = 16  # far below the free cells of a maze (34 at least in 5000 drawn without holes)
_DFS_DRAWS = 128  # one number per depth-first iteration (at most 63 carves and 64 backtracks)

_INTERIOR = tuple(r * SIZE + c for r in range(1, SIZE - 1) for c in range(1, SIZE - 1))
_INTERIOR_LANES = sum(1 << 8 * c for c in _INTERIOR)  # one byte per cell, as ``int.from_bytes(walls)``
_ALL_WALLS = bytes([1]) * CELLS
# depth-first bookkeeping: each cell's free neighbours, plus 16 on the border and 16 more once carved, so that
# exactly the wall cells that touch one free cell (the ones that may be carved) read 1
_BORDER_COUNT = bytes(0 if c in _INTERIOR else 16 for c in range(CELLS))
_OFFSETS_ARRAY = np.array(OFFSETS, dtype=np.int64)
_BITS = np.array([1, 2, 4, 8], dtype=np.int64)
# per 4-bit set of empty neighbours: how many, and the k-th of them (-1 where there is none)
_EMPTY_COUNT = np.array([m.bit_count() for m in range(16)], dtype=np.int64)
_EMPTY_PICK = np.array([[*(k for k in range(4) if m >> k & 1), -1, -1, -1, -1][:4] for m in range(16)], dtype=np.int64)


@dataclass(frozen=True)
class CollectRules:
    """One variant of the domain; ``collect_rules`` builds and checks it from the envs' keyword arguments."""

    layout: str = "train"
    holes: int = 5
    num_goals: int = 8
    slip: float = 0.0
    goal_move: float = 0.0
    options: bool = True
    option_discount: float = 1.0

    @property
    def event_width(self) -> int:
        """Random numbers per primitive step: slip, slip action, then (moves?, where) per goal."""
        return 2 + 2 * self.num_goals

    @property
    def maze_draws(self) -> int:
        """Random numbers for a new episode's maze and placements: start, depth-first, holes, agent, goals."""
        return 1 + _DFS_DRAWS + self.holes + 1 + self.num_goals

    @property
    def draws(self) -> int:
        return self.maze_draws + TIME_LIMIT * self.event_width


def collect_rules(
    layout: str = "train",
    *,
    stochastic: bool = False,
    slip: float | None = None,
    goal_move: float | None = None,
    options: bool = True,
    num_goals: int | None = None,
    holes: int | None = None,
    option_discount: float = 1.0,
) -> CollectRules:
    """The rules of a variant; a bad value raises ValueError with one line (the runner makes it a UserError)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; one of {', '.join(LAYOUTS)}")
    layout_holes, layout_goals = LAYOUTS[layout]
    holes = layout_holes if holes is None else holes
    num_goals = layout_goals if num_goals is None else num_goals
    if not isinstance(stochastic, bool):
        raise ValueError(f"stochastic must be True or False, got {stochastic!r}")
    default_p = STOCHASTIC_P if stochastic else 0.0
    slip = default_p if slip is None else slip
    goal_move = default_p if goal_move is None else goal_move
    for name, value in (("slip", slip), ("goal_move", goal_move)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    if isinstance(num_goals, bool) or not isinstance(num_goals, int) or not 1 <= num_goals <= MAX_GOALS:
        raise ValueError(f"num_goals must be an integer in [1, {MAX_GOALS}], got {num_goals!r}")
    if isinstance(holes, bool) or not isinstance(holes, int) or holes < 0:
        raise ValueError(f"holes must be a non-negative integer, got {holes!r}")
    if isinstance(option_discount, bool) or not isinstance(option_discount, int | float):
        raise ValueError(f"option_discount must be a number in (0, 1], got {option_discount!r}")
    if not 0.0 < option_discount <= 1.0:
        raise ValueError(f"option_discount must be in (0, 1], got {option_discount!r}")
    if not isinstance(options, bool):
        raise ValueError(f"options must be True or False, got {options!r}")
    return CollectRules(layout, holes, num_goals, float(slip), float(goal_move), options, float(option_discount))


# -- a new episode, in plain Python (shared by the single env and the batch) ------------------------------------
def _pick(u: float, n: int) -> int:
    """Index in [0, n) from a uniform number in [0, 1)."""
    k = int(u * n)
    return k if k < n else n - 1


_CHOICES = tuple(tuple(k for k in range(4) if m >> k & 1) for m in range(16))  # directions in a 4-bit set


def _maze(u: Sequence[float], holes: int) -> tuple[bytearray, list[int], int]:
    """(walls [100] bytes with 1 = wall, the free cells in order, the walls as one integer) from ``u``."""
    # plain Python at its fastest (locals only, no calls): a new maze every episode is most of a reset's time
    count = bytearray(_BORDER_COUNT)  # free neighbours of each cell; +16 once free (so never carved again)
    offsets, table, w = OFFSETS, _CHOICES, SIZE
    start = _INTERIOR[_pick(u[0], len(_INTERIOR))]
    count[start] += 16
    count[start - w] += 1
    count[start + w] += 1
    count[start - 1] += 1
    count[start + 1] += 1
    carved, cells, dirs = [start], [start], [0]
    i, depth = 0, 1
    while depth:
        i += 1
        c = cells[-1]
        d = dirs[-1]
        if depth > 2 and d != dirs[-2]:  # turned on the last carve: go straight on or backtrack
            n = c + offsets[d]
            if count[n] != 1:
                cells.pop()
                dirs.pop()
                depth -= 1
                continue
            k = d
        else:
            choices = table[(count[c - w] == 1) | (count[c + w] == 1) << 1 | (count[c - 1] == 1) << 2
                            | (count[c + 1] == 1) << 3]  # fmt: skip
            if not choices:
                cells.pop()
                dirs.pop()
                depth -= 1
                continue
            m = len(choices)
            if m == 1:
                k = choices[0]
            else:
                k = int(u[i] * m)
                k = choices[k if k < m else m - 1]
            n = c + offsets[k]
        count[n] += 16
        count[n - w] += 1
        count[n + w] += 1
        count[n - 1] += 1
        count[n + 1] += 1
        carved.append(n)
        cells.append(n)
        dirs.append(k)
        depth += 1
    walls = bytearray(_ALL_WALLS)
    for c in carved:
        walls[c] = 0
    # the walls as an integer with one byte per cell (bit 8c), so whole-grid shifts test neighbours at once
    lanes = int.from_bytes(walls, "little")
    base = 1 + _DFS_DRAWS
    for h in range(holes):
        up, down, left, right = lanes << 8 * w, lanes >> 8 * w, lanes << 8, lanes >> 8
        removable = lanes & _INTERIOR_LANES & ((up & down & ~left & ~right) | (left & right & ~up & ~down))
        if not removable:
            break
        for _ in range(_pick(u[base + h], removable.bit_count())):
            removable &= removable - 1  # drop the lowest cell: the pick is the k-th in row-major order
        c = ((removable & -removable).bit_length() - 1) // 8
        walls[c] = 0
        lanes ^= 1 << 8 * c
        carved.append(c)
    carved.sort()
    return walls, carved, lanes


def generate_maze(u: Sequence[float], holes: int) -> bytearray:
    """The authors' maze from uniform numbers ``u`` (``1 + 128 + holes`` of them): [100] bytes, 1 = wall."""
    return _maze(u, holes)[0]


def _branches(lanes: int) -> bytearray:
    free = ~lanes & _INTERIOR_LANES
    w = 8 * SIZE
    up, down, left, right = free << w, free >> w, free << 8, free >> 8
    three = free & ((up & down & (left | right)) | (left & right & (up | down)))
    return bytearray(three.to_bytes(CELLS, "little"))


def branches(walls: bytes | bytearray) -> bytearray:
    """[100] bytes, 1 on each free cell with three or four free neighbours (where an option stops)."""
    return _branches(int.from_bytes(bytes(walls), "little"))


def new_episode(u: Sequence[float], rules: CollectRules) -> tuple[bytearray, bytearray, int, list[int]]:
    """(walls, branches, agent cell, goal cells) of a new episode from its first ``rules.maze_draws`` numbers;
    walls and branches are [100] bytes (1 = wall / branch)."""
    walls, empty, mask = _maze(u, rules.holes)
    base = 1 + _DFS_DRAWS + rules.holes
    agent = empty.pop(_pick(u[base], len(empty)))
    goals = [empty.pop(_pick(u[base + 1 + j], len(empty))) for j in range(rules.num_goals)]
    return walls, _branches(mask), agent, goals


def _check_action(action, n: int = 4) -> int:
    if type(action) is int and 0 <= action < n:
        return action
    if isinstance(action, int | np.integer) and not isinstance(action, bool) and 0 <= int(action) < n:
        return int(action)
    raise ValueError(f"action {action!r} is not in Discrete({n})")


def _render(walls, agent: int, goals) -> str:
    goal_set = {g for g in goals if g >= 0}
    rows = []
    for r in range(SIZE):
        line = ""
        for c in range(r * SIZE, (r + 1) * SIZE):
            line += "A" if c == agent else "G" if c in goal_set else "#" if walls[c] else "."
        rows.append(line)
    return "\n".join(rows) + "\n"


# -- the Gymnasium env: one episode stepped in plain Python ------------------------------------------------------
class Collect(gym.Env):
    """``reverie/Collect-v0``: the Collect domain (module docstring), one env.

    Args:
        layout: "train" (default), "fgs" (fewer goals) or "mws" (more walls).
        stochastic: the paper's stochastic Collect (``slip`` and ``goal_move`` default to 0.3).
        slip, goal_move: the probabilities themselves, overriding ``stochastic``.
        options: True (the paper): an action is an option that runs to the next branch, corridor end or goal.
        num_goals, holes: override the layout's goals per episode and holes knocked into the maze.
        option_discount: the discount inside an option's reward (1: the plain sum).

    ``reset(options={"walls": [10, 10] bool, "agent": (row, col), "goals": [(row, col), ...]})`` plays a given
    layout (its border must be walls; at most ``num_goals`` goals) instead of a random one.
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        layout: str = "train",
        *,
        stochastic: bool = False,
        slip: float | None = None,
        goal_move: float | None = None,
        options: bool = True,
        num_goals: int | None = None,
        holes: int | None = None,
        option_discount: float = 1.0,
        render_mode: str | None = None,
    ):
        self.rules = collect_rules(
            layout, stochastic=stochastic, slip=slip, goal_move=goal_move, options=options,
            num_goals=num_goals, holes=holes, option_discount=option_discount,
        )  # fmt: skip
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 1, (CHANNELS, SIZE, SIZE), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self._grid = bytearray(CHANNELS * CELLS)  # walls, agent one-hot, goals: the observation's bytes
        self._branch, self._occupied = bytearray(CELLS), bytearray(CELLS)
        self._agent, self._goals, self._left, self._t = 0, [], 0, TIME_LIMIT
        self._events: list[float] = []

    def _observation(self) -> np.ndarray:
        return np.frombuffer(bytearray(self._grid), dtype=np.uint8).reshape(CHANNELS, SIZE, SIZE)

    def _start(self, walls, branch, agent: int, goals: list[int], events: list[float]) -> None:
        grid = bytearray(walls)
        grid += bytes(2 * CELLS)
        grid[CELLS + agent] = 1
        for g in goals:
            if g >= 0:
                grid[2 * CELLS + g] = 1
        occupied = bytearray(walls)  # a wall, the agent or a goal: where no goal may move
        occupied[agent] = 1
        for g in goals:
            if g >= 0:
                occupied[g] = 1
        self._grid, self._branch, self._occupied = grid, branch, occupied
        self._agent, self._goals, self._t = agent, list(goals), 0
        self._left = sum(g >= 0 for g in goals)
        self._events = events

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        rules = self.rules
        u = self.np_random.random(rules.draws).tolist()
        events = u[rules.maze_draws :]
        if options:
            walls, agent, goals = _given_layout(options, rules)
            branch = branches(walls)
        else:
            walls, branch, agent, goals = new_episode(u, rules)
        goals += [-1] * (rules.num_goals - len(goals))
        self._start(walls, branch, agent, goals, events)
        return self._observation(), {"time_left": 1.0}

    def step(self, action):
        a = _check_action(action)
        if self._t >= TIME_LIMIT or self._left == 0:
            raise RuntimeError("the episode is over; call reset()")
        rules, grid, branch, events, goals = self.rules, self._grid, self._branch, self._events, self._goals
        slip, goal_move, width, options, discount = (
            rules.slip, rules.goal_move, rules.event_width, rules.options, rules.option_discount,
        )  # fmt: skip
        pos, t, left, occupied = self._agent, self._t, self._left, self._occupied
        reward, score, weight, steps = 0.0, 0.0, 1.0, 0
        goal_base, table, w = 2 * CELLS, _CHOICES, SIZE
        while True:
            row = t * width
            t += 1
            if not options and slip > 0.0 and events[row] < slip:
                a = _pick(events[row + 1], 4)
            nxt = pos + OFFSETS[a]
            if grid[nxt]:
                r = BUMP_REWARD
            else:
                grid[CELLS + pos] = 0
                grid[CELLS + nxt] = 1
                occupied[pos] = 0
                occupied[nxt] = 1
                pos = nxt
                r = STEP_REWARD
            collected = grid[goal_base + pos] == 1
            if collected:
                r = GOAL_REWARD
                grid[goal_base + pos] = 0
                goals[goals.index(pos)] = -1
                left -= 1
            over = left == 0 or t >= TIME_LIMIT
            if goal_move > 0.0 and not over:
                for j, g in enumerate(goals):
                    if g < 0 or events[row + 2 + 2 * j] >= goal_move:
                        continue
                    ways = table[(not occupied[g - w]) | (not occupied[g + w]) << 1 | (not occupied[g - 1]) << 2
                                 | (not occupied[g + 1]) << 3]  # fmt: skip
                    if ways:
                        m = len(ways)
                        dest = g + OFFSETS[ways[_pick(events[row + 3 + 2 * j], m)] if m > 1 else ways[0]]
                        grid[goal_base + g] = 0
                        grid[goal_base + dest] = 1
                        occupied[g] = 0
                        occupied[dest] = 1
                        goals[j] = dest
            score += r
            reward += weight * r
            weight *= discount
            steps += 1
            if over or not options or collected or grid[pos + OFFSETS[a]]:
                break
            if branch[pos] and not (slip > 0.0 and events[row] < slip):
                break
        self._agent, self._t, self._left = pos, t, left
        terminated = left == 0
        truncated = t >= TIME_LIMIT and not terminated
        info = {"steps": steps, "score": score, "time_left": (TIME_LIMIT - t) / TIME_LIMIT}
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        return _render(self._grid[:CELLS], self._agent, self._goals)


def _given_layout(options: dict, rules: CollectRules) -> tuple[bytearray, int, list[int]]:
    unknown = set(options) - {"walls", "agent", "goals"}
    if unknown or not {"walls", "agent", "goals"} <= set(options):
        raise ValueError("reset options take exactly 'walls' ([10, 10] bool), 'agent' (row, col) and 'goals'")
    walls = np.asarray(options["walls"], dtype=bool)
    if walls.shape != (SIZE, SIZE):
        raise ValueError(f"walls must be [{SIZE}, {SIZE}], got {list(walls.shape)}")
    if not (walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()):
        raise ValueError("the border of a given layout must be walls")
    flat = bytearray(walls.astype(np.uint8).ravel().tobytes())
    cells = [int(r) * SIZE + int(c) for r, c in [options["agent"], *options["goals"]]]
    if len(cells) - 1 > rules.num_goals:
        raise ValueError(f"at most num_goals={rules.num_goals} goals, got {len(cells) - 1}")
    if len(set(cells)) != len(cells) or any(not 0 <= c < CELLS or flat[c] for c in cells):
        raise ValueError("the agent and the goals need distinct free cells")
    return flat, cells[0], cells[1:]


# -- the batch: B envs as arrays ---------------------------------------------------------------------------------
def _generators(num_envs: int, rng) -> list[np.random.Generator]:
    if isinstance(rng, Sequence):
        generators = list(rng)
        if len(generators) != num_envs or not all(isinstance(g, np.random.Generator) for g in generators):
            raise ValueError(f"rng must be one numpy Generator or {num_envs} of them")
        return generators
    if rng is None or isinstance(rng, int | np.integer):
        rng = np.random.default_rng(rng)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, a sequence of them, an int seed or None, got {rng!r}")
    return list(rng.spawn(num_envs))


class CollectBatch:
    """``num_envs`` Collect envs stepped together with NumPy arrays (same keywords as ``Collect``).

    ``rng``: one numpy Generator (each env gets a child, ``Generator.spawn``), one Generator per env (env ``i``
    then plays exactly what ``Collect`` reset with the seed of ``rng[i]`` plays), an int seed, or None.
    ``reset()`` starts a new episode in every env and returns the observations ``[B, 3, 10, 10]`` uint8.
    ``step(actions [B])`` returns ``(obs, reward, terminated, truncated, info)`` with ``[B]`` arrays; an env whose
    episode ended starts its next one at once: ``obs`` holds its new first observation and
    ``info["final_obs"]`` every env's observation before that reset. ``info`` also has ``steps`` (primitive steps
    per option), ``score`` (their plain reward sum) and ``time_left`` (of ``obs``).
    """

    def __init__(
        self,
        num_envs: int,
        rng=None,
        *,
        layout: str = "train",
        stochastic: bool = False,
        slip: float | None = None,
        goal_move: float | None = None,
        options: bool = True,
        num_goals: int | None = None,
        holes: int | None = None,
        option_discount: float = 1.0,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        self.rules = collect_rules(
            layout, stochastic=stochastic, slip=slip, goal_move=goal_move, options=options,
            num_goals=num_goals, holes=holes, option_discount=option_discount,
        )  # fmt: skip
        self._rngs = _generators(self.num_envs, rng)
        b, g = self.num_envs, self.rules.num_goals
        self.observation_space = gym.spaces.Box(0, 1, (CHANNELS, SIZE, SIZE), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self._grid = np.zeros((b, CHANNELS, CELLS), dtype=np.uint8)
        self._branch = np.zeros((b, CELLS), dtype=bool)
        self._occupied = np.zeros((b, CELLS), dtype=bool)  # a wall, the agent or a goal
        self._agent = np.zeros(b, dtype=np.int64)
        self._goals = np.full((b, g), -1, dtype=np.int64)
        self._left = np.zeros(b, dtype=np.int64)
        self._t = np.full(b, TIME_LIMIT, dtype=np.int64)
        self._events = np.zeros((b, TIME_LIMIT, self.rules.event_width))
        self._started = False

    def _restart(self, envs: np.ndarray) -> None:
        """New episodes in ``envs``: each draws its block from its own generator; the arrays are written at once."""
        rules = self.rules
        n = envs.size
        draws = np.empty((n, rules.draws))
        walls, branch, agents, goals = bytearray(), bytearray(), [], []
        for row, env in enumerate(envs.tolist()):
            u = draws[row]
            self._rngs[env].random(out=u)
            w, br, agent, cells = new_episode(u.tolist(), rules)
            walls += w
            branch += br
            agents.append(agent)
            goals.append(cells)
        agents, goals = np.array(agents, dtype=np.int64), np.array(goals, dtype=np.int64)
        grid = np.zeros((n, CHANNELS, CELLS), dtype=np.uint8)
        grid[:, 0] = np.frombuffer(walls, dtype=np.uint8).reshape(n, CELLS)
        rows = np.arange(n)
        grid[rows, 1, agents] = 1
        grid[rows[:, None], 2, goals] = 1
        self._grid[envs] = grid
        self._occupied[envs] = grid.any(axis=1)
        self._branch[envs] = np.frombuffer(branch, dtype=np.uint8).reshape(n, CELLS).astype(bool)
        self._agent[envs] = agents
        self._goals[envs] = goals
        self._left[envs] = rules.num_goals
        self._t[envs] = 0
        self._events[envs] = draws[:, rules.maze_draws :].reshape(n, TIME_LIMIT, rules.event_width)

    def observations(self) -> np.ndarray:
        return self._grid.reshape(self.num_envs, CHANNELS, SIZE, SIZE).copy()

    def time_left(self) -> np.ndarray:
        return (TIME_LIMIT - self._t) / TIME_LIMIT

    def reset(self) -> np.ndarray:
        self._restart(np.arange(self.num_envs))
        self._started = True
        return self.observations()

    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be [{self.num_envs}] integers, got {actions.dtype} {actions.shape}")
        if actions.min() < 0 or actions.max() > 3:
            raise ValueError("actions must be in [0, 4)")
        rules, grid, events = self.rules, self._grid, self._events
        b = self.num_envs
        reward, score, weight = np.zeros(b), np.zeros(b), np.ones(b)
        steps = np.zeros(b, dtype=np.int64)
        terminated = np.zeros(b, dtype=bool)
        truncated = np.zeros(b, dtype=bool)
        idx = np.arange(b)
        act = actions.astype(np.int64)
        while idx.size:
            t = self._t[idx]
            ev = events[idx, t]
            t = t + 1
            self._t[idx] = t
            a = act[idx]
            if not rules.options and rules.slip > 0.0:
                slipped = ev[:, 0] < rules.slip
                a = np.where(slipped, np.minimum((ev[:, 1] * 4).astype(np.int64), 3), a)
            pos = self._agent[idx]
            nxt = pos + _OFFSETS_ARRAY[a]
            bump = grid[idx, 0, nxt] == 1
            new = np.where(bump, pos, nxt)
            grid[idx, 1, pos] = 0
            grid[idx, 1, new] = 1
            self._occupied[idx, pos] = False
            self._occupied[idx, new] = True
            self._agent[idx] = new
            r = np.where(bump, BUMP_REWARD, STEP_REWARD)
            got = grid[idx, 2, new] == 1
            if got.any():
                envs, cells = idx[got], new[got]
                grid[envs, 2, cells] = 0
                slots = self._goals[envs]
                slots[slots == cells[:, None]] = -1
                self._goals[envs] = slots
                self._left[envs] -= 1
                r[got] = GOAL_REWARD
            term = self._left[idx] == 0
            over = term | (t >= TIME_LIMIT)
            if rules.goal_move > 0.0 and not over.all():
                self._move_goals(idx[~over], ev[~over])
            score[idx] += r
            reward[idx] += weight[idx] * r
            weight[idx] *= rules.option_discount
            steps[idx] += 1
            terminated[idx] = term
            truncated[idx] = over & ~term
            if not rules.options:
                break
            stop = over | got | (grid[idx, 0, new + _OFFSETS_ARRAY[a]] == 1)
            at_branch = self._branch[idx, new]
            if rules.slip > 0.0:
                at_branch &= ev[:, 0] >= rules.slip
            idx = idx[~(stop | at_branch)]
        final_obs = self.observations()
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            self._restart(ended)
        info = {"steps": steps, "score": score, "time_left": self.time_left(), "final_obs": final_obs}
        return self.observations(), reward, terminated, truncated, info

    def _move_goals(self, idx: np.ndarray, ev: np.ndarray) -> None:
        """Each goal in slot order moves with probability ``goal_move`` to a random empty neighbour."""
        grid, goals = self._grid, self._goals
        moving = ev[:, 2::2] < self.rules.goal_move  # [n, goals]
        for j in np.flatnonzero(moving.any(axis=0)).tolist():
            sel = np.flatnonzero(moving[:, j])
            envs = idx[sel]
            cells = goals[envs, j]
            alive = cells >= 0
            envs, cells, sel = envs[alive], cells[alive], sel[alive]
            around = cells[:, None] + _OFFSETS_ARRAY
            code = ~self._occupied[envs[:, None], around] @ _BITS
            count = _EMPTY_COUNT[code]
            pick = np.minimum((ev[sel, 3 + 2 * j] * count).astype(np.int64), np.maximum(count - 1, 0))
            way = _EMPTY_PICK[code, pick]
            go = way >= 0
            envs, cells = envs[go], cells[go]
            dest = cells + _OFFSETS_ARRAY[way[go]]
            grid[envs, 2, cells] = 0
            grid[envs, 2, dest] = 1
            self._occupied[envs, cells] = False
            self._occupied[envs, dest] = True
            goals[envs, j] = dest

    def render(self, env: int = 0) -> str:
        return _render(self._grid[env, 0], int(self._agent[env]), self._goals[env].tolist())
