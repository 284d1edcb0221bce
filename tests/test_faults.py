"""Faults and bad input: a checkpoint write that fails on a full disk, checkpoints truncated or with flipped bits,
and property-based input (hypothesis) over --set values, env kwargs, budgets and seed lists for every algorithm.
Each ends in exit 0, or one 'reverie: error:' line and exit 2: never a traceback, never a run directory that
looks finished (summary.json) without being so."""

import errno
import json
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie.runner.files as files
import reverie.runner.run as run_module
from reverie.algorithms import ALGORITHMS
from reverie.cli import main
from reverie.runner.files import load_checkpoint

TABULAR = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--quiet", "--checkpoint-every", "1"]


def _returns(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["episode_returns"]


def test_a_full_disk_keeps_the_last_good_checkpoint_and_the_run_resumes(tmp_path, monkeypatch, cli_error):
    straight = tmp_path / "straight"
    assert main([*TABULAR, "--episodes", "12", "--out", str(straight)]) == 0
    monkeypatch.setattr(run_module, "MIN_CHECKPOINT_GAP_S", 0.0)  # a checkpoint after every episode
    real_savez, calls = np.savez, []

    def savez_until_the_disk_fills(handle, **arrays):
        calls.append(1)
        if len(calls) >= 4:
            handle.write(b"partial")  # the write got this far, then the disk was full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_savez(handle, **arrays)

    monkeypatch.setattr(files.np, "savez", savez_until_the_disk_fills)
    run_dir = tmp_path / "run"
    line = cli_error([*TABULAR, "--episodes", "12", "--out", str(run_dir)])
    assert "No space left on device" in line and "last good checkpoint is kept" in line
    assert not (run_dir / "summary.json").exists()
    assert not list((run_dir / "checkpoints").glob(".*tmp"))  # no half-written file beside the good one
    _, meta = load_checkpoint(run_dir / "checkpoints" / "latest.npz")
    assert len(meta["lengths"]) == 3  # the third checkpoint, the last that was written
    monkeypatch.setattr(files.np, "savez", real_savez)
    assert main(["resume", str(run_dir), "--quiet"]) == 0
    assert _returns(run_dir) == _returns(straight)


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A tabular run with a checkpoint and no summary, as if killed after it."""
    run_dir = tmp_path_factory.mktemp("stopped") / "run"
    assert main([*TABULAR, "--episodes", "4", "--out", str(run_dir)]) == 0
    (run_dir / "summary.json").unlink()
    return run_dir


def _resume_copy(stopped_run, tmp_path, damage) -> tuple[int, list[str]]:
    run_dir = tmp_path / "copy"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(stopped_run, run_dir)
    checkpoint = run_dir / "checkpoints" / "latest.npz"
    checkpoint.write_bytes(damage(checkpoint.read_bytes()))
    return run_dir, main(["resume", str(run_dir), "--quiet"])


def _one_line_or_success(capsys, run_dir, code):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    if code == 0:
        assert (run_dir / "summary.json").exists()
    else:
        assert code == 2 and len(err) == 1 and err[0].startswith("reverie: error:"), err
        assert not (run_dir / "summary.json").exists()
    return err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.0, 0.999))
def test_a_truncated_checkpoint_gets_one_line(stopped_run, tmp_path, capsys, fraction):
    run_dir, code = _resume_copy(stopped_run, tmp_path, lambda data: data[: int(len(data) * fraction)])
    err = _one_line_or_success(capsys, run_dir, code)
    assert code == 2 and "corrupt" in err[0]  # a zip without its end record never loads


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.floats(0.0, 0.999), mask=st.integers(1, 255))
def test_a_bit_flipped_checkpoint_gets_one_line_or_resumes(stopped_run, tmp_path, capsys, position, mask):
    def flip(data):
        at = int(len(data) * position)
        return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]

    run_dir, code = _resume_copy(stopped_run, tmp_path, flip)
    err = _one_line_or_success(capsys, run_dir, code)  # array data and meta are CRC-checked; elsewhere it may load
    assert (code, len(err)) in ((0, 0), (2, 1)) or code == 0  # resumed, or refused in exactly one line


# --- property-based input for every algorithm -----------------------------------------------------------------

VALUES = st.one_of(
    st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.text(alphabet="abcxyz-_.0123456789[](),= ", max_size=8), st.sampled_from(["none", "[1, 2]", "{}", "1e400"]),
)  # fmt: skip


def _keys(algo):
    from reverie.algorithms import algorithm_config
    from reverie.config import current_keys

    return {info.key: info for info in current_keys(algorithm_config(algo, {}))}


def _value(info):
    """Mostly values a user might try (the default, its choices, small numbers), sometimes anything."""
    plausible = [st.just(info.default), st.integers(0, 5), st.floats(0.0, 1.0)]
    if info.choices:
        plausible.append(st.sampled_from(list(info.choices)))
    return st.one_of(*plausible, VALUES)


TABULAR_MODULES = {"q_learning", "dyna_q", "dyna_q_strict", "dyna_q_plus", "prioritized_sweeping"}
TABULAR_ENVS = ["reverie/DynaMaze-v0", "FrozenLake-v1"]
CONTINUOUS_ENVS = ["Pendulum-v1", "CartPole-v1", "MountainCarContinuous-v0"]


@st.composite
def commands(draw):
    """A `reverie train` command line of random algorithm, env, --set values, env kwargs, budget and seeds."""
    algo = draw(st.sampled_from(sorted(ALGORITHMS)))
    tabular = ALGORITHMS[algo].module in TABULAR_MODULES
    fitting = TABULAR_ENVS if tabular else CONTINUOUS_ENVS
    env = draw(st.one_of(st.sampled_from(fitting), st.sampled_from([*TABULAR_ENVS, *CONTINUOUS_ENVS, "nope-v0"])))
    argv = ["train", algo, "--env", env, "--quiet", "--checkpoint-every", "1"]
    keys = _keys(algo)
    for key in draw(st.lists(st.sampled_from([*keys, "not_a_key", "planner.nope"]), max_size=3, unique=True)):
        argv += ["--set", f"{key}={draw(_value(keys[key]) if key in keys else VALUES)}"]
    if draw(st.integers(0, 3)) == 0:
        argv += ["--env-kwarg", f"{draw(st.sampled_from(['is_slippery', 'map_name', 'g', 'bogus']))}={draw(VALUES)}"]
    budget = draw(st.sampled_from(["--steps", "--steps", "--steps", "--episodes", None]))
    amount = draw(st.one_of(st.integers(1, 40), st.integers(1, 40), st.integers(-2, 0)))
    if budget == "--steps" or (budget and tabular):  # a valid command must finish in seconds: a few steps only
        argv += [budget, str(amount)]
    elif budget:
        argv += [budget, str(min(amount, 0))]  # deep algorithms: only invalid episode budgets
    if draw(st.integers(0, 3)) == 0:
        argv += ["--seeds", draw(st.sampled_from(["0-1", "2,5", "1,1", "3-1", "x"]))]
    return argv


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=commands())
def test_any_train_command_exits_0_or_prints_one_line(tmp_path_factory, capsys, argv):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    code = main([*argv, "--out", str(out)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code in (0, 2), (argv, code)
    if code == 2:
        assert len(err) == 1 and err[0].startswith("reverie: error:"), (argv, err)
        assert not (out / "summary.json").exists() and not list(out.glob("seed_*/summary.json")), argv
    else:
        assert (out / "summary.json").exists() or list(out.glob("seed_*/summary.json")), argv
