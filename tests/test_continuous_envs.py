"""Continuous cart-poles (Gymnasium conformance, physics) and the torch reward/termination table vs the real envs."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control import CartPoleEnv
from gymnasium.utils.env_checker import check_env

import reverie  # noqa: F401  (registers reverie/<Name>-v0)
from reverie.envs.cartpole import CartPoleContinuous, CartPoleSwingUp
from reverie.envs.tasks import env_ids_with, task_info


@pytest.mark.parametrize("env_id", ["reverie/CartPoleContinuous-v0", "reverie/CartPoleSwingUp-v0"])
def test_cartpoles_pass_gymnasium_env_checker_and_have_a_200_step_limit(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    assert env.spec.max_episode_steps == 200
    assert env.action_space.shape == (1,) and env.observation_space.dtype == np.float32


def test_physics_match_gymnasium_cartpole_at_full_force():
    # Gymnasium's discrete CartPole pushes with +-10 N: our actions +-1 must give the very same trajectory.
    ours, theirs = CartPoleContinuous(), CartPoleEnv()
    ours.reset(seed=3)
    theirs.reset(seed=3)
    theirs.state = ours.state.copy()
    for t in range(15):
        push = t % 3 != 0
        obs, *_ = ours.step(np.array([1.0 if push else -1.0], dtype=np.float32))
        expected, *_ = theirs.step(int(push))
        np.testing.assert_array_equal(obs, expected)


def test_unforced_pole_falls_and_ends_the_episode_before_200_steps():
    env = gym.make("reverie/CartPoleContinuous-v0")
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.0, 0.0, 0.02, 0.0])  # a small tilt clockwise
    returns, thetas = 0.0, []
    for _ in range(200):
        obs, reward, terminated, truncated, _ = env.step(np.zeros(1, dtype=np.float32))
        returns += reward
        thetas.append(obs[2])
        if terminated or truncated:
            break
    assert terminated and not truncated and returns == len(thetas) < 200
    assert np.all(np.diff(thetas) > 0) and thetas[-1] > 0.2094  # falls monotonically the way it leans


def test_positive_action_pushes_the_cart_right():
    env = CartPoleContinuous()
    env.reset(seed=0)
    env.state = np.zeros(4)
    obs, *_ = env.step(np.array([0.5], dtype=np.float32))
    assert obs[1] > 0  # x_dot; x itself moves one step later (explicit Euler)
    assert env.step(np.array([5.0], dtype=np.float32))[0][1] == pytest.approx(obs[1] * 3, rel=1e-3)  # clipped to 1


def test_swingup_starts_hanging_down_with_reward_near_exp_minus_4_over_l2():
    env = gym.make("reverie/CartPoleSwingUp-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,) and obs[2] < -0.99  # cos(theta) ~ -1: hanging
    _, reward, *_ = env.step(np.zeros(1, dtype=np.float32))
    assert reward == pytest.approx(math.exp(-4 / 0.36), rel=0.1)
    steps, done = 1, False
    while not done:  # random forces never end the episode early; the limit does
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        steps, done = steps + 1, truncated
    assert steps == 200


def test_swingup_upright_at_the_origin_scores_one():
    env = CartPoleSwingUp()
    env.reset(seed=0)
    env.state = np.zeros(4)
    assert env.reward() == 1.0


def rollout(env_id: str, steps: int = 300, seed: int = 0):
    """``steps`` transitions of random actions (resetting as needed) -> obs, act, next_obs, reward, terminated."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)  # CartPole-v1, Acrobot-v1: indices
    low, high = (None, None) if discrete else (env.action_space.low, env.action_space.high)
    obs, _ = env.reset(seed=seed)
    columns = [[] for _ in range(5)]
    for _ in range(steps):
        # Up to 1.5x past the bounds, so the envs' own clipping (or not clipping, in a cost) is exercised.
        if discrete:
            act = int(rng.integers(env.action_space.n))
        else:
            act = rng.uniform(1.5 * low, 1.5 * high).astype(np.float32)
        if env_id == "MountainCarContinuous-v0":  # pump energy so the goal (and its +100) is reached
            act = (np.sign(obs[1]) or 1.0) * np.abs(act)
        next_obs, reward, terminated, truncated, _ = env.step(act)
        for column, value in zip(columns, (obs, act, next_obs, reward, terminated), strict=True):
            column.append(value)
        obs = env.reset()[0] if terminated or truncated else next_obs
    env.close()
    obs, act, next_obs = (torch.as_tensor(np.asarray(c, dtype=np.float32)) for c in columns[:3])
    return obs, act, next_obs, np.asarray(columns[3], dtype=np.float64), np.asarray(columns[4], dtype=bool)


@pytest.mark.parametrize("env_id", env_ids_with("reward"))
def test_reward_and_termination_functions_agree_with_the_real_env(env_id):
    obs, act, next_obs, reward, terminated = rollout(env_id)
    predicted = task_info(env_id).reward_fn()(obs, act, next_obs)
    ends = task_info(env_id).termination_fn()(obs, act, next_obs)
    assert predicted.shape == ends.shape == (300,) and predicted.dtype == torch.float32 and ends.dtype == torch.bool
    np.testing.assert_array_equal(ends.numpy(), terminated)
    if task_info(env_id).reward_approximate:
        # HalfCheetah pays the mean x-velocity over 5 substeps; next_obs only holds the last substep's velocity.
        assert np.corrcoef(predicted.numpy(), reward)[0, 1] > 0.9
    else:
        np.testing.assert_allclose(predicted.numpy(), reward, rtol=0, atol=1e-4)
    if env_id in ("MountainCarContinuous-v0", "InvertedPendulum-v5", "reverie/CartPoleContinuous-v0", "CartPole-v1"):
        assert terminated.any()  # the terminal reward/termination branch was really compared

    # Leading batch dims: [B, T, dim] -> [B, T], the same numbers as flat.
    batched = task_info(env_id).reward_fn()(*(x.reshape(3, 100, -1) for x in (obs, act, next_obs)))
    batched_ends = task_info(env_id).termination_fn()(*(x.reshape(3, 100, -1) for x in (obs, act, next_obs)))
    assert batched.shape == batched_ends.shape == (3, 100)
    torch.testing.assert_close(batched.reshape(-1), predicted)
    assert torch.equal(batched_ends.reshape(-1), ends)


def test_unknown_env_has_no_functions():
    assert task_info("Pendulum-v1").reward_fn() is not None and task_info("Pendulum-v1").termination_fn() is not None
    assert task_info("MountainCar-v0").reward_fn() is None and task_info("MountainCar-v0").termination_fn() is None
