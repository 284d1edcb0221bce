"""The command line answers at once: what its commands import, the progress line's layout, --version, and the
one-line error for an unknown command. (Its speed is measured by `reverie bench cli`, not asserted here.)"""

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console

from reverie import __version__
from reverie.cli import main
from reverie.runner import progress
from reverie.runner.progress import RunProgress, format_line

HEAVY = ("torch", "numba", "matplotlib", "tensorboard", "sklearn", "scipy")


def modules_after(code: str) -> dict:
    """Which HEAVY packages a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_the_cli_and_the_registries_loads_no_heavy_library():
    loaded = modules_after("import reverie, reverie.cli, reverie.algorithms, reverie.bench, reverie.runner.train")
    assert not any(loaded.values()), loaded


@pytest.mark.parametrize("argv", [["list"], ["--version"], ["--help"]])
def test_list_help_and_version_load_no_heavy_library(argv):
    loaded = modules_after(f"import reverie.cli\ntry:\n    reverie.cli.main({argv!r})\nexcept SystemExit:\n    pass")
    assert not any(loaded.values()), loaded


def test_a_tabular_run_loads_neither_torch_nor_the_plotting(tmp_path):
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--quiet", "--out", str(tmp_path)]
    loaded = modules_after(f"import reverie.cli\nassert reverie.cli.main({argv!r}) == 0")
    assert (tmp_path / "summary.json").exists()
    assert not loaded["torch"] and not loaded["matplotlib"] and not loaded["sklearn"], loaded
    assert loaded["numba"]  # the tabular kernels are compiled: numba is what a tabular run does need


def test_a_continuous_algorithm_still_finds_torch_when_it_asks():
    loaded = modules_after("from reverie.algorithms import get_algorithm\nget_algorithm('pets')")
    assert loaded["torch"]


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"reverie {__version__}"


def test_an_unknown_command_names_the_closest_one_and_the_program_once(cli_error):
    line = cli_error(["trian", "dyna-q"])
    assert "unknown command 'trian'" in line and "did you mean 'reverie train'?" in line
    assert "see 'reverie --help'" in line and "reverie reverie" not in line


def test_a_subcommand_error_points_at_that_subcommands_help(cli_error):
    line = cli_error(["train", "dyna-q", "--env", "reverie/DynaMaze-v0"])  # no budget given
    assert "see 'reverie train --help'" in line


@pytest.mark.parametrize("width", [60, 80, 100, 120])
@pytest.mark.parametrize(
    ("description", "detail"),
    [
        ("prioritized-sweeping reverie/ScaledDynaMaze-v0 seed 12", "12,345 steps/s  return -153"),
        ("dyna-q reverie/DynaMaze-v0 seed 0", "1,234 steps/s  return 1"),
        ("pets", ""),
    ],
)
def test_the_progress_line_fits_its_width_and_never_cuts_the_counts_or_times(width, description, detail):
    line = format_line(
        description, 1234, 10_000, "episodes", detail=detail, elapsed=75.2, remaining=3601.0, width=width
    )
    assert len(line) <= width - 1  # the last column stays free: a full line would wrap on some terminals
    assert "1,234/10,000 episodes" in line and "0:01:15" in line and "eta 1:00:01" in line
    assert line.startswith(description[: min(len(description), 12) - 1])  # what is running is always named


def test_a_wide_line_shows_everything_with_a_bar():
    line = format_line(
        "dyna-q DynaMaze", 25, 50, "episodes", detail="1,234 steps/s", elapsed=1.0, remaining=1.0, width=200
    )
    assert line == "dyna-q DynaMaze ━━━━━━━━━━╺───────── 25/50 episodes  1,234 steps/s  0:00:01 eta 0:00:01"


def test_the_rich_bar_renders_one_line_that_fits_an_80_column_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, color_system=None)
    bar = RunProgress("prioritized-sweeping reverie/ScaledDynaMaze-v0 seed 12", 50, "episodes", interactive=True,
                      console=console)  # fmt: skip
    bar.advance(20)
    bar.show("12,345 steps/s  return -153")
    console.print(bar._progress.make_tasks_table(bar._progress.tasks))  # what the live display draws
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0].rstrip()) <= 79, lines
    assert "20/50 episodes" in lines[0] and "eta" in lines[0] and lines[0].rstrip()[-7:].count(":") == 2


def test_without_a_terminal_progress_is_plain_lines_on_stdout(capsys, monkeypatch):
    monkeypatch.setattr(progress, "LINE_EVERY_S", 0.0)  # a line at every update
    with RunProgress("dyna-q maze", 3, "episodes", interactive=False) as bar:
        for _ in range(3):
            bar.advance(1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("dyna-q maze") and "1/3 episodes" in lines[0]
    assert "3/3 episodes" in lines[-1] and len(lines) == 4  # one per update and one at the end
    assert not any("\x1b" in line or "\r" in line for line in lines)  # no terminal control codes in a log


def test_quiet_shows_no_progress(capsys, tmp_path):
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "2", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines() == [out.strip()] and out.startswith("dyna-q on reverie/DynaMaze-v0")
    assert err == ""


def test_a_run_in_a_log_prints_its_final_progress_line(capsys, tmp_path):
    argv = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "2", "--out", str(tmp_path)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("dyna-q reverie/DynaMaze-v0 seed 0") and "2/2 episodes" in lines[0]
    assert lines[-1].startswith("dyna-q on reverie/DynaMaze-v0")


def test_tensorboard_reads_the_scalars_and_a_resume_hides_the_replayed_steps(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from reverie.runner.tensorboard import ScalarWriter

    first = ScalarWriter(tmp_path)
    for step in (10, 20, 30):
        first.add_scalar("env/episode_return", step / 10, step)
    first.close()
    resumed = ScalarWriter(tmp_path, purge_step=21)  # the checkpoint was taken at step 20
    resumed.add_scalar("env/episode_return", 9.0, 30)
    resumed.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("env/episode_return")] == [(10, 1.0), (20, 2.0), (30, 9.0)]
