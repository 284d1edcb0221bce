"""Warm-up is visible (summary, one warning line) and the run's records are on disk while it trains."""

import dataclasses
import json

import pytest

from reverie.algorithms import get_algorithm
from reverie.cli import main
from reverie.runner import run as run_module
from reverie.runner.run import RunHandle
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run

# a PETS small enough for seconds: the point mass's episodes are at most 60 steps, so 60 random steps are one
SMALL = {"hidden_size": "16", "num_layers": "1", "random_steps": "60", "epochs": "2",
         "planner.population_size": "20", "planner.num_elites": "5", "planner.planning_horizon": "5"}  # fmt: skip


def test_a_budget_that_ends_in_the_warm_up_says_so_in_one_line(tmp_path, capsys):
    # random_steps=500 needs at least 9 point-mass episodes of random actions: 2 episodes end inside it
    argv = ["train", "pets", "--env", "reverie/PointMass-v0", "--episodes", "2", "--out", str(tmp_path / "r")]
    for key, value in {**SMALL, "random_steps": "500"}.items():
        argv += ["--set", f"{key}={value}"]
    assert main([*argv, "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["warmup_episodes"] == 2 and summary["model_trained_on"] == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "random warm-up" in warnings[0] and "500 random steps" in warnings[0]


def test_warmup_episodes_count_the_episodes_before_the_first_model_and_survive_a_resume(tmp_path, capsys, resume_to):
    summary = start_run(RunSpec("pets", "reverie/PointMass-v0", 0, 3, None, SMALL, {}, tmp_path / "r"), show=True)
    assert summary["warmup_episodes"] == 1 and summary["model_trained_on"] >= 60  # one 60-step random episode
    assert "warning:" not in capsys.readouterr().err
    start_run(RunSpec("pets", "reverie/PointMass-v0", 0, 2, None, SMALL, {}, tmp_path / "split"), show=False)
    resumed = resume_to(tmp_path / "split", 3)
    assert resumed["warmup_episodes"] == 1


def test_an_algorithm_without_a_warm_up_reports_zero(tmp_path):
    summary = start_run(RunSpec("dyna-q", "reverie/DynaMaze-v0", 0, 2, None, {}, {}, tmp_path / "r"), show=False)
    assert summary["warmup_episodes"] == 0


def test_metrics_and_tensorboard_reach_the_disk_when_an_episode_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "LIVE_FLUSH_S", 0.0)
    (tmp_path / "checkpoints").mkdir()

    class Env:
        unwrapped = object()

    handle = RunHandle(tmp_path, 0, max_episodes=5, max_steps=None, env=Env())
    handle.count_step(1.0)
    handle.end_episode(1.0, 1, None, {"model/loss": 0.5})
    # read from disk while the handle is still open: a killed run keeps what it logged
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["env/episode_return"] == 1.0 and rows[0]["model/loss"] == 0.5
    events = next((tmp_path / "tb").iterdir())
    assert b"model/loss" in events.read_bytes()
    handle.close()


@pytest.mark.parametrize("algo", ["gps", "pilco"])
def test_eval_every_evaluates_the_policy_alone(tmp_path, algo):
    tiny = get_algorithm(algo).TINY
    spec = RunSpec(algo, tiny.env_id, 0, tiny.episodes, None, tiny.overrides, {}, tmp_path / "straight",
                   eval_every=1, eval_episodes=2)  # fmt: skip
    straight = start_run(spec, show=False)
    # one evaluation per GPS iteration or PILCO trial (each is many real steps, more than eval_every)
    assert len(straight["eval_returns"]) == straight.get("gps_iterations", straight["episodes"]) >= 1
    assert straight["eval_env_steps"] == sorted(straight["eval_env_steps"]) and straight["eval_env_steps"][0] > 0
    assert straight["env_steps"] == sum(straight["episode_lengths"])  # evaluation steps are not training steps
    rows = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [r["eval/episode_return"] for r in rows if "eval/episode_return" in r] == straight["eval_returns"]
    again = start_run(dataclasses.replace(spec, out=tmp_path / "again"), show=False)
    assert again["eval_returns"] == straight["eval_returns"]  # the runner's eval seeds are fixed


def test_eval_every_is_refused_for_an_algorithm_with_no_separate_policy(tmp_path, cli_error):
    line = cli_error(["train", "pets", "--env", "reverie/PointMass-v0", "--episodes", "1", "--eval-every", "100",
                      "--out", str(tmp_path / "r")])  # fmt: skip
    assert "learns no separate policy" in line and not (tmp_path / "r").exists()


@pytest.mark.parametrize("algo", ["gps", "pilco"])
def test_the_evaluations_survive_a_resume(tmp_path, algo, resume_to):
    tiny = get_algorithm(algo).TINY
    spec = RunSpec(algo, tiny.env_id, 0, tiny.episodes, None, tiny.overrides, {}, tmp_path / "straight",
                   eval_every=1, eval_episodes=2)  # fmt: skip
    straight = start_run(spec, show=False)
    start_run(dataclasses.replace(spec, episodes=tiny.split_at, out=tmp_path / "split"), show=False)
    resumed = resume_to(tmp_path / "split", tiny.episodes)
    assert (resumed["eval_env_steps"], resumed["eval_returns"]) == (
        straight["eval_env_steps"],
        straight["eval_returns"],
    )
