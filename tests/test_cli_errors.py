"""Bad input gets one clear line on stderr and exit code 2, no traceback, no run that looks complete."""

import subprocess
import sys
from pathlib import Path

import pytest

from reverie.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_line_error(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("reverie: error:")
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "no-such-algo", "--env", "reverie/DynaMaze-v0", "--episodes", "1"], ["unknown algorithm"]),
        (["train", "dyna-q", "--env", "reverie/NoSuchMaze-v0", "--episodes", "1"], ["NoSuchMaze"]),
        (["train", "dyna-q", "--env", "nosuchmodule:Foo-v0", "--episodes", "1"], ["nosuchmodule"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "lr=1"], ["unknown config"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "alpha=abc"], ["alpha"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "alpha=2"], ["alpha"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "planning_steps=1.5"], []),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "model=magic"], ["model"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "noequals"], ["key=value"]),
        (["train", "dyna-q", "--env", "Pendulum-v1", "--episodes", "1"], ["Discrete"]),
        (["train", "dyna-q", "--env", "reverie/ScaledDynaMaze-v0", "--env-kwarg", "scale=0", "--episodes", "1"], []),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--env-kwarg", "colour=red", "--episodes", "1"], []),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "0"], ["budget"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0"], ["--episodes"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "x"], ["invalid int"]),
        (["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--seeds", "3-x"], ["--seeds"]),
        (["train", "q-learning", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--set", "model=stochastic"], []),
        (
            [
                "train",
                "prioritized-sweeping",
                "--env",
                "reverie/DynaMaze-v0",
                "--episodes",
                "1",
                "--set",
                "planning_steps=0",
            ],
            [],
        ),
        (["bench", "no-such-suite"], ["unknown suite"]),
        (["frobnicate"], ["unknown command"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, words):
    code, err = run_cli(capsys, *argv, *(["--out", str(tmp_path / "run")] if argv[0] == "train" else []))
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "run" / "config.json").exists()  # nothing was started
    assert not Path("bench-results/no-such-suite").exists()


def test_unwritable_output_path(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--out", str(blocker / "run")]
    assert_one_line_error(*run_cli(capsys, *argv), "cannot write")


def test_existing_run_is_not_overwritten(capsys, tmp_path):
    argv = ["train", "q-learning", "--env", "reverie/DynaMaze-v0", "--episodes", "2", "--quiet", "--out", str(tmp_path)]
    assert run_cli(capsys, *argv)[0] == 0
    assert_one_line_error(*run_cli(capsys, *argv), "resume")


def test_corrupt_checkpoint_and_missing_run(capsys, tmp_path):
    run_dir = tmp_path / "run"
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "3", "--quiet", "--out", str(run_dir)]
    assert run_cli(capsys, *argv)[0] == 0
    (run_dir / "summary.json").unlink()  # as if killed before the end
    (run_dir / "checkpoints" / "latest.npz").write_bytes(b"\x00garbage\x13" * 10)
    assert_one_line_error(*run_cli(capsys, "resume", str(run_dir)), "corrupt")
    assert not (run_dir / "summary.json").exists()
    assert_one_line_error(*run_cli(capsys, "resume", str(tmp_path / "nothing-here")), "not found")


def test_no_traceback_from_the_console_script(tmp_path):
    # the installed entry point, in a fresh process: what a user really sees
    cmd = [sys.executable, "-m", "reverie.cli", "train", "dyna-q", "--env", "CartPole-v1", "--episodes", "1"]
    done = subprocess.run([*cmd, "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Discrete" in done.stderr
    assert not Path(tmp_path / "r" / "summary.json").exists()


def test_bench_peers_must_name_a_directory(cli_error, tmp_path):
    line = cli_error(["bench", "buffer", "--quick", "--peers", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert "--peers" in line and "no such directory" in line


def test_the_peer_folders_come_from_the_option_or_the_checkout_not_the_package_location(tmp_path, monkeypatch):
    from reverie.bench import peers

    monkeypatch.delenv("REVERIE_PEERS", raising=False)
    monkeypatch.chdir(tmp_path)  # outside any checkout: no default
    monkeypatch.setattr(peers, "_chosen", {})
    assert peers.checkout_root() is None and peers.peers_dir() is None
    peers.use_peers(tmp_path)
    assert peers.peers_dir() == tmp_path.resolve()


def test_bench_only_names_a_part_of_a_suite_that_has_parts(cli_error, tmp_path):
    line = cli_error(["bench", "imagination", "--only", "mve-pendulum,no-such-part", "--out", str(tmp_path / "o")])
    assert "no-such-part" in line and "mve-horizon-pendulum" in line  # names the part and lists the real ones
    line = cli_error(["bench", "buffer", "--only", "x", "--out", str(tmp_path / "o")])
    assert "has no parts" in line and "imagination" in line
    assert not (tmp_path / "o" / "runs").exists()  # nothing was started
