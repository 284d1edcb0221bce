"""The Collect domain of Value Prediction Network (envs/collect.py): rules on hand-made layouts, the random mazes,
the stochastic variant's frequencies, the batch against single envs, Gymnasium conformance and bad keywords."""

import ast
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reverie  # noqa: F401  (registers reverie/<Name>-v0)
from reverie.envs.collect import (
    _DFS_DRAWS,
    Collect,
    CollectBatch,
    branches,
    collect_rules,
    generate_maze,
    new_episode,
)
from reverie.errors import UserError
from reverie.runner.train import make_env

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3
WALL, AGENT, GOAL = 0, 1, 2


def corridor_with_branch() -> np.ndarray:
    """Row 1 free from column 1 to 8, and column 4 free down to row 3: (1, 4) is the only branch."""
    walls = np.ones((10, 10), dtype=bool)
    walls[1, 1:9] = False
    walls[1:4, 4] = False
    return walls


def open_room() -> np.ndarray:
    walls = np.ones((10, 10), dtype=bool)
    walls[1:9, 1:9] = False
    return walls


def agent_at(obs) -> tuple[int, int]:
    (row,), (col,) = np.nonzero(obs[AGENT])
    return int(row), int(col)


# -- the rules on hand-made layouts ----------------------------------------------------------------------------
def test_primitive_steps_pay_the_time_penalty_a_bump_and_a_goal():
    env = Collect(options=False)
    layout = {"walls": corridor_with_branch(), "agent": (1, 1), "goals": [(1, 3), (1, 5)]}
    obs, info = env.reset(seed=0, options=layout)
    assert obs.shape == (3, 10, 10) and obs.dtype == np.uint8 and info == {"time_left": 1.0}
    assert (obs[WALL] == corridor_with_branch()).all() and obs[GOAL].sum() == 2
    expected = [  # action, reward, agent after, goals left
        (LEFT, -0.5, (1, 1), 2),  # bump into the border: the agent stays
        (UP, -0.5, (1, 1), 2),
        (RIGHT, -0.2, (1, 2), 2),  # a plain step: the time penalty
        (RIGHT, 2.0, (1, 3), 1),  # onto a goal: +2 instead of the penalty, and the goal is gone
        (RIGHT, -0.2, (1, 4), 1),
    ]
    for t, (action, reward, cell, left) in enumerate(expected, start=1):
        obs, r, terminated, truncated, info = env.step(action)
        assert r == pytest.approx(reward) and info["score"] == pytest.approx(reward) and info["steps"] == 1
        assert agent_at(obs) == cell and obs[GOAL].sum() == left and not terminated and not truncated
        assert info["time_left"] == pytest.approx((20 - t) / 20)
    assert obs[GOAL, 1, 3] == 0 and obs[GOAL, 1, 5] == 1
    obs, r, terminated, truncated, _ = env.step(RIGHT)  # the last goal: the episode is over, not cut
    assert r == pytest.approx(2.0) and terminated and not truncated and obs[GOAL].sum() == 0
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)


def test_options_run_to_a_branch_a_goal_or_the_corridor_end():
    env = Collect()
    layout = {"walls": corridor_with_branch(), "agent": (1, 1), "goals": [(3, 4), (1, 8)]}
    env.reset(seed=0, options=layout)
    expected = [  # option, primitive steps, reward, agent after
        (RIGHT, 3, -0.6, (1, 4)),  # stops on the branch (1, 4)
        (DOWN, 2, -0.2 + 2.0, (3, 4)),  # stops on the goal it collects
        (DOWN, 1, -0.5, (3, 4)),  # a bump costs one step
        (UP, 2, -0.4, (1, 4)),  # the branch again
        (LEFT, 3, -0.6, (1, 1)),  # the corridor's end: the next cell is a wall
        (RIGHT, 3, -0.6, (1, 4)),
    ]
    used = 0
    for action, steps, reward, cell in expected:
        obs, r, terminated, truncated, info = env.step(action)
        used += steps
        assert (info["steps"], agent_at(obs)) == (steps, cell)
        assert r == pytest.approx(reward) and info["score"] == pytest.approx(reward)
        assert not terminated and not truncated and info["time_left"] == pytest.approx((20 - used) / 20)
    obs, r, terminated, truncated, info = env.step(RIGHT)  # (1, 5) .. (1, 8): the last goal
    assert info["steps"] == 4 and r == pytest.approx(-0.6 + 2.0) and terminated and not truncated


