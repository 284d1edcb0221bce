"""Run directories: contents, same-seed determinism, SIGKILL + resume, parallel seeds, reports."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest

import reverie
from reverie.algorithms import get_algorithm, simulate_tabular
from reverie.cli import main
from reverie.errors import UserError
from reverie.runner.spec import RunSpec
from reverie.runner.train import make_env, start_run


def train(tmp_path, name, algo="dyna-q", env="reverie/DynaMaze-v0", seed=0, episodes=None, steps=None, sets=None):
    return start_run(RunSpec(algo, env, seed, episodes, steps, sets or {}, {}, tmp_path / name), show=False)


def test_run_directory_contents(tmp_path):
    summary = train(tmp_path, "r", episodes=5)
    run_dir = tmp_path / "r"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["algo"] == "dyna-q" and config["seed"] == 0 and config["version"] == reverie.__version__
    assert config["config"]["planning_steps"] == 50
    for key in ("algo", "env", "seed", "env_steps", "episodes", "episode_returns", "episode_lengths", "wall_s"):
        assert key in summary
    assert summary["episodes"] == 5 and sum(summary["episode_lengths"]) == summary["env_steps"]
    assert summary["episode_success"] == [True] * 5  # the maze reports is_success at the goal
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["episode"] for r in rows] == [1, 2, 3, 4, 5]
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert (run_dir / "checkpoints" / "latest.npz").exists()


def test_same_seed_same_summary_and_other_seed_differs(tmp_path):
    a = train(tmp_path, "a", env="FrozenLake-v1", steps=3000, sets={"model": "stochastic"})
    b = train(tmp_path, "b", env="FrozenLake-v1", steps=3000, sets={"model": "stochastic"})
    c = train(tmp_path, "c", env="FrozenLake-v1", steps=3000, sets={"model": "stochastic"}, seed=1)
    assert a["episode_lengths"] == b["episode_lengths"] and a["episode_returns"] == b["episode_returns"]
    assert a["episode_lengths"] != c["episode_lengths"]


def test_compiled_simulator_matches_the_real_loop(tmp_path):
    # the benchmark's machine-code path and 'reverie train' run the same step on the same random stream
    summary = train(tmp_path, "r", algo="dyna-q-plus", env="reverie/BlockingMaze-v0", steps=1500, seed=3)
    maze = gym.make("reverie/BlockingMaze-v0").unwrapped
    module = get_algorithm("dyna-q-plus")
    lengths, _, updates = simulate_tabular(
        module.NAME, module.Config().params(), n_states=54, n_actions=4, seeds=[3], epsilon=0.1,
        before=maze.transition_table(maze.walls_before), start=maze.state_of(maze.start),
        after=maze.transition_table(maze.walls_after), switch_step=1000,
        max_episodes=summary["episodes"] + 1, max_steps=1500,
    )  # fmt: skip
    assert lengths[0, : summary["episodes"]].tolist() == summary["episode_lengths"]
    assert updates[0] == summary["updates"]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    run_dir = tmp_path / "killed"
    argv = ["train", "q-learning", "--env", "FrozenLake-v1", "--steps", "400000", "--seed", "7"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "reverie.cli", *argv, "--checkpoint-every", "1", "--quiet", "--out", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (run_dir / "checkpoints" / "latest.npz").exists():
        time.sleep(0.05)
    time.sleep(1.0)  # let it get well into the run
    assert proc.poll() is None, "the run ended before it could be killed; raise --steps"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "summary.json").exists()
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    resumed = json.loads((run_dir / "summary.json").read_text())
    straight = train(tmp_path, "straight", algo="q-learning", env="FrozenLake-v1", steps=400000, seed=7)
    for key in ("env_steps", "episodes", "episode_returns", "episode_lengths"):
        assert resumed[key] == straight[key], key
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["episode"] for r in rows] == list(range(1, resumed["episodes"] + 1))  # no duplicated rows


def test_parallel_seeds_and_report(tmp_path, capsys):
    out = tmp_path / "seeds"
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "10", "--seeds", "0-2"]
    assert main([*argv, "--workers", "2", "--out", str(out)]) == 0
    summaries = [json.loads((out / f"seed_{s}" / "summary.json").read_text()) for s in range(3)]
    assert [s["seed"] for s in summaries] == [0, 1, 2]
    assert len({tuple(s["episode_lengths"]) for s in summaries}) == 3  # seeds really differ
    assert (out / "report.html").exists() and (out / "episode_lengths.png").stat().st_size > 1000
    assert main(["report", str(out / "seed_0")]) == 0
    assert "<img" in (out / "seed_0" / "report.html").read_text()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "prioritized-sweeping" in listing and "reverie/ShortcutMaze-v0" in listing and "sutton-barto" in listing


def test_user_env_by_module_path(tmp_path, monkeypatch):
    # an env id 'module:Name-v0' imports the user's module first, as gymnasium.make does
    (tmp_path / "my_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('MyChain-v0', entry_point='gymnasium.envs.toy_text.frozen_lake:FrozenLakeEnv',\n"
        "             kwargs={'map_name': '4x4', 'is_slippery': False}, max_episode_steps=50)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    summary = train(tmp_path, "r", env="my_envs:MyChain-v0", episodes=20)
    assert summary["episodes"] == 20 and np.mean(summary["episode_returns"][-5:]) > 0


def test_bench_exit_code_follows_its_checks_and_report_rebuilds(tmp_path, monkeypatch, capsys):
    import reverie.bench

    def fake_suite(name, runs, quick, show=False, out=None, only=None):
        curve = {"title": "t", "xlabel": "x", "ylabel": "y", "x": [1, 2], "series": {"a": mean_band_of([[1, 2]])}}
        checks = [{"name": "good", "value": 1.0, "target": "> 0", "passed": True}]
        checks.append({"name": "bad", "value": 0.0, "target": "> 0", "passed": name == "all-pass"})
        return {"suite": name, "runs": {}, "checks": checks, "curves": {"c": curve}, "timing": {}}

    from reverie.bench.stats import mean_band as mean_band_of

    monkeypatch.setattr(reverie.bench, "run_suite", fake_suite)
    monkeypatch.setitem(reverie.bench.SUITES, "one-fails", "a fake suite with a failing check")
    monkeypatch.setitem(reverie.bench.SUITES, "all-pass", "a fake suite whose checks pass")
    assert main(["bench", "one-fails", "--out", str(tmp_path / "fail")]) == 1
    assert main(["bench", "all-pass", "--out", str(tmp_path / "pass")]) == 0
    assert "FAIL" in capsys.readouterr().out
    (tmp_path / "fail" / "report.html").unlink()
    assert main(["report", str(tmp_path / "fail")]) == 0  # rebuilt from results.json alone
    assert "FAIL" in (tmp_path / "fail" / "report.html").read_text()


def test_a_run_is_recreated_from_its_config_alone(tmp_path):
    original = train(tmp_path, "original", algo="dyna-q-plus", env="reverie/ShortcutMaze-v0", steps=600, seed=2)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "config.json").write_text((tmp_path / "original" / "config.json").read_text())
    assert main(["resume", str(copy), "--quiet"]) == 0
    again = json.loads((copy / "summary.json").read_text())
    assert again["episode_lengths"] == original["episode_lengths"] and again["env_steps"] == 600


def test_seeds_with_reuse_resume_a_killed_seed_and_keep_finished_ones(tmp_path):
    from reverie.runner.train import start_seeds

    spec = RunSpec("dyna-q", "reverie/DynaMaze-v0", episodes=30, out=tmp_path)
    first = start_seeds(spec, [0, 1], 1, show=False)
    # seed 1 "crashed" after its last checkpoint: no summary; seed 0 finished
    (tmp_path / "seed_1" / "summary.json").unlink()
    finished_at = (tmp_path / "seed_0" / "summary.json").stat().st_mtime_ns
    again = start_seeds(spec, [0, 1], 1, show=False, reuse=True)
    assert again[0] == first[0] and (tmp_path / "seed_0" / "summary.json").stat().st_mtime_ns == finished_at
    assert again[1]["episode_returns"] == first[1]["episode_returns"]  # resumed to the same end
    # a different run in the same directories is refused, not silently mixed in
    with pytest.raises(UserError, match="already holds a run"):
        start_seeds(dataclasses.replace(spec, overrides={"planning_steps": "5"}), [0], 1, show=False, reuse=True)


def test_a_mountain_car_reports_reaching_its_goal_as_success(tmp_path):
    # Gymnasium's mountain cars terminate only at the flag and never say "is_success": make_env wraps them to say it
    # at an episode's end (the flag and a timed-out car: tests/test_bench_pilco_gps.py); other envs are left as they are
    pendulum = make_env("Pendulum-v1", {"max_episode_steps": "1"})
    pendulum.reset(seed=0)
    *_, truncated, info = pendulum.step(np.zeros(1, np.float32))
    assert truncated and "is_success" not in info
    # and a run's summary carries it: PILCO's first (random) trial does not reach the flag
    summary = start_run(RunSpec("pilco", "MountainCarContinuous-v0", 0, 1, None, {}, {}, tmp_path / "mc"), show=False)
    assert summary["episode_success"] == [False] and summary["episode_returns"][0] < 0
