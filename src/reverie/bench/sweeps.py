"""``reverie bench sweep``: what running a sweep's trials through a backend costs, against running them one after
another in one process.

The same 40 short tabular trials (Dyna-Q and Dyna-Q+ on the Dyna maze, N in {0, 5, 10, 50}, 5 seeds, 50 episodes)
run four ways, each into a fresh sweep directory: in this process one after another (the bound: no processes,
no pickling), on the local process pool with 1 worker and with 2, and as Ray tasks on a local Ray cluster with 2
CPUs. Overhead per trial is (wall x workers - in-process wall) / trials: the CPU-seconds a backend adds to each
trial (process start, imports, pickling, scheduling); Ray's cluster start-up is timed apart. Every way's trials
must give the same summaries (the backends change where a trial runs, never what it learns).
"""

from __future__ import annotations

import importlib.util
import shutil
import statistics
import time
from pathlib import Path

from reverie.bench.checks import check
from reverie.runner.files import read_json
from reverie.runner.progress import RunProgress
from reverie.runner.sweep import create_sweep, run_sweep
from reverie.runner.trial import run_trial

TRIALS = {
    "algos": ["dyna-q", "dyna-q-plus"],
    "envs": ["reverie/DynaMaze-v0"],
    "seeds": "0-4",
    "episodes": 50,
    "grid": {"planning_steps": [0, 5, 10, 50]},
}
WAYS = (("in-process", "none", 1), ("local pool", "local", 1), ("local pool", "local", 2), ("ray", "ray", 2))


def _learning(sweep_dir: Path) -> list:
    return [
        (p.parent.name, s["episode_lengths"])
        for p in sorted(sweep_dir.glob("trials/*/summary.json"))
        for s in [read_json(p, "run summary")]
    ]


def _one_way(out: Path, backend: str, workers: int, definition: dict) -> dict:
    if out.exists():
        shutil.rmtree(out)  # a timing needs fresh trials: a finished one would only be read back
    trials = create_sweep(out, definition)
    start = time.perf_counter()
    if backend == "none":
        rows = [run_trial(spec) for spec in trials]
    else:
        rows = run_sweep(out, trials, workers=workers, backend=backend, show=False)
    wall = time.perf_counter() - start
    failed = [row for row in rows if "error" in row]
    return {"wall_s": wall, "trial_s": sum(r["wall_s"] for r in rows if "error" not in r), "failed": len(failed),
            "learning": _learning(out)}  # fmt: skip


def _ray_start_s() -> float | None:
    """Seconds to start and stop an empty local Ray cluster (included in the ray way's wall), or None without Ray."""
    try:
        import ray
    except ModuleNotFoundError:
        return None
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.shutdown()
    return time.perf_counter() - start


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """Run the suite: ``runs`` repeats of each way (3; 1 with ``quick``), medians reported; ``quick`` keeps the 40
    trials but gives each 10 episodes."""
    out = Path(out or "bench-results/sweep")
    definition = {**TRIALS, "episodes": 10} if quick else TRIALS
    repeats = runs or (1 if quick else 3)
    walls: dict[str, list] = {}
    results: dict[str, dict] = {}
    warm = {**definition, "algos": ["dyna-q"], "seeds": [0], "episodes": 1, "grid": {}}
    _one_way(out / "runs" / "warm-up", "none", 1, warm)  # the bound pays no first-import or kernel-load cost
    with RunProgress("sweep", len(WAYS) * repeats, "sweeps", enabled=show) as progress:
        for repeat in range(repeats):
            for name, backend, workers in WAYS:
                label = f"{name}, {workers} worker{'s' * (workers > 1)}"
                if backend == "ray" and importlib.util.find_spec("ray") is None:
                    continue
                progress.show(f"{label} (repeat {repeat + 1})")
                results[label] = _one_way(out / "runs" / label.replace(", ", "-").replace(" ", "-"), backend,
                                          workers, definition)  # fmt: skip
                walls.setdefault(label, []).append(results[label]["wall_s"])
                progress.advance(1)
    return _results(walls, results, repeats, definition)


def _results(walls: dict, results: dict, repeats: int, definition: dict) -> dict:
    trials = len(results["in-process, 1 worker"]["learning"])
    bound = statistics.median(walls["in-process, 1 worker"])
    timing, checks = {"trials": trials, "repeats": repeats, "episodes per trial": definition["episodes"]}, []
    for label, values in walls.items():
        wall = statistics.median(values)
        workers = int(label.rsplit(", ", 1)[1].split()[0])
        timing[f"{label}: median wall s"] = round(wall, 3)
        if label != "in-process, 1 worker":
            overhead = (wall * workers - bound) / trials
            timing[f"{label}: overhead per trial, CPU s"] = round(overhead, 4)
            checks.append(check(f"{label}: wall / in-process wall (the bound is 1 / workers)", wall / bound,
                                "report", True))  # fmt: skip
    speedup = statistics.median(walls["local pool, 1 worker"]) / statistics.median(walls["local pool, 2 workers"])
    # on 2 cores a pool of 2 should be well above 1x; 1.3 leaves room for the machine's other load
    checks.append(check("local pool, 2 workers: speed-up over 1 worker", speedup, ">= 1.3 (2 cores)", speedup >= 1.3))
    reference = results["in-process, 1 worker"]["learning"]
    same = all(r["learning"] == reference and r["failed"] == 0 for r in results.values())
    checks.append(check("every way learns the same (episode lengths of all trials equal)", float(same), "1", same))
    ray_start = _ray_start_s()
    if ray_start is not None and "ray, 2 workers" in walls:
        timing["ray local cluster start + stop s"] = round(ray_start, 2)
        after_start = statistics.median(walls["ray, 2 workers"]) - ray_start
        timing["ray, 2 workers: overhead per trial without the cluster start, CPU s"] = round(
            (after_start * 2 - bound) / trials, 4
        )
    timing["in-process: sum of trial wall s"] = round(results["in-process, 1 worker"]["trial_s"], 3)
    return {"suite": "sweep", "runs": {"repeats": repeats}, "checks": checks, "curves": {}, "timing": timing}