def test_option_discount_weights_the_steps_inside_an_option():
    env = Collect(option_discount=0.9)
    env.reset(seed=0, options={"walls": corridor_with_branch(), "agent": (1, 1), "goals": [(3, 4)]})
    _, r, _, _, info = env.step(RIGHT)  # three plain steps
    assert info["score"] == pytest.approx(-0.6) and r == pytest.approx(-0.2 * (1 + 0.9 + 0.81))


@pytest.mark.parametrize("options", [False, True])
def test_an_episode_is_cut_after_20_primitive_steps(options):
    env = gym.make("reverie/Collect-v0", options=options)
    env.reset(seed=0, options={"walls": corridor_with_branch(), "agent": (1, 1), "goals": [(3, 4)]})
    for t in range(1, 21):  # bumping into the border: one primitive step each, with or without options
        _, r, terminated, truncated, info = env.step(UP)
        assert r == pytest.approx(-0.5) and info["steps"] == 1 and not terminated
        assert truncated == (t == 20)
    # random play: every episode spends exactly its 20 steps unless it collects every goal first
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        used, done = 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(int(rng.integers(4)))
            used += info["steps"]
            done = terminated or truncated
        assert used == 20 if truncated else used <= 20 and obs[GOAL].sum() == 0
        env.reset()


