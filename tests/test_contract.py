"""The registry as a whole: every registered algorithm keeps the same contract (Stable-Baselines3's pattern of one
test parametrized over all algorithms), so a new algorithm that forgets a piece fails here.

Each algorithm module declares ``TINY`` (``algorithms.base.TinyRun``): an env and overrides small enough to run
in seconds. On it: a run finishes its budget; the same seed gives the same summary; a run stopped at
``split_at`` and resumed equals a straight run; every config key has help; an env with the wrong kind of
spaces is refused with one line and exit code 2; the docs page exists.
"""

import ast
import json
from pathlib import Path

import gymnasium as gym
import pytest

from reverie.algorithms import ALGORITHMS, algorithm_config, get_algorithm, tiny_run
from reverie.algorithms.base import TinyRun
from reverie.cli import main
from reverie.config import config_keys
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run

NOT_COMPARED = ("wall_s", "peak_memory_mb", "cpu_s")  # measurements of the machine, not results of the algorithm
DOCS = Path(__file__).resolve().parents[1] / "docs" / "algorithms"


def tiny(name: str) -> TinyRun:
    spec = tiny_run(name)
    assert isinstance(spec, TinyRun), f"{name} declares no TINY = TinyRun(...) (or its preset no tiny=TinyRun(...))"
    return spec


def run(name: str, out: Path, episodes: int, seed: int = 0) -> dict:
    spec = tiny(name)
    summary = start_run(RunSpec(name, spec.env_id, seed, episodes, None, spec.overrides, {}, out), show=False)
    return {k: v for k, v in summary.items() if k not in NOT_COMPARED}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_the_module_matches_its_registry_entry_and_has_a_docs_page(name):
    module, preset = get_algorithm(name), ALGORITHMS[name].preset
    assert callable(module.train) and (preset is not None or module.NAME == name)
    assert algorithm_config(name, {}) is not None  # its defaults (and its entry's preset) make a valid config
    if preset is not None:
        assert preset in module.PRESETS, f"{name}'s entry names preset '{preset}' that {module.NAME} lacks"
    assert (DOCS / f"{name}.md").exists(), f"docs/algorithms/{name}.md is missing"


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_every_config_key_has_help(name):
    missing = [info.key for info in config_keys(type(algorithm_config(name, {}))) if not info.help.strip()]
    assert not missing, f"{name}: keys without help: {missing}"


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_a_tiny_run_is_reproducible_and_resumes_to_the_straight_result(name, tmp_path):
    spec = tiny(name)
    straight = run(name, tmp_path / "straight", spec.episodes)
    assert straight["episodes"] == spec.episodes and len(straight["episode_returns"]) == spec.episodes
    assert run(name, tmp_path / "again", spec.episodes) == straight  # same seed, same summary
    # stop at split_at (the final checkpoint is written), extend the budget in config.json, resume
    run(name, tmp_path / "split", spec.split_at)
    record = json.loads((tmp_path / "split" / "config.json").read_text())
    record["episodes"] = spec.episodes
    (tmp_path / "split" / "config.json").write_text(json.dumps(record))
    (tmp_path / "split" / "summary.json").unlink()
    assert main(["resume", str(tmp_path / "split"), "--quiet"]) == 0
    resumed = json.loads((tmp_path / "split" / "summary.json").read_text())
    assert {k: v for k, v in resumed.items() if k not in NOT_COMPARED} == straight


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_an_env_with_the_wrong_spaces_is_one_line_and_exit_2(name, tmp_path, cli_error):
    fits_discrete = isinstance(gym.make(tiny(name).env_id).observation_space, gym.spaces.Discrete)
    wrong = "Pendulum-v1" if fits_discrete else "FrozenLake-v1"  # Box observations for tabular, Discrete otherwise
    cli_error(["train", name, "--env", wrong, "--episodes", "1", "--out", str(tmp_path / "run")])
    assert not (tmp_path / "run" / "config.json").exists()  # refused before a run directory was claimed


SHARED = {"base", "episode", "_off_policy", "_tabular", "_simulate"}  # the algorithms layer's shared plumbing


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_an_algorithm_imports_no_other_algorithm(name):
    # a part two algorithms need moves down a layer (or into the shared modules above), so each file reads alone
    module = get_algorithm(name)
    tree = ast.parse(Path(module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    siblings = {m.split(".")[2] for m in imported if m.startswith("reverie.algorithms.")}
    assert siblings <= SHARED, f"{name} imports the algorithm module(s) {sorted(siblings - SHARED)}"
