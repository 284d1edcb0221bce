"""Suite ``pets``: PETS on continuous control, side by side with mbrl-lib's PETS, SAC and the same
planner given the true simulator (the upper bound), plus compute and memory.

reverie runs through the normal runner (one run directory per seed under the suite's output folder);
peers run from ``shared/peers`` in their own virtual environments when installed, and are reported as
not measured otherwise. Trials are the episodes after the random-data phase, as in mbrl-lib.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from reverie.bench.peers import run_peer
from reverie.bench.stats import mean_band
from reverie.runner.progress import RunProgress
from reverie.runner.train import start_run, start_seeds

# PETS with the iCEM planner (Pinneri et al. 2020) and 5 particles: ~14x fewer model evaluations per step
# than mbrl-lib's tutorial settings (CEM 500 x 5, 20 particles), which this suite compares it against.
FAST = {
    "planner": "icem",
    "num_particles": "5",
    "population_size": "300",
    "num_iterations": "3",
    "planner_elites": "10",
}
CARTPOLE = "reverie/CartPoleContinuous-v0"


def _check(name, value, target, passed) -> dict:
    value = float("nan") if value is None else float(value)
    return {"name": name, "value": round(value, 4), "target": target, "passed": bool(passed)}


def _trials(run_dir: Path) -> list[dict]:
    """The planned episodes (rows with planner metrics) of one run directory's metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "planner/seconds_per_step" in r]


def _pets_runs(out: Path, env_id: str, seeds, steps: int, sets: dict, workers: int) -> list[dict]:
    summaries = start_seeds(
        seeds, workers, out, show=False, algo="pets", env_id=env_id, episodes=None, steps=steps,
        overrides=sets, env_kwargs={}, checkpoint_every=1,
    )  # fmt: skip
    runs = []
    for seed, summary in zip(seeds, summaries, strict=True):
        trials = _trials(out / f"seed_{seed}")
        planned_steps = sum(t["env/episode_length"] for t in trials)
        runs.append({"seed": seed, "summary": summary, "trials": trials, "planned_steps": planned_steps})
    return runs


def _matmul_gflops() -> float:
    """Single-thread float32 matrix-multiply rate, best of 5 (the physical bound for model evaluation);
    measured before any run starts, so no other work of the suite competes with it."""
    torch.set_num_threads(1)
    a, b = torch.randn(10_000, 200), torch.randn(200, 200)
    a @ b
    best = 0.0
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * 10_000 * 200 * 200 / (time.perf_counter() - started) / 1e9)
    return best


def cartpole(out: Path, seeds, trials: int, gflops: float) -> tuple[list, dict, dict, np.ndarray]:
    """PETS on the continuous cart-pole: returns per trial, seconds per step, planner throughput."""
    runs = _pets_runs(out / "cartpole", CARTPOLE, seeds, 200 + 200 * trials, FAST, workers=2)
    returns = np.array([[t["env/episode_return"] for t in r["trials"][:trials]] for r in runs])
    median = np.median(returns, axis=0)
    fourth_on = median[3:].min() if len(median) > 3 else float("nan")
    checks = [_check("cartpole: worst per-trial median return, trials 4+", fourth_on, ">= 190", fourth_on >= 190)]
    wall = float(np.median([r["summary"]["wall_s"] / max(r["planned_steps"], 1) for r in runs]))
    evals = float(np.median([t["planner/model_evals_per_s"] for r in runs for t in r["trials"]]))
    flops_per_eval = 2 * (6 * 200 + 2 * 200 * 200 + 200 * 8)  # one particle through one 3x200 member
    facts = {
        "cartpole_s_per_step": round(wall, 4),
        "planner_model_evals_per_s": round(evals),
        "matmul_gflops_1_thread": round(gflops, 1),
        "planner_fraction_of_matmul_rate": round(evals * flops_per_eval / 1e9 / gflops, 3),
    }
    return checks, {"reverie PETS (iCEM, 5 particles)": mean_band(returns)}, facts, returns


