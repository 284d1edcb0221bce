"""The chapter-8 mazes: Gymnasium conformance, the book's layouts, wall switches and the P / table views."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reverie  # noqa: F401  (registers reverie/<Name>-v0)
from reverie.envs.mazes import BlockingMaze, DynaMaze, ScaledDynaMaze, ShortcutMaze

UP, DOWN, LEFT, RIGHT = 0, 1, 2, 3

# Sutton & Barto (2018) Figure 8.2 / Example 8.1, typed in from the book, not from the source:
# a wall of three cells in column 2 (rows 1-3), three in column 7 (rows 0-2), one at (4, 5).
BOOK_DYNA_WALLS = {(1, 2), (2, 2), (3, 2), (0, 7), (1, 7), (2, 7), (4, 5)}
BOOK_DYNA_PICTURE = ".......#G\n..#....#.\nA.#....#.\n..#......\n.....#...\n.........\n"
# One optimal 14-step route: down 2, right 4, up 1 (under (4,5)), right 4, up 3 along the right edge.
OPTIMAL_ROUTE = [DOWN, DOWN, RIGHT, RIGHT, RIGHT, RIGHT, UP, RIGHT, RIGHT, RIGHT, RIGHT, UP, UP, UP]


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [
        ("reverie/DynaMaze-v0", {}),
        ("reverie/BlockingMaze-v0", {}),
        ("reverie/ShortcutMaze-v0", {}),
        ("reverie/ScaledDynaMaze-v0", {}),
        ("reverie/ScaledDynaMaze-v0", {"scale": 2}),
    ],
)
def test_registered_envs_pass_gymnasium_env_checker(env_id, kwargs):
    env = gym.make(env_id, **kwargs)
    check_env(env.unwrapped)  # raises on any API violation (spaces, reset/step signatures, seeding)
    env.close()


def test_dyna_maze_layout_matches_example_8_1():
    env = gym.make("reverie/DynaMaze-v0").unwrapped
    assert (env.rows, env.cols) == (6, 9)
    assert env.observation_space.n == 54 and env.action_space.n == 4
    assert env.start == (2, 0) and env.goal == (0, 8)
    assert set(env.walls) == BOOK_DYNA_WALLS
    s, info = env.reset(seed=0)
    assert s == 18 and info == {}  # 2 * 9 + 0
    assert env.render() == BOOK_DYNA_PICTURE
    assert env.shortest_path_length() == 14


def test_dyna_maze_bumping_walls_and_edges_stays_put():
    env = DynaMaze()
    env.reset(seed=0)
    # off the left edge from the start: stay at state 18
    assert env.step(LEFT)[0] == 18
    # (2,1) -> right is the wall (2,2): stay at (2,1) = 19
    assert env.step(RIGHT)[0] == 19
    assert env.step(RIGHT)[0] == 19
    # top edge: from (0,0) up stays at 0
    env._cell = (0, 0)
    assert env.step(UP)[0] == 0
    # (0,6) -> right is the wall (0,7); bottom-right corner stays on down and right
    env._cell = (0, 6)
    assert env.step(RIGHT)[0] == 6
    env._cell = (5, 8)
    assert env.step(DOWN)[0] == 53 and env.step(RIGHT)[0] == 53


def test_dyna_maze_reward_and_termination_only_at_goal():
    env = DynaMaze()
    env.reset(seed=0)
    for i, a in enumerate(OPTIMAL_ROUTE):
        s, r, terminated, truncated, info = env.step(a)
        last = i == len(OPTIMAL_ROUTE) - 1
        assert truncated is False
        assert terminated is last and r == (1.0 if last else 0.0)
        assert info.get("is_success", False) is last
    assert s == 8  # (0, 8)
    assert env.lifetime_steps == 14


def test_step_rejects_action_outside_space():
    with pytest.raises(ValueError):
        DynaMaze().step(4)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_scaled_dyna_maze_shortest_path_scales_by_k(k):
    env = gym.make("reverie/ScaledDynaMaze-v0", scale=k).unwrapped
    assert (env.rows, env.cols) == (6 * k, 9 * k)
    assert len(env.walls) == 7 * k * k  # every wall cell blown up to k x k
    assert env.shortest_path_length() == 14 * k


def test_scaled_dyna_maze_rejects_non_positive_scale():
    with pytest.raises(ValueError):
        ScaledDynaMaze(scale=0)


def test_blocking_and_shortcut_path_lengths_and_defaults():
    blocking, shortcut = BlockingMaze(), ShortcutMaze()
    assert blocking.switch_step == 1000 and shortcut.switch_step == 3000
    # Figure 8.4: right-hand gap 5 right + 5 up = 10; after blocking, left gap 3 left + 5 up + 8 right = 16
    assert blocking.shortest_path_length() == 10
    assert blocking.shortest_path_length(blocking.walls_after) == 16
    # Figure 8.5: the reverse
    assert shortcut.shortest_path_length() == 16
    shortcut.load_state_dict({"lifetime_steps": 2999})
    assert shortcut.shortest_path_length() == 16  # one step short of the switch
    shortcut.load_state_dict({"lifetime_steps": 3000})
    assert shortcut.shortest_path_length() == 10


def test_blocking_switch_happens_after_exactly_switch_step_lifetime_steps_across_resets():
    env = gym.make("reverie/BlockingMaze-v0", switch_step=3).unwrapped
    env.reset(seed=0)
    env.step(LEFT)
    env.reset()
    env.step(LEFT)
    assert env.lifetime_steps == 2  # reset does not clear the lifetime counter
    env.reset()
    env._cell = (4, 8)  # just below the right-hand gap in row 3
    s, *_ = env.step(UP)  # the 3rd lifetime step still uses the old walls
    assert s == env.state_of((3, 8))
    assert env.lifetime_steps == 3 and env.walls == env.walls_after
    env.reset()
    env._cell = (4, 8)
    s, *_ = env.step(UP)  # the 4th step sees the gap closed
    assert s == env.state_of((4, 8))
    assert env.shortest_path_length() == 16


def test_blocking_state_dict_round_trip_restores_switch():
    old = BlockingMaze(switch_step=5)
    old.reset(seed=0)
    for _ in range(7):
        old.step(LEFT)
    saved = old.state_dict()
    assert saved == {"lifetime_steps": 7}
    fresh = BlockingMaze(switch_step=5)
    assert fresh.walls == fresh.walls_before
    fresh.load_state_dict(saved)
    assert fresh.lifetime_steps == 7 and fresh.walls == fresh.walls_after
    assert fresh.shortest_path_length() == 16


def test_maze_rejects_negative_switch_step():
    with pytest.raises(ValueError):
        BlockingMaze(switch_step=-1)


def _envs_for_p_checks():
    """Each layout, including both phases of the switching mazes (step() then never crosses a switch)."""
    blocking_after = BlockingMaze(switch_step=0)
    shortcut_before = ShortcutMaze(switch_step=10**9)
    shortcut_after = ShortcutMaze(switch_step=5)
    shortcut_after.load_state_dict({"lifetime_steps": 5})
    blocking_before = BlockingMaze(switch_step=10**9)
    return [DynaMaze(), ScaledDynaMaze(2), blocking_before, blocking_after, shortcut_before, shortcut_after]


@pytest.mark.parametrize("index", range(6))
def test_p_agrees_with_stepping_from_every_non_goal_state(index):
    env = _envs_for_p_checks()[index]
    env.reset(seed=0)
    walls_before = env.walls
    P = env.P
    goal = env.state_of(env.goal)
    assert sorted(P) == list(range(env.rows * env.cols))
    for row in range(env.rows):
        for col in range(env.cols):
            s = env.state_of((row, col))
            if s == goal:
                continue
            for a in range(4):
                env._cell = (row, col)
                s2, r, terminated, _, _ = env.step(a)
                assert P[s][a] == [(1.0, s2, r, terminated)], (s, a)
                _, nxt, rew, term = P[s][a][0]
                assert type(nxt) is int and type(rew) is float and type(term) is bool
    assert env.walls == walls_before  # the check never crossed a switch
    # the goal row is absorbing: stays put, no reward, terminated
    assert all(P[goal][a] == [(1.0, goal, 0.0, True)] for a in range(4))


def test_transition_table_arrays_agree_with_p():
    for env in _envs_for_p_checks():
        table, P = env.transition_table(), env.P
        n = env.rows * env.cols
        assert table.next_state.shape == table.reward.shape == table.terminated.shape == (n, 4)
        assert table.next_state.dtype == np.int64 and table.terminated.dtype == bool
        for s in range(n):
            for a in range(4):
                assert P[s][a] == [(1.0, table.next_state[s, a], table.reward[s, a], table.terminated[s, a])]
        # only moves into the goal pay: DynaMaze's goal (0,8) borders (1,8) and the (unreachable) wall cell (0,7)
        if isinstance(env, DynaMaze):
            paying = {(int(s), int(a)) for s, a in zip(*np.nonzero(table.reward), strict=True)}
            assert paying == {(env.state_of((1, 8)), UP), (env.state_of((0, 7)), RIGHT)}


def test_transition_table_with_explicit_walls_uses_them():
    env = BlockingMaze(switch_step=10**9)
    before, after = env.transition_table(), env.transition_table(env.walls_after)
    below_right_gap = env.state_of((4, 8))
    assert before.next_state[below_right_gap, UP] == env.state_of((3, 8))
    assert after.next_state[below_right_gap, UP] == below_right_gap
