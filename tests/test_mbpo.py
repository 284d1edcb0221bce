"""MBPO: the rollout-length schedule, branched rollouts (termination, the NaN guard, random elites), bad input, and
learning where random actions cannot pass."""

import json

import pytest
import torch

from reverie.algorithms import algorithm_config
from reverie.algorithms.mbpo import rollout_length
from reverie.cli import main
from reverie.models.model_env import ModelEnv, branched_rollouts


class CountingModel:
    """s' = s + 1 for every member (a NaN where s[0] equals ``nan_at``); remembers which members it was asked for."""

    ensemble_size = 3
    elites = torch.tensor([0, 2])

    def __init__(self, nan_at=None):
        self.nan_at, self.asked = nan_at, []

    def predict(self, obs, act, sample=True, generator=None, members=None):
        self.asked.append(None if members is None else members.tolist())
        next_obs = obs + 1.0
        if self.nan_at is not None:
            next_obs = torch.where(obs == self.nan_at, torch.nan, next_obs)
        return next_obs, None, None


def _env(model):
    # reward s'[0]; an episode ends once s'[0] reaches 3
    return ModelEnv(model, lambda o, a, n: n[:, 0], lambda o, a, n: n[:, 0] >= 3, members="random-elite")


def _policy(obs):
    return torch.zeros(len(obs), 1)


def test_branched_rollouts_stop_at_termination():
    model = CountingModel()
    rows, dropped = branched_rollouts(_env(model), _policy, torch.tensor([[0.0], [1.0], [2.0]]), 5,
                                      torch.Generator().manual_seed(0))  # fmt: skip
    # from 0: 0->1, 1->2, 2->3 (ends); from 1: 1->2, 2->3; from 2: 2->3 -> six imagined steps, three terminal
    assert dropped == 0 and len(rows["obs"]) == 6
    assert sorted(rows["obs"][:, 0].tolist()) == [0.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert rows["terminated"].sum().item() == 3 and (rows["terminated"] == (rows["next_obs"][:, 0] >= 3)).all()
    assert torch.equal(rows["reward"], rows["next_obs"][:, 0])
    assert model.asked and all(m == [0, 2] for m in model.asked)  # only the elites move rows


def test_a_non_finite_model_output_is_dropped_and_counted():
    rows, dropped = branched_rollouts(_env(CountingModel(nan_at=1.0)), _policy, torch.tensor([[0.0], [1.0], [5.0]]),
                                      3, torch.Generator().manual_seed(0))  # fmt: skip
    # 0 -> 1 kept, then 1 -> NaN dropped; 1 -> NaN dropped; 5 -> 6 kept, terminated
    assert dropped == 2 and torch.isfinite(rows["next_obs"]).all() and len(rows["obs"]) == 2


def test_rollout_length_follows_the_schedule():
    config = algorithm_config("mbpo", {"rollout_min_epoch": "20", "rollout_max_epoch": "100",
                                       "rollout_min_length": "1", "rollout_max_length": "15"})  # fmt: skip
    assert [rollout_length(config, e) for e in (0, 20, 60, 100, 500)] == [1, 1, 8, 15, 15]


@pytest.mark.parametrize("key", ["real_ratio=1.5", "real_ratio=-0.1", "rollout_min_length=0",
                                 "rollout_max_length=0", "sac.batch_size=0"])  # fmt: skip
def test_bad_settings_are_one_line_and_leave_no_run_directory(key, tmp_path, cli_error):
    out = tmp_path / "run"
    line = cli_error(["train", "mbpo", "--env", "Pendulum-v1", "--steps", "10", "--set", key, "--out", str(out)])
    assert key.split("=")[0].split(".")[-1] in line and not out.exists()


def test_mbpo_learns_the_point_mass(tmp_path):
    # uniformly random actions on reverie/PointMass-v0 score about -55 (the mass stays near x = 0, |x - 1| ~ 0.9 a
    # step for 60 steps), and so does a policy that never learned; -25 takes driving the mass to the goal and
    # holding it there (a constant push overshoots and scores far lower)
    out = tmp_path / "mbpo"
    argv = ["train", "mbpo", "--env", "reverie/PointMass-v0", "--steps", "1200", "--eval-every", "200", "--quiet",
            "--set", "hidden_size=64", "--set", "num_layers=2", "--set", "ensemble_size=5", "--set", "num_elites=3",
            "--set", "exploration_steps=200", "--set", "epoch_length=100", "--set", "rollout_batch_size=2000",
            "--set", "updates_per_step=5", "--set", "sac.hidden_size=64", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval/episode_return"] for r in rows if "eval/episode_return" in r]
    assert max(evals) > -25, evals
