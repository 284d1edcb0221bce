"""The one episode loop: checked reset and steps, counting into the budget (action repeats included), the end."""

import gymnasium as gym
import numpy as np
import pytest

from reverie.algorithms.episode import Episode, finite_observation
from reverie.envs.wrappers import ActionRepeat
from reverie.errors import UserError
from reverie.runner.run import RunHandle


def _run(tmp_path, **budget):
    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    env = gym.make("reverie/PointMass-v0")
    return env, RunHandle(tmp_path, 0, env=env, **{"max_episodes": None, "max_steps": None, **budget})


def test_an_episode_counts_every_step_and_reports_its_return(tmp_path):
    env, run = _run(tmp_path, max_episodes=1)
    episode, rewards = Episode(env, run, finite_observation), []
    while episode.running:
        episode.step(np.zeros(1, np.float32))
        rewards.append(episode.reward)
    assert episode.finish({"model/loss": 1.0}) and run.finished()
    assert run.env_steps == episode.length == len(rewards) == 60  # the point mass's time limit
    assert run.returns == [pytest.approx(sum(rewards))] and episode.obs.dtype == np.float32


def test_an_action_repeat_counts_each_underlying_step(tmp_path):
    env, run = _run(tmp_path, max_episodes=1)
    repeated = ActionRepeat(env, 4)
    episode = Episode(repeated, run, finite_observation)
    episode.step(np.ones(1, np.float32))
    assert run.env_steps == episode.length == 4


def test_a_budget_that_ends_mid_episode_reports_no_episode(tmp_path):
    env, run = _run(tmp_path, max_steps=10)
    episode = Episode(env, run, finite_observation)
    while episode.running:
        episode.step(np.zeros(1, np.float32))
    assert run.env_steps == 10 and not episode.finish({}) and run.lengths == []


def test_a_non_finite_reward_is_one_user_error(tmp_path):
    class NaNReward(gym.Wrapper):
        def step(self, action):
            obs, _, terminated, truncated, info = self.env.step(action)
            return obs, float("nan"), terminated, truncated, info

    env, run = _run(tmp_path, max_episodes=1)
    episode = Episode(NaNReward(env), run, finite_observation)
    with pytest.raises(UserError, match="non-finite reward"):
        episode.step(np.zeros(1, np.float32))
