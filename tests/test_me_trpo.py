"""ME-TRPO: the stopping rule on a scripted sequence of checks, per-member validation, imagined trajectories (auto-reset
at termination, the NaN guard), and bad input."""

import pytest
import torch

from reverie.algorithms.me_trpo import imagine, improving_fraction, member_returns, stop_after_check
from reverie.learners.trpo import TRPO, TRPOConfig
from reverie.models.model_env import ModelEnv


def test_the_stopping_rule_on_a_scripted_sequence_of_checks():
    # threshold 0.7 (0.7 itself passes), 5 consecutive failures stop; a pass resets the count
    fractions = [0.8, 0.6, 0.4, 0.7, 0.2, 0.6, 0.0, 0.4, 0.6, 1.0]
    failed, counts, stopped_at = 0, [], None
    for check, fraction in enumerate(fractions):
        failed, stop = stop_after_check(fraction, failed, threshold=0.7, max_failed=5)
        counts.append(failed)
        if stop:
            stopped_at = check
            break
    assert counts == [0, 1, 2, 0, 1, 2, 3, 4, 5] and stopped_at == 8


def test_one_failed_check_is_enough_when_max_failed_is_one():
    assert stop_after_check(0.69, 0, threshold=0.7, max_failed=1) == (1, True)
    assert stop_after_check(0.71, 0, threshold=0.7, max_failed=1) == (0, False)


def test_improving_fraction_counts_strict_improvements_per_member():
    now, before = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]), torch.tensor([0.0, 2.0, 4.0, 3.0, 4.9])
    assert improving_fraction(now, before) == pytest.approx(3 / 5)  # a tie is no improvement


class ShiftModel:
    """Member k moves s' = s + shift[k] (a NaN where s[0] equals ``nan_at``)."""

    def __init__(self, shifts, nan_at=None):
        self.shifts, self.nan_at = torch.tensor(shifts), nan_at
        self.ensemble_size = len(shifts)

    def predict(self, obs, act, sample=True, generator=None, members=None):
        next_obs = obs + self.shifts[:, None, None]
        if self.nan_at is not None:
            next_obs = torch.where(obs == self.nan_at, torch.nan, next_obs)
        return next_obs, None, None


def _learner():
    torch.manual_seed(0)
    return TRPO(1, [-1.0], [1.0], TRPOConfig(hidden_size=4))


def test_member_returns_run_each_member_alone():
    # reward s'[0]; member 0 adds 1, member 1 subtracts 1; starts 0 and 2, three steps:
    # member 0: (1 + 2 + 3 + 3 + 4 + 5) / 2 = 9; member 1: (-1 - 2 - 3 + 1 + 0 - 1) / 2 = -3
    model_env = ModelEnv(ShiftModel([1.0, -1.0]), lambda o, a, n: n[:, 0], None, members="fixed", sample=False)
    returns = member_returns(model_env, _learner(), torch.tensor([[0.0], [2.0]]), 3)
    assert torch.allclose(returns, torch.tensor([9.0, -3.0]))


def test_member_returns_stop_at_termination():
    # ends once s'[0] >= 2: from 0 the member earns 1 + 2, then nothing
    model_env = ModelEnv(ShiftModel([1.0]), lambda o, a, n: n[:, 0], lambda o, a, n: n[:, 0] >= 2, members="fixed")
    assert member_returns(model_env, _learner(), torch.tensor([[0.0]]), 5).tolist() == [3.0]


def test_imagined_rows_restart_from_a_start_state_when_they_terminate():
    model_env = ModelEnv(ShiftModel([1.0]), lambda o, a, n: n[:, 0], lambda o, a, n: n[:, 0] >= 2, members="random")
    rollout = imagine(model_env, _learner(), torch.tensor([[0.0]]), rows=3, horizon=4,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert rollout["obs"].shape == (4, 3, 1) and rollout["act"].shape == (4, 3, 1) and rollout["nonfinite"] == 0
    # 0 -> 1, 1 -> 2 (terminated: restart at 0), 0 -> 1, 1 -> 2 (terminated)
    assert torch.equal(rollout["obs"][:, :, 0], torch.tensor([[0.0], [1.0], [0.0], [1.0]]).expand(4, 3))
    assert torch.equal(rollout["done"], torch.tensor([[False], [True], [False], [True]]).expand(4, 3))
    assert torch.equal(rollout["terminated"], rollout["done"])
    assert torch.equal(rollout["reward"], rollout["next_obs"][..., 0])


def test_a_non_finite_prediction_ends_the_row_as_a_truncation_at_its_last_good_state():
    model_env = ModelEnv(ShiftModel([1.0], nan_at=1.0), lambda o, a, n: n[:, 0], None, members="random")
    rollout = imagine(model_env, _learner(), torch.tensor([[0.0]]), rows=2, horizon=3,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip
    # 0 -> 1; 1 -> NaN (kept at 1, reward 0, done, not terminated); restart 0 -> 1
    assert rollout["nonfinite"] == 2 and torch.isfinite(rollout["next_obs"]).all()
    assert rollout["done"][:, 0].tolist() == [False, True, False] and not rollout["terminated"].any()
    assert rollout["next_obs"][1, :, 0].tolist() == [1.0, 1.0] and rollout["reward"][1].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("key", ["improvement_threshold=1.5", "validation_every=0", "max_failed_checks=0",
                                 "imagined_horizon=0", "trpo.target_kl=0", "start_states=anywhere"])  # fmt: skip
def test_bad_settings_are_one_line_and_leave_no_run_directory(key, tmp_path, cli_error):
    out = tmp_path / "run"
    line = cli_error(["train", "me-trpo", "--env", "Pendulum-v1", "--steps", "10", "--set", key, "--out", str(out)])
    assert key.split("=")[0].split(".")[-1] in line and not out.exists()


def test_discrete_actions_are_refused_in_one_line(tmp_path, cli_error):
    line = cli_error(["train", "me-trpo", "--env", "CartPole-v1", "--steps", "10", "--out", str(tmp_path / "r")])
    assert "Box" in line and not (tmp_path / "r" / "config.json").exists()