# -- random mazes and placements -------------------------------------------------------------------------------
def reference_maze(u, holes):
    """The authors' generator (maze.py: generate_maze) restated plainly on the 8 x 8 interior, drawing the same
    numbers as envs.collect: u[0] the start cell, u[i] at the i-th depth-first iteration, then one per hole."""
    size, dy, dx = 8, (-1, 1, 0, 0), (0, 0, -1, 1)  # up, down, left, right
    maze = np.ones((size, size), dtype=int)
    start = min(int(u[0] * size * size), size * size - 1)
    maze[start // size, start % size] = 0
    stack = [(start % size, start // size, 0)]
    i = 0
    while stack:
        i += 1
        cx, cy, cd = stack[-1]
        directions = [cd] if len(stack) > 2 and cd != stack[-2][2] else range(4)
        candidates = []
        for d in directions:
            nx, ny = cx + dx[d], cy + dy[d]
            if 0 <= nx < size and 0 <= ny < size and maze[ny, nx] == 1:
                free = sum(
                    0 <= nx + dx[e] < size and 0 <= ny + dy[e] < size and maze[ny + dy[e], nx + dx[e]] == 0
                    for e in range(4)
                )
                if free == 1:
                    candidates.append(d)
        if candidates:
            d = candidates[min(int(u[i] * len(candidates)), len(candidates) - 1)]
            cx, cy = cx + dx[d], cy + dy[d]
            maze[cy, cx] = 0
            stack.append((cx, cy, d))
        else:
            stack.pop()
    grid = np.ones((size + 2, size + 2), dtype=int)
    grid[1:-1, 1:-1] = maze
    for h in range(holes):
        removable = [
            (y, x) for y in range(1, size + 1) for x in range(1, size + 1)
            if grid[y, x] == 1 and (
                (grid[y - 1, x] == 1 and grid[y + 1, x] == 1 and grid[y, x - 1] == 0 and grid[y, x + 1] == 0)
                or (grid[y - 1, x] == 0 and grid[y + 1, x] == 0 and grid[y, x - 1] == 1 and grid[y, x + 1] == 1)
            )
        ]  # fmt: skip
        if not removable:
            break
        y, x = removable[min(int(u[1 + _DFS_DRAWS + h] * len(removable)), len(removable) - 1)]
        grid[y, x] = 0
    return grid


def free_neighbours(walls: np.ndarray) -> np.ndarray:
    free = (~walls).astype(int)
    count = np.zeros(walls.shape, dtype=int)
    count[1:-1, 1:-1] = free[:-2, 1:-1] + free[2:, 1:-1] + free[1:-1, :-2] + free[1:-1, 2:]
    return np.where(free == 1, count, 0)


def test_the_maze_is_the_authors_generator_and_branches_are_cells_with_three_ways():
    rng = np.random.default_rng(0)
    for holes in (5, 0):
        for _ in range(300):
            u = rng.random(1 + _DFS_DRAWS + holes).tolist()
            walls = np.frombuffer(generate_maze(u, holes), dtype=np.uint8).reshape(10, 10)
            np.testing.assert_array_equal(walls, reference_maze(u, holes))
            branch = np.frombuffer(branches(walls.ravel().tobytes()), dtype=np.uint8).reshape(10, 10)
            np.testing.assert_array_equal(branch, free_neighbours(walls.astype(bool)) >= 3)


def reachable(walls: np.ndarray, start: tuple[int, int]) -> set:
    seen, frontier = {start}, deque([start])
    while frontier:
        r, c = frontier.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if not walls[nr, nc] and (nr, nc) not in seen:
                seen.add((nr, nc))
                frontier.append((nr, nc))
    return seen


@pytest.mark.parametrize(("layout", "goals", "holes"), [("train", 8, 5), ("fgs", 4, 5), ("mws", 8, 0)])
def test_agent_and_goals_start_on_distinct_free_cells_all_reachable(layout, goals, holes):
    rules = collect_rules(layout)
    assert (rules.num_goals, rules.holes) == (goals, holes)
    rng = np.random.default_rng(1)
    made = []
    for _ in range(300):
        u = rng.random(rules.draws).tolist()
        walls, _, agent, cells = new_episode(u, rules)
        walls = np.frombuffer(walls, dtype=np.uint8).reshape(10, 10).astype(bool)
        assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
        assert len(cells) == goals and len({agent, *cells}) == goals + 1
        assert not any(walls.flat[c] for c in [agent, *cells])
        free = {(int(r), int(c)) for r, c in zip(*np.nonzero(~walls), strict=True)}
        assert reachable(walls, divmod(agent, 10)) == free  # one connected region: every goal is reachable
        # carving makes a tree (free cells - 1 adjacent free pairs); each hole knocked in adds one cycle. The
        # authors' rule often finds fewer than `holes` walls to remove: 3.8 of 5 on average
        knocked = len(free) - (100 - np.frombuffer(generate_maze(u, 0), dtype=np.uint8).sum())
        pairs = (~walls[:-1] & ~walls[1:]).sum() + (~walls[:, :-1] & ~walls[:, 1:]).sum()
        assert pairs - (len(free) - 1) == knocked <= holes
        made.append(knocked)
    assert np.mean(made) >= 0.7 * holes


def test_seeded_resets_replay_the_same_episode():
    env = Collect(stochastic=True)
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=42)
        trace = [obs]
        for action in [0, 3, 1, 2, 3, 3, 0, 1]:
            obs, r, terminated, truncated, _ = env.step(action)
            trace += [obs, r]
            if terminated or truncated:
                break
        runs.append(trace)
    assert all(np.array_equal(a, b) for a, b in zip(*runs, strict=True))
    assert not np.array_equal(env.reset(seed=43)[0], runs[0][0])


# -- the stochastic variant's frequencies ----------------------------------------------------------------------
# Each frequency is a binomial proportion over n trials; the tolerances are 4 to 5 standard errors
# (sqrt(p (1 - p) / n)) of the asserted probability, so a correct env fails with probability below 1e-4 under any
# seed, and the fixed seeds make the test deterministic anyway.


def test_goals_move_with_probability_goal_move_to_a_neighbour():
    env = Collect(options=False, goal_move=0.3)
    moved = trials = 0
    ways = set()
    for episode in range(200):
        obs, _ = env.reset(seed=episode, options={"walls": open_room(), "agent": (1, 1), "goals": [(5, 5)]})
        for t in range(20):
            before = np.argwhere(obs[GOAL])[0]
            obs, *_ = env.step(UP)  # the agent bumps in its corner; the goal always has a free neighbour
            if t < 19:  # no goal moves after the step that ends the episode
                after = np.argwhere(obs[GOAL])[0]
                step = tuple(after - before)
                assert step in {(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)}
                trials += 1
                moved += step != (0, 0)
                ways.add(step)
    assert trials == 200 * 19
    assert moved / trials == pytest.approx(0.3, abs=0.03)  # standard error 0.0074
    assert len(ways) == 5


def test_an_option_passes_a_branch_with_probability_slip():
    env = Collect(slip=0.3)
    layout = {"walls": corridor_with_branch(), "agent": (1, 1), "goals": [(3, 4)]}
    steps = []
    for episode in range(2000):
        env.reset(seed=episode, options=layout)
        steps.append(env.step(RIGHT)[4]["steps"])  # 3: stopped on the branch (1, 4); 7: went on to (1, 8)
    steps = np.array(steps)
    assert set(steps.tolist()) == {3, 7}
    assert (steps == 7).mean() == pytest.approx(0.3, abs=0.04)  # standard error 0.010


def test_a_primitive_action_slips_to_a_random_one_with_probability_slip():
    env = Collect(options=False, slip=0.3)
    moves = {(-1, 0): 0, (1, 0): 0, (0, -1): 0, (0, 1): 0}
    for episode in range(4000):
        env.reset(seed=episode, options={"walls": open_room(), "agent": (5, 5), "goals": [(1, 1)]})
        obs = env.step(RIGHT)[0]
        moves[tuple(np.subtract(agent_at(obs), (5, 5)).tolist())] += 1
    n = sum(moves.values())
    # replaced with probability 0.3 by one of the four, so another direction with probability 0.3 * 3 / 4
    assert 1 - moves[(0, 1)] / n == pytest.approx(0.225, abs=0.03)  # standard error 0.0066
    for way in [(-1, 0), (1, 0), (0, -1)]:
        assert moves[way] / n == pytest.approx(0.075, abs=0.02)  # standard error 0.0042


# -- the batch -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"stochastic": True}, {"stochastic": True, "options": False}, {"layout": "fgs", "stochastic": True},
     {"layout": "mws", "option_discount": 0.99}],
)  # fmt: skip
def test_the_batch_plays_what_single_envs_play_under_the_same_seeds(kwargs):
    seeds = list(range(10, 22))
    batch = CollectBatch(len(seeds), [np.random.default_rng(s) for s in seeds], **kwargs)
    envs = [Collect(**kwargs) for _ in seeds]
    np.testing.assert_array_equal(
        batch.reset(), np.stack([e.reset(seed=s)[0] for e, s in zip(envs, seeds, strict=True)])
    )
    rng = np.random.default_rng(0)
    episodes = 0
    for _ in range(120):  # several episodes each: the batch resets finished envs itself
        actions = rng.integers(0, 4, len(seeds))
        obs, reward, terminated, truncated, info = batch.step(actions)
        for i, env in enumerate(envs):
            o, r, te, tr, inf = env.step(int(actions[i]))
            np.testing.assert_array_equal(info["final_obs"][i], o)
            assert (r, te, tr, inf["steps"], inf["score"]) == (
                reward[i], terminated[i], truncated[i], info["steps"][i], info["score"][i],
            )  # fmt: skip
            if te or tr:
                o, inf = env.reset()
                episodes += 1
            np.testing.assert_array_equal(obs[i], o)
            assert info["time_left"][i] == inf["time_left"]
    assert episodes > 3 * len(seeds)


