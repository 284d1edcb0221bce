"""Suite ``cli``: the command line's first seconds, measured as a user meets them, in separate processes.

- ``reverie --version``, ``--help`` and ``list``, and one tabular episode, beside the bare interpreter's start;
- Figure 8.2's three commands (``train dyna-q --seeds 0-29 --workers 2`` for N = 0, 5, 50 planning steps) beside
  the Sutton & Barto companion code running the same 30 runs (``benchmarks/peers/companion_fig8_2.py``, on a
  checkout named by ``$REVERIE_COMPANION``, in the peer venv ``companion``; see docs/cli.md);
- a 30-seed fan-out against one seed of the same run;
- where a one-episode run's time goes (``python -X importtime``: imports by top-level package).

Each figure is the median of several process runs; the machine's load average is recorded before and after.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reverie.bench.checks import check
from reverie.bench.peers import local_peers, run_peer
from reverie.runner.files import read_json
from reverie.runner.progress import RunProgress

FIG_8_2 = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "50", "--quiet"]
ONE_EPISODE = ["train", "dyna-q", "--env", "reverie/DynaMaze-v0", "--episodes", "1", "--quiet"]


def reverie_command() -> list[str]:
    """How a user starts reverie here: the console script beside this interpreter (else ``python -m``)."""
    script = Path(sys.executable).parent / "reverie"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reverie.cli"]


def wall_s(argv: list[str], out: Path | None = None) -> float:
    """Seconds one process takes, start to exit; ``out`` (a run directory) is removed first. A failing command
    raises RuntimeError with its last error line."""
    if out is not None:
        shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-8:])} exited {done.returncode}: {done.stderr.strip()[-300:]}")
    return seconds


def median_wall_s(argv: list[str], repeats: int, out: Path | None = None) -> float:
    return statistics.median(wall_s(argv, out) for _ in range(repeats))


def import_breakdown(argv: list[str], out: Path) -> dict[str, float]:
    """Seconds spent importing each top-level package in one run of ``argv`` (``-X importtime``'s self times,
    summed per package), largest first."""
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "reverie.cli", *argv], capture_output=True, text=True, check=True
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1e6
    return {k: round(v, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v >= 0.005}


def companion(seeds: int, out: Path) -> dict:
    """The companion code's Figure 8.2 loop for ``seeds`` runs; ``wall_s`` is its whole process (start-up too)."""
    checkout = os.environ.get("REVERIE_COMPANION")
    if not checkout or not (Path(checkout) / "chapter08" / "maze.py").exists():
        return {"error": "companion code not found (set REVERIE_COMPANION to a checkout; see docs/cli.md)"}
    script = str(local_peers() / "companion_fig8_2.py")
    result = run_peer("companion", script, [checkout, str(seeds)], 3600, out / f"peers/companion-{seeds}.json")
    return {"error": result["error"], "wall_s": result["wall_s"], "rows": result["rows"]}


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """Run the suite; ``runs`` overrides the fan-out's seed count (30), ``quick`` uses 10 seeds and fewer repeats."""
    seeds = runs or (10 if quick else 30)
    repeats, fan_repeats = (3, 1) if quick else (9, 3)
    out = Path(out or tempfile.mkdtemp())
    scratch = Path(tempfile.mkdtemp(prefix="reverie-bench-cli-"))
    load_before = os.getloadavg()
    reverie = reverie_command()
    with RunProgress("cli", 5, "parts", enabled=show) as progress:
        try:
            return _run(reverie, seeds, repeats=repeats, fan_repeats=fan_repeats, out=out, scratch=scratch,
                        progress=progress, load_before=load_before)  # fmt: skip
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _run(reverie, seeds, *, repeats, fan_repeats, out, scratch, progress, load_before) -> dict:
    run_dir = scratch / "run"
    progress.show("start-up")
    one_episode = [*reverie, *ONE_EPISODE, "--out", str(run_dir)]
    timing = {
        # the first run fills numba's on-disk cache if it is cold (a fresh clone); the medians below find it warm
        "first tabular episode (numba cache as found)": wall_s(one_episode, run_dir),
        "python -c pass": median_wall_s([sys.executable, "-c", "pass"], repeats),
        "reverie --version": median_wall_s([*reverie, "--version"], repeats),
        "reverie --help": median_wall_s([*reverie, "--help"], repeats),
        "reverie list": median_wall_s([*reverie, "list"], repeats),
        "one tabular episode": median_wall_s(one_episode, repeats, run_dir),
    }
    progress.advance(1)
    progress.show("one seed of figure 8.2 (N = 50)")
    single = [*reverie, *FIG_8_2, "--set", "planning_steps=50", "--out", str(run_dir)]
    timing["figure 8.2, N = 50, one seed"] = median_wall_s(single, repeats, run_dir)
    progress.advance(1)
    progress.show(f"figure 8.2's three commands, {seeds} seeds, 2 workers")
    fan_dir, fan_walls = scratch / "fan", {}
    for n in (0, 5, 50):
        fan_out = [*reverie, *FIG_8_2, "--set", f"planning_steps={n}", "--seeds", f"0-{seeds - 1}", "--workers", "2"]
        fan_walls[n] = median_wall_s([*fan_out, "--out", str(fan_dir)], fan_repeats, fan_dir)
        timing[f"figure 8.2, N = {n}, {seeds} seeds, 2 workers"] = fan_walls[n]
    three = sum(fan_walls.values())
    timing["figure 8.2, three commands"] = three
    progress.advance(1)
    progress.show(f"the companion code, {seeds} runs")
    theirs = companion(seeds, out)
    progress.advance(1)
    progress.show("import breakdown")
    breakdown = import_breakdown([*ONE_EPISODE, "--out", str(run_dir)], run_dir)
    breakdown["(the run itself, summary.json wall_s)"] = read_json(run_dir / "summary.json", "run summary")["wall_s"]
    progress.advance(1)
    timing = {k: round(v, 3) for k, v in timing.items()}
    fan_ratio = fan_walls[50] / timing["figure 8.2, N = 50, one seed"]
    episode = timing["one tabular episode"]
    checks = [
        check("reverie --help, median s", timing["reverie --help"], "<= 0.5", timing["reverie --help"] <= 0.5),
        check("reverie list, median s", timing["reverie list"], "<= 0.5", timing["reverie list"] <= 0.5),
        check("one tabular episode, median s", episode, "<= 1.0", episode <= 1.0),
        check(f"fan-out of {seeds} seeds / one seed, wall (N = 50)", fan_ratio, "<= 2", fan_ratio <= 2),
    ]
    name = f"figure 8.2 ({seeds} runs x N = 0, 5, 50): companion code / reverie, wall"
    if theirs["error"]:
        checks.append(check(name, None, f">= 10 (not measured: {theirs['error']})", False))
    else:
        timing["companion code, figure 8.2"] = theirs["wall_s"]
        checks.append(check(name, theirs["wall_s"] / three, ">= 10", theirs["wall_s"] / three >= 10))
    facts = {
        "interpreter": sys.version.split()[0],
        "load average before (1, 5, 15 min)": [round(x, 2) for x in load_before],
        "load average after": [round(x, 2) for x in os.getloadavg()],
        "repeats (median of)": {"start-up": repeats, "figure 8.2 commands": fan_repeats},
        "one tabular episode, import s by package": breakdown,
    }
    return {"suite": "cli", "runs": {"seeds": seeds}, "checks": checks, "curves": {}, "timing": {**timing, **facts}}
