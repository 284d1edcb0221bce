"""`reverie sweep`: the grid it expands to, bad definitions refused in one line, and faults survived: a driver or a
Ray worker SIGKILLed mid-sweep, then `--resume`, ends every trial with summaries equal to an uninterrupted sweep's
and re-runs none that had finished."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reverie.cli import main
from reverie.runner import sweep, trial

# tabular trials of about 2-3 s each: long enough to be killed mid-trial after a checkpoint (one a second at most)
LONG_TRIALS = ["--algo", "dyna-q,dyna-q-plus", "--env", "reverie/DynaMaze-v0", "--seeds", "0-1",
               "--episodes", "2500", "--set", "planning_steps=400", "--workers", "2", "--quiet"]  # fmt: skip


def _sweep(*args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "reverie.cli", "sweep", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _summaries(sweep_dir: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted((sweep_dir / "trials").glob("*/summary.json"))}


def _wait_until_mid_sweep(sweep_dir: Path, timeout: float = 90.0) -> tuple[list[Path], list[Path]]:
    """Poll until some trial has finished and another has a checkpoint but no summary; return (finished, started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = sorted((sweep_dir / "trials").glob("*"))
        finished = [t for t in trials if (t / "summary.json").exists()]
        started = [t for t in trials if (t / "checkpoints/latest.npz").exists() and not (t / "summary.json").exists()]
        if finished and started:
            return finished, started
        time.sleep(0.02)
    raise AssertionError(f"the sweep in {sweep_dir} never had a finished and a started trial at once")


def _same_learning(straight: dict, resumed: dict) -> None:
    assert straight.keys() == resumed.keys() and len(straight) == 4
    for name, summary in straight.items():
        for key in ("episode_returns", "episode_lengths", "env_steps", "episodes"):
            assert resumed[name][key] == summary[key], (name, key)


@pytest.fixture(scope="module")
def straight_sweep(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("straight") / "sweep"
    process = _sweep(*LONG_TRIALS, "--out", str(out))
    assert process.wait(timeout=300) == 0, process.stderr.read()
    return _summaries(out)


def test_grid_expands_to_every_combination_with_per_algorithm_tables(tmp_path):
    definition = {
        "algos": ["dyna-q", "q-learning"],
        "envs": ["reverie/DynaMaze-v0"],
        "seeds": "0-2",
        "episodes": 3,
        "grid": {"epsilon": [0.1, 0.2]},
        "algo": {"dyna-q": {"grid": {"planning_steps": [0, 5, 50]}, "set": {"alpha": 0.5}}},
    }
    trials = sweep.expand(definition, tmp_path)
    assert len(trials) == 2 * 3 * 3 + 2 * 3  # dyna-q: epsilon x planning_steps x seeds; q-learning: epsilon x seeds
    assert len({t.out for t in trials}) == len(trials)
    dyna = [t for t in trials if t.algo == "dyna-q"]
    assert {t.overrides["planning_steps"] for t in dyna} == {0, 5, 50} and all(
        t.overrides["alpha"] == 0.5 for t in dyna
    )
    assert all("planning_steps" not in t.overrides for t in trials if t.algo == "q-learning")
    assert trials[0].out.name == "000-dyna-q-DynaMaze-v0-epsilon=0.1-planning_steps=0-seed0"


def test_toml_file_and_command_line_make_one_sweep_and_its_table(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text(
        'algos = ["dyna-q"]\nenvs = ["reverie/DynaMaze-v0"]\nepisodes = 4\n[grid]\nplanning_steps = [0, 5]\n'
    )
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--seeds", "0,1", "--episodes", "6", "--out", str(out), "--quiet"]) == 0
    summaries = _summaries(out)
    assert len(summaries) == 4 and all(s["episodes"] == 6 for s in summaries.values())  # the command line's budget
    results = json.loads((out / "results.json").read_text())
    rows = results["tables"][0]["rows"]
    assert [row[2] for row in rows] == ["planning_steps=0", "planning_steps=5"] and all(r[3] == "2/2" for r in rows)
    assert "<table>" in (out / "report.html").read_text()
    before = {p: p.stat().st_mtime_ns for p in out.glob("trials/*/summary.json")}
    capsys.readouterr()
    assert main(["sweep", "--resume", str(out), "--quiet"]) == 0  # a finished sweep: nothing is trained again
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("trials/*/summary.json")}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--env", "reverie/DynaMaze-v0", "--episodes", "3"], "a sweep needs 'algos'"),
        (["--algo", "dyna-q", "--env", "reverie/DynaMaze-v0"], "give exactly one budget"),
        (["--algo", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "3", "--grid", "planning_steps=5,-1"],
         "trial 001-dyna-q-DynaMaze-v0-planning_steps=-1-seed0"),
        (["--algo", "dyna-q,nope", "--env", "reverie/DynaMaze-v0", "--episodes", "3"], "nope"),
        (["--algo", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "3", "--seeds", "1,1"], "distinct"),
        (["--resume", "/nonexistent/sweep"], "not a sweep directory"),
        (["--algo", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "3", "--address", "x:1"], "--backend ray"),
    ],
)  # fmt: skip
def test_bad_sweeps_get_one_line_and_leave_no_trials(tmp_path, cli_error, argv, expected):
    out = tmp_path / "sweep"
    line = cli_error(["sweep", *argv, "--out", str(out), "--quiet"] if "--resume" not in argv else ["sweep", *argv])
    assert expected in line
    assert not (out / "trials").exists()