def test_the_batch_checks_its_arguments_and_seeds():
    a, b = CollectBatch(4, 7), CollectBatch(4, np.random.default_rng(7))
    np.testing.assert_array_equal(a.reset(), b.reset())
    assert a.observations().shape == (4, 3, 10, 10) and a.time_left().tolist() == [1.0] * 4
    with pytest.raises(RuntimeError, match="reset"):
        CollectBatch(2).step(np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="actions must be"):
        a.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="actions must be"):
        a.step(np.full(4, 4))
    for bad in [{"num_envs": 0}, {"num_envs": 2, "rng": [np.random.default_rng(0)]}, {"num_envs": 2, "slip": -1}]:
        with pytest.raises(ValueError):
            CollectBatch(**bad)


# -- Gymnasium and the runner ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"stochastic": True}, {"options": False, "layout": "mws"}])
def test_collect_passes_gymnasium_env_checker(kwargs):
    env = gym.make("reverie/Collect-v0", **kwargs)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps == 20
    env.reset(seed=0)
    assert env.unwrapped.render().count("\n") == 10
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "'hard'"}, "unknown layout 'hard'; one of train, fgs, mws"),
        ({"slip": "-0.1"}, "slip must be a probability in [0, 1]"),
        ({"goal_move": "2"}, "goal_move must be a probability in [0, 1]"),
        ({"num_goals": "0"}, "num_goals must be an integer"),
        ({"stochastic": "'yes'"}, "stochastic must be True or False"),
    ],
)
def test_bad_keywords_are_one_line_user_errors(kwargs, message):
    with pytest.raises(UserError) as error:
        make_env("reverie/Collect-v0", kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"must be|unknown layout"):
        Collect(**{k: ast.literal_eval(v) for k, v in kwargs.items()})


def test_a_given_layout_is_checked():
    env = Collect()
    walls = corridor_with_branch()
    for options, message in [
        ({"walls": walls, "agent": (1, 1)}, "take exactly"),
        ({"walls": walls[1:], "agent": (1, 1), "goals": []}, "must be"),
        ({"walls": open_room() & False, "agent": (1, 1), "goals": [(2, 2)]}, "border"),
        ({"walls": walls, "agent": (2, 2), "goals": [(1, 1)]}, "distinct free cells"),
        ({"walls": walls, "agent": (1, 1), "goals": [(1, 1)]}, "distinct free cells"),
        ({"walls": open_room(), "agent": (1, 1), "goals": [(2, c) for c in range(1, 10)]}, "at most"),
    ]:
        with pytest.raises(ValueError, match=message):
            env.reset(seed=0, options=options)