def peers(trials: int, returns: np.ndarray, seconds_per_step: float) -> tuple[list, dict, dict]:
    """mbrl-lib's PETS at its tutorial settings and SB3 SAC, when their venvs are installed."""
    mbrl = run_peer("mbrl", "mbrl_lib_pets_cartpole.py", [str(min(trials, 3)), "0"], timeout_s=3600)
    sac = run_peer("sb3", "sb3_baselines.py", ["cartpole_continuous", "15000", "0"], timeout_s=3600)
    facts = {"mbrl_lib": mbrl["error"] or mbrl["rows"], "sb3_sac": sac["error"] or f"{len(sac['rows'])} episodes"}
    if not mbrl["rows"]:
        return (
            [_check("cartpole: s per step, reverie / mbrl-lib", None, f"<= 0.333 ({mbrl['error']})", False)],
            {},
            facts,
        )
    last = mbrl["rows"][-1]
    ratio = seconds_per_step / (last["wall_s"] / max(last["env_steps"] - 200, 1))
    theirs = [row["return"] for row in mbrl["rows"]]
    gap = float(np.mean(returns[:, : len(theirs)])) - float(np.mean(theirs))
    checks = [
        _check("cartpole: s per step, reverie / mbrl-lib", ratio, "<= 0.333", ratio <= 1 / 3),
        _check("cartpole: mean return, reverie - mbrl-lib (same trials)", gap, ">= 0", gap >= 0),
    ]
    return checks, {"mbrl-lib PETS (tutorial settings, seed 0)": {"mean": theirs, "low": theirs, "high": theirs}}, facts


def pendulum(out: Path, seeds) -> tuple[list, dict]:
    """PETS on Pendulum-v1: 10 episodes of 200 steps, the first with random actions."""
    runs = _pets_runs(out / "pendulum", "Pendulum-v1", seeds, 2000, {**FAST, "planning_horizon": "30"}, workers=2)
    late = [np.mean(r["summary"]["episode_returns"][5:10]) for r in runs]
    worst = float(np.min(late))
    curve = {
        "title": f"Pendulum-v1: return per episode ({len(seeds)} seeds; episode 1 random)",
        "xlabel": "episode",
        "ylabel": "return",
        "x": list(range(1, 11)),
        "series": {"reverie PETS": mean_band(np.array([r["summary"]["episode_returns"][:10] for r in runs]))},
    }
    return [_check("pendulum: worst seed's mean return, episodes 6-10", worst, ">= -200", worst >= -200)], curve


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """Run the suite; ``runs`` overrides the seed count (5), ``quick`` is 1 seed, fewer trials, no peers."""
    seeds = list(range(runs if runs is not None else (1 if quick else 5)))
    trials = 5 if quick else 8
    out = Path(out or "bench-results/pets") / "runs"  # one run directory per seed; not committed with results
    with RunProgress("pets", 4, "experiments", enabled=show) as progress:
        progress.show(f"cart-pole, {len(seeds)} seeds x {trials} trials")
        checks, series, facts, returns = cartpole(out, seeds, trials, _matmul_gflops())
        progress.advance(1)
        progress.show("cart-pole with the true simulator as the model")
        sets = {**FAST, "dynamics": "simulator"}
        upper = start_run("pets", CARTPOLE, 0, 1, None, sets, {}, out / "true-model", show=False)["episode_returns"][0]
        ratio = float(np.mean(returns[:, -1])) / upper
        checks.append(_check("cartpole: PETS last-trial return / true-model return", ratio, "report (1 = bound)", True))
        progress.advance(1)
        progress.show("peers skipped (--quick)" if quick else "peers: mbrl-lib PETS, SB3 SAC")
        if not quick:
            peer_checks, peer_series, peer_facts = peers(trials, returns, facts["cartpole_s_per_step"])
            checks, facts = checks + peer_checks, {**facts, **peer_facts}
            series.update(peer_series)
        progress.advance(1)
        progress.show(f"Pendulum-v1, {len(seeds)} seeds x 10 episodes")
        pendulum_checks, pendulum_curve = pendulum(out, seeds)
        checks += pendulum_checks
        progress.advance(1)
    curves = {
        "cartpole": {
            "title": f"CartPoleContinuous: return per trial ({len(seeds)} seeds; true-model planner {upper:.0f})",
            "xlabel": "trial (after 200 random steps)",
            "ylabel": "return",
            "x": list(range(1, returns.shape[1] + 1)),
            "series": series,
        },
        "pendulum": pendulum_curve,
    }
    facts["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    facts["peak_memory_mb_seed_processes"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    facts.update({"seeds": len(seeds), "trials": trials, "reverie_settings": FAST})
    return {"suite": "pets", "runs": {"seeds": len(seeds)}, "checks": checks, "curves": curves, "timing": facts}