def test_bad_toml_files_get_one_line(tmp_path, cli_error):
    bad = tmp_path / "bad.toml"
    bad.write_text("algos = [dyna-q\n")
    assert "not valid TOML" in cli_error(["sweep", str(bad)])
    bad.write_text('algos = ["dyna-q"]\nenvs = ["reverie/DynaMaze-v0"]\nepisodez = 3\n')
    assert "unknown sweep key 'episodez'" in cli_error(["sweep", str(bad)])
    assert "not found" in cli_error(["sweep", str(tmp_path / "missing.toml")])


def test_a_failing_trial_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    trials = sweep.expand({"algos": ["dyna-q"], "envs": ["reverie/DynaMaze-v0"], "seeds": [0, 1], "episodes": 2},
                          tmp_path)  # fmt: skip
    import reverie.runner.train as train

    real_start = train.start_run
    monkeypatch.setattr(train, "start_run", lambda spec, show: 1 / 0 if spec.seed == 1 else real_start(spec, show=show))
    rows = [trial.run_trial(spec) for spec in trials]
    assert "error" not in rows[0] and rows[1]["error"] == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in (trials[1].out / "error.txt").read_text()
    monkeypatch.setattr(train, "start_run", real_start)
    assert "error" not in trial.run_trial(trials[1]) and not (trials[1].out / "error.txt").exists()  # tried again


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def _ray_processes() -> set[int]:
    return {int(p.parent.name) for p in Path("/proc").glob("[0-9]*/cmdline") if _cmdline(p).startswith("ray::")}


def _cmdline(path: Path) -> str:
    try:
        return path.read_bytes().decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def reap_ray_agents():
    """Ray's local cluster leaves two agent processes behind when its driver is SIGKILLed (until `ray stop`):
    end the ones this test left, and no others."""
    before = _ray_processes()
    yield
    for pid in _ray_processes() - before:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_driver_killed_mid_sweep_resumes_to_the_uninterrupted_result(tmp_path, straight_sweep, backend,
                                                                     reap_ray_agents):  # fmt: skip
    if backend == "ray":
        pytest.importorskip("ray")
    out = tmp_path / "sweep"
    process = _sweep(*LONG_TRIALS, "--out", str(out), "--backend", backend)
    finished, started = _wait_until_mid_sweep(out, timeout=180)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = [t for t in (out / "trials").glob("*") if (t / "summary.json").exists()]  # as the kill left them
    kept = {t: (t / "summary.json").stat().st_mtime_ns for t in finished}
    workers = [int((t / "worker.pid").read_text()) for t in started]
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:  # the pool's workers die with their driver
        time.sleep(0.05)
    assert not any(map(_alive, workers))
    assert len(finished) < 4
    resumed = _sweep("--resume", str(out), "--quiet", "--backend", backend)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    _same_learning(straight_sweep, _summaries(out))
    assert kept == {t: (t / "summary.json").stat().st_mtime_ns for t in kept}  # finished trials were not re-run


def test_ray_worker_killed_mid_trial_is_retried_and_resumes(tmp_path, straight_sweep):
    pytest.importorskip("ray")
    out = tmp_path / "sweep"
    process = _sweep(*LONG_TRIALS, "--out", str(out), "--backend", "ray")
    _, started = _wait_until_mid_sweep(out, timeout=180)
    victim = int((started[0] / "worker.pid").read_text())
    os.kill(victim, signal.SIGKILL)
    assert not (started[0] / "summary.json").exists()  # killed mid-trial, not after it
    assert process.wait(timeout=300) == 0, process.stderr.read()
    assert int((started[0] / "worker.pid").read_text()) != victim  # another worker took the trial over
    _same_learning(straight_sweep, _summaries(out))
