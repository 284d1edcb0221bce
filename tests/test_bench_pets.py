"""The pets suite's plumbing that can be checked without its long runs: peers and trial parsing."""

import json

import numpy as np

from reverie.bench import peers
from reverie.bench.pets_runs import trials_of as _trials


def test_a_missing_peer_is_reported_not_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERIE_PEER_VENVS", str(tmp_path / "none"))
    result = peers.run_peer("mbrl", "mbrl_lib_pets_cartpole.py", ["3", "0"], timeout_s=5)
    assert result["rows"] == [] and "not installed" in result["error"]


def _fake_peer(tmp_path, monkeypatch, script: str) -> None:
    """A peer venv 'fake' (this interpreter) whose scripts folder holds ``peer.py`` with ``script``."""
    import sys

    venv = tmp_path / "venvs" / "fake" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    scripts = tmp_path / "peers"
    scripts.mkdir()
    (scripts / "peer.py").write_text(script)
    monkeypatch.setenv("REVERIE_PEER_VENVS", str(tmp_path / "venvs"))
    monkeypatch.setenv("REVERIE_PEERS", str(scripts))


def test_a_peer_script_runs_and_its_json_lines_are_read(tmp_path, monkeypatch):
    _fake_peer(tmp_path, monkeypatch, "import json\nprint('noise')\nprint(json.dumps({'trial': 0, 'return': 41.0}))\n")
    result = peers.run_peer("fake", "peer.py", [], timeout_s=60)
    assert result["error"] is None and result["rows"] == [{"trial": 0, "return": 41.0}]


def test_trials_are_the_planned_episodes(tmp_path):
    rows = [
        {"episode": 1, "env/episode_return": 20.0, "env/episode_length": 20},
        {"episode": 2, "env/episode_return": 200.0, "env/episode_length": 200, "planner/seconds_per_step": 0.1},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [t["episode"] for t in _trials(tmp_path)] == [2]


def test_steps_to_threshold_uses_the_first_window_whose_mean_reaches_it():
    from reverie.bench.stats import on_step_grid, steps_to_threshold

    returns, end_steps = [20, 180, 200, 190, 200], [20, 200, 400, 590, 790]
    assert steps_to_threshold(returns, end_steps, 190) == 590  # (180 + 200 + 190) / 3 = 190
    assert steps_to_threshold(returns, end_steps, 195) == 790  # (200 + 190 + 200) / 3
    assert steps_to_threshold(returns, end_steps, 197) is None
    grid = on_step_grid(returns, end_steps, [10, 20, 399, 400, 790, 1000])
    assert np.isnan(grid[0]) and grid[1:5].tolist() == [20, 180, 200, 200] and np.isnan(grid[5])


def test_a_peer_result_is_cached_only_when_it_succeeded(tmp_path, monkeypatch):
    counter = tmp_path / "count"
    _fake_peer(
        tmp_path,
        monkeypatch,
        f"import json, pathlib\np = pathlib.Path({str(counter)!r})\nn = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\nprint(json.dumps({'n': n}))\n",
    )
    cache = tmp_path / "cache" / "peer.json"
    assert peers.run_peer("fake", "peer.py", ["a"], 60, cache)["rows"] == [{"n": 1}]
    assert peers.run_peer("fake", "peer.py", ["a"], 60, cache)["rows"] == [{"n": 1}]  # from the cache
    assert peers.run_peer("fake", "peer.py", ["b"], 60, cache)["rows"] == [{"n": 2}]  # other args: run again


def test_mean_band_skips_points_a_run_did_not_reach():
    from reverie.bench.stats import mean_band, t_quantile

    band = mean_band(np.array([[1.0, 2.0, 4.0], [3.0, 4.0, np.nan], [5.0, 6.0, np.nan]]))
    assert band["mean"] == [3.0, 4.0, 4.0]
    assert band["low"][2] == band["high"][2] == 4.0  # one run reached the last point: no band, not NaN
    assert abs(band["high"][0] - (3.0 + t_quantile(2) * 2.0 / 3**0.5)) < 1e-3
