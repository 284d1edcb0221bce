"""envs/wrappers.py: ActionRepeat holds an action for k env steps, sums their rewards and stops where the env does."""

import gymnasium as gym
import numpy as np
import pytest

from reverie.envs.wrappers import ActionRepeat


class Counter(gym.Env):
    """obs = [steps taken], reward = 2 ** steps taken before this step, terminated on step ``end`` (None: never)."""

    observation_space = gym.spaces.Box(0, np.inf, (1,))
    action_space = gym.spaces.Box(-1, 1, (1,))

    def __init__(self, end=None):
        self.end, self.t, self.actions = end, 0, []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.actions.append(float(action[0]))
        reward, self.t = 2.0**self.t, self.t + 1
        return np.array([self.t], np.float32), reward, self.t == self.end, False, {"t": self.t}


def test_one_step_holds_the_action_k_times_and_sums_the_rewards():
    env = ActionRepeat(Counter(), 3)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.array([0.5]))
    assert obs[0] == 3 and reward == 1 + 2 + 4 and not terminated and not truncated
    assert info == {"t": 3, "repeat_steps": 3, "step_rewards": [1.0, 2.0, 4.0]}  # the last step's info, and the count
    assert env.unwrapped.actions == [0.5, 0.5, 0.5]


def test_the_repeat_stops_at_termination():
    env = ActionRepeat(Counter(end=5), 4)
    env.reset(seed=0)
    assert env.step(np.zeros(1))[4]["repeat_steps"] == 4
    obs, reward, terminated, _, info = env.step(np.zeros(1))
    assert terminated and obs[0] == 5 and info["repeat_steps"] == 1 and reward == 16.0


def test_the_repeat_stops_at_truncation():
    env = ActionRepeat(gym.wrappers.TimeLimit(Counter(), 5), 3)
    env.reset(seed=0)
    env.step(np.zeros(1))
    _, reward, terminated, truncated, info = env.step(np.zeros(1))
    assert truncated and not terminated and info["repeat_steps"] == 2 and reward == 8 + 16


def test_a_step_budget_caps_the_repeat_but_one_step_is_always_taken():
    left = [5]
    env = ActionRepeat(Counter(), 4, steps_left=lambda: left[0])
    env.reset(seed=0)
    assert env.step(np.zeros(1))[4]["repeat_steps"] == 4
    left[0] = 2
    assert env.step(np.zeros(1))[4]["repeat_steps"] == 2
    left[0] = 0
    assert env.step(np.zeros(1))[4]["repeat_steps"] == 1
    left[0] = None  # no step budget
    assert env.step(np.zeros(1))[4]["repeat_steps"] == 4


def test_a_repeat_of_one_is_the_env_itself():
    plain, wrapped = Counter(end=3), ActionRepeat(Counter(end=3), 1)
    plain.reset(seed=0), wrapped.reset(seed=0)
    for _ in range(3):
        a, b = plain.step(np.zeros(1)), wrapped.step(np.zeros(1))
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4] and b[4]["repeat_steps"] == 1


@pytest.mark.parametrize("repeat", [0, -1, 1.5])
def test_a_repeat_below_one_or_fractional_is_refused(repeat):
    with pytest.raises(ValueError, match="positive integer"):
        ActionRepeat(Counter(), repeat)
