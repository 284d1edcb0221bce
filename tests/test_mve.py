"""MVE: the expanded targets by hand, the H-step return of a perfect model, H=0 as TD3's target, the NaN guard, and
bad input as one line."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from reverie.algorithms import algorithm_config
from reverie.algorithms.mve import expand, mve_targets
from reverie.envs.tasks import task_info
from reverie.learners.td3 import TD3, TD3Config, td3_target
from reverie.models.model_env import ModelEnv
from reverie.models.simulator import SimulatorModel


def test_mve_targets_by_hand_stop_at_the_first_termination():
    reward = torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # [H+1 = 3, B = 2]
    terminated = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # row 1 ends after its second reward
    targets = mve_targets(reward, terminated, torch.tensor([10.0, 10.0]), 0.5)
    # row 0: y_2 = 3 + 0.5 * 10 = 8, y_1 = 2 + 0.5 * 8 = 6, y_0 = 1 + 0.5 * 6 = 4
    # row 1: y_2 = 8 (never used: past the end), y_1 = 2 (terminal), y_0 = 1 + 0.5 * 2 = 2
    assert torch.allclose(targets, torch.tensor([[4.0, 2.0], [6.0, 2.0], [8.0, 8.0]]))


def _td3(**overrides) -> TD3:
    torch.manual_seed(0)
    space = gym.make("Pendulum-v1").action_space
    return TD3(3, space.low, space.high, TD3Config(hidden_size=16, hidden_size_2=16, **overrides))


def test_a_perfect_model_gives_the_h_step_return_of_the_target_policy():
    # with the true simulator and no target smoothing, y_0 is the real (H+1)-step discounted return of the target
    # policy after (s_0, a_0), plus gamma^(H+1) times the target critic at the state it reaches
    horizon, gamma = 3, 0.99
    td3 = _td3(target_noise=0.0, gamma=gamma)
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=3)
    a0 = np.array([0.7], np.float32)
    next_obs, r0, *_ = env.step(a0)
    batch = {"obs": torch.tensor(obs)[None], "act": torch.tensor(a0)[None], "reward": torch.tensor([r0]),
             "next_obs": torch.tensor(next_obs)[None], "terminated": torch.tensor([False])}  # fmt: skip
    model_env = ModelEnv(SimulatorModel("Pendulum-v1"), task_info("Pendulum-v1").reward_fn())
    rows = expand(td3, model_env, batch, horizon, None)
    y0 = mve_targets(rows["reward"], rows["terminated"], rows["bootstrap"], gamma)[0, 0].item()

    expected, state = float(r0), torch.tensor(next_obs)[None]
    for t in range(1, horizon + 1):
        action = td3.scale.to_env(td3.actor_target(state).detach()).numpy()[0]
        obs_t, reward, *_ = env.step(action)
        expected += gamma**t * reward
        state = torch.tensor(obs_t)[None]
    with torch.no_grad():
        expected += gamma ** (horizon + 1) * td3.critic_target(state, td3.actor_target(state)).min().item()
    assert y0 == pytest.approx(expected, rel=1e-4)
    assert rows["live"].eq(1).all() and rows["obs"].shape == (horizon + 1, 1, 3)


def test_horizon_zero_is_td3s_own_target():
    td3 = _td3(target_noise=0.0)
    g = torch.Generator().manual_seed(0)
    batch = {"obs": torch.randn(5, 3), "act": torch.rand(5, 1) * 4 - 2, "reward": torch.randn(5),
             "next_obs": torch.randn(5, 3), "terminated": torch.tensor([False, True, False, False, True])}  # fmt: skip
    rows = expand(td3, None, batch, 0, g)
    ours = mve_targets(rows["reward"], rows["terminated"], rows["bootstrap"], td3.config.gamma)[0]
    theirs = td3_target(batch["reward"], batch["terminated"], td3.target_q(batch["next_obs"], g), td3.config.gamma)
    assert torch.allclose(ours, theirs)


class NaNModel:
    """s' = s + 0.1, except NaN where s[0] > 0.5 (a model that blew up in part of the state space)."""

    ensemble_size = 1

    def predict(self, obs, act, sample=True, generator=None):
        return torch.where(obs[..., :1] > 0.5, torch.nan, obs + 0.1), None, None


def test_a_non_finite_imagined_step_takes_its_row_out_of_the_loss_and_is_counted():
    td3 = _td3()
    model_env = ModelEnv(NaNModel(), lambda o, a, n: -(n[:, 0] ** 2), members="fixed")
    start = torch.tensor([[0.0, 0.0, 0.0], [0.45, 0.0, 0.0]])  # the second row crosses 0.5 on its first step
    batch = {"obs": start, "act": torch.zeros(2, 1), "reward": torch.zeros(2), "next_obs": start,
             "terminated": torch.tensor([False, False])}  # fmt: skip
    rows = expand(td3, model_env, batch, 3, torch.Generator().manual_seed(0))
    assert rows["nonfinite"].item() == 1
    assert rows["live"][:, 0].eq(1).all() and rows["live"][:, 1].eq(0).all()
    for name in ("obs", "reward", "bootstrap"):
        assert torch.isfinite(rows[name]).all()


@pytest.mark.parametrize("key", ["horizon=-1", "model_train_every=0", "td3.batch_size=0", "dynamics=perfect"])
def test_bad_settings_are_one_line_and_leave_no_run_directory(key, tmp_path, cli_error):
    out = tmp_path / "run"
    line = cli_error(["train", "mve", "--env", "Pendulum-v1", "--steps", "10", "--set", key, "--out", str(out)])
    assert key.split("=")[0].split(".")[-1] in line and not out.exists()


def test_the_oracle_on_an_env_without_a_simulator_is_one_line(tmp_path, cli_error):
    out = tmp_path / "run"
    line = cli_error(["train", "mve", "--env", "MountainCarContinuous-v0", "--steps", "10", "--set",
                      "dynamics=oracle", "--out", str(out)])  # fmt: skip
    assert "simulator" in line and not out.exists()


def test_oracle_with_a_learned_reward_is_refused():
    with pytest.raises(Exception, match="reward=learned"):
        algorithm_config("mve", {"dynamics": "oracle", "reward": "learned"})
