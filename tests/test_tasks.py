"""The env records (envs/tasks.py): one per env id, found by one lookup, and what `reverie list` prints of them."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import reverie  # noqa: F401  (registers reverie/<Name>-v0)
from reverie.cli import main
from reverie.envs.goals import TerminationIsSuccess
from reverie.envs.pilco_costs import PilcoTask
from reverie.envs.tasks import ENV_REPORTS, PART_NAMES, TASKS, TaskInfo, env_ids_with, task_info
from reverie.errors import UserError
from reverie.models.simulator import SimulatorModel
from reverie.runner.train import make_env

REVERIE_IDS = sorted(k for k in gym.registry if k.startswith("reverie/"))


def test_every_registered_reverie_env_has_a_record_under_its_id():
    assert REVERIE_IDS and all(env_id in TASKS for env_id in REVERIE_IDS)
    assert all(record.env_id == env_id for env_id, record in TASKS.items())
    assert all(task_info(env_id) is TASKS[env_id] for env_id in TASKS)


@pytest.mark.parametrize("env_id", sorted(TASKS))
def test_every_part_of_a_record_loads_as_what_it_claims(env_id):
    record = task_info(env_id)
    for load in (record.reward_fn, record.termination_fn, record.gps_cost_fn, record.true_step):
        assert load() is None or callable(load())
    assert record.pilco_task() is None or isinstance(record.pilco_task(), PilcoTask)
    if record.success not in (None, ENV_REPORTS):  # a wrapper that adds info["is_success"]
        assert isinstance(record.with_success(gym.make(env_id)), gym.Wrapper)
    # a planner needs both or neither: a known reward with a learned termination has no use here
    assert (record.reward is None) == (record.termination is None)
    assert not record.reward_approximate or record.reward is not None


def test_an_unknown_id_gets_an_empty_record():
    record = task_info("FrozenLake-v1")
    assert record == TaskInfo("FrozenLake-v1") and record.parts() == ()
    assert record.reward_fn() is None and record.pilco_task() is None and record.true_step() is None
    env = gym.make("FrozenLake-v1")
    assert record.with_success(env) is env


def test_env_ids_with_a_part():
    assert set(env_ids_with("pilco")) == {
        "reverie/PilcoCartPole-v0", "reverie/PendulumSwingUp-v0", "reverie/PendulumBalance-v0",
        "MountainCarContinuous-v0", "InvertedPendulum-v5",
    }  # fmt: skip
    assert set(env_ids_with("gps-cost")) == {
        "reverie/PointMass2D-v0",
        "reverie/TwoLinkArm-v0",
        "reverie/ReacherTargets-v0",
    }
    assert "HalfCheetah-v5" in env_ids_with("reward") and task_info("HalfCheetah-v5").parts()[0] == "reward~"
    with pytest.raises(ValueError, match="unknown part"):
        env_ids_with("cost")


@pytest.mark.parametrize("env_id", [k for k in REVERIE_IDS if task_info(k).success == ENV_REPORTS])
def test_envs_said_to_report_success_do(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    assert "is_success" in env.step(env.action_space.sample())[4]
    env.close()


def test_the_mountain_cars_success_rule_is_applied_by_make_env():
    assert isinstance(make_env("MountainCarContinuous-v0", {}), TerminationIsSuccess)
    assert isinstance(make_env("MountainCar-v0", {}), TerminationIsSuccess)
    assert not isinstance(make_env("Pendulum-v1", {}), TerminationIsSuccess)


@pytest.mark.parametrize("env_id", env_ids_with("simulator"))
def test_the_true_dynamics_step_as_the_env_does(env_id):
    env, model = gym.make(env_id), SimulatorModel(env_id)
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    for _ in range(20):
        if discrete:  # an index for the env, its one-hot for the model (what ModelEnv hands a model)
            act = int(rng.integers(env.action_space.n))
            encoded = torch.nn.functional.one_hot(torch.tensor(act), int(env.action_space.n)).float()
        else:
            act = rng.uniform(-1.5, 1.5, size=env.action_space.shape).astype(np.float32)
            encoded = torch.as_tensor(act)
        next_obs, _, terminated, truncated, _ = env.step(act)
        predicted, _, _ = model.predict(torch.as_tensor(obs)[None, None], encoded[None, None])
        assert predicted.shape == (1, 1, *obs.shape)
        np.testing.assert_allclose(predicted[0, 0].numpy(), next_obs, rtol=0, atol=1e-5)
        obs = env.reset()[0] if terminated or truncated else next_obs


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_the_discrete_classic_controls_step_as_gymnasium_from_random_states(env_id):
    # random states across the observation space and random actions; the env steps its float64 state, the torch
    # step gets that state's observation in float64 (so only the equations are compared, not float32 rounding)
    env, step = gym.make(env_id).unwrapped, task_info(env_id).true_step()
    rng = np.random.default_rng(1)
    for i in range(200):
        env.reset(seed=i)  # CartPole pays 0 once an episode has ended: each state starts a fresh one
        if env_id == "CartPole-v1":
            state = rng.uniform([-2.4, -3.0, -0.2, -3.0], [2.4, 3.0, 0.2, 3.0])
            obs = state
        else:
            state = rng.uniform([-np.pi, -np.pi, -4 * np.pi, -9 * np.pi], [np.pi, np.pi, 4 * np.pi, 9 * np.pi])
            obs = np.array([np.cos(state[0]), np.sin(state[0]), np.cos(state[1]), np.sin(state[1]), *state[2:]])
        env.state = state.copy()
        act = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, *_ = env.step(act)
        one_hot = torch.nn.functional.one_hot(torch.tensor([act]), int(env.action_space.n)).double()
        predicted = step(torch.as_tensor(obs)[None], one_hot)
        np.testing.assert_allclose(predicted[0].numpy(), next_obs, rtol=0, atol=1e-5)
        record = task_info(env_id)
        predicted32, obs32 = predicted.float(), torch.as_tensor(obs, dtype=torch.float32)[None]
        assert float(record.reward_fn()(obs32, torch.tensor([act]), predicted32)[0]) == reward
        assert bool(record.termination_fn()(obs32, torch.tensor([act]), predicted32)[0]) == terminated


def test_a_simulator_for_an_env_without_true_dynamics_is_refused():
    with pytest.raises(UserError, match="no true simulator for 'Reacher-v5'"):
        SimulatorModel("Reacher-v5")


def test_list_prints_what_each_env_supports(capsys):
    assert main(["list"]) == 0
    lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.strip()}
    for env_id in [*REVERIE_IDS, "Pendulum-v1", "MountainCarContinuous-v0"]:
        assert tuple(lines[env_id]) == task_info(env_id).parts()
    assert lines["reverie/PilcoCartPole-v0"] == ["reward", "termination", "pilco", "success"]
    assert lines["reverie/CartPoleSwingUp-v0"] == ["reward", "termination", "simulator"]
    assert set(PART_NAMES.values()) == {p.rstrip("~") for record in TASKS.values() for p in record.parts()}
