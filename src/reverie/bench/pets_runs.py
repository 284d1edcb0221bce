"""The pets suites' shared pieces: their PETS settings and tasks, and PETS runs read back with their planned trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from reverie.runner.spec import RunSpec
from reverie.runner.train import start_seeds

# PETS with the iCEM planner (Pinneri et al. 2020) and 5 particles: ~14x fewer model evaluations per step
# than mbrl-lib's tutorial settings (CEM 500 x 5, 20 particles), which this suite compares it against.
FAST = {
    "planner": "icem",
    "num_particles": "5",
    "planner.population_size": "300",
    "planner.num_iterations": "3",
    "planner.num_elites": "10",
}
CARTPOLE, SWINGUP, PENDULUM = "reverie/CartPoleContinuous-v0", "reverie/CartPoleSwingUp-v0", "Pendulum-v1"
# Swing-up: PETS's own cart-pole planning horizon (25 steps of 0.04 s = 1 s of look-ahead).
SWINGUP_SETS = {**FAST, "planner.planning_horizon": "25"}
CARTPOLE_THRESHOLD, PENDULUM_THRESHOLD = 190.0, -200.0  # "solved": mean of 3 consecutive episodes at or above
SAC_STEPS = 10_000  # SAC reaches both thresholds in about 3.5k steps (shared/peers/README.md)
SAC_SEEDS = 3  # SAC is the reference point here, not the subject; 3 seeds give its median


def trials_of(run_dir: Path) -> list[dict]:
    """The planned episodes (rows with planner metrics) of one run directory's metrics.jsonl."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "planner/seconds_per_step" in r]


def pets_runs(out: Path, env_id: str, seeds, sets: dict, *, steps=None, episodes=None, algo="pets") -> list[dict]:
    """One run per seed under ``out`` (finished ones reused), each with its summary, planned trials, planned steps
    and the env step at which each episode ended."""
    spec = RunSpec(algo, env_id, episodes=episodes, steps=steps, overrides=sets, out=out, checkpoint_every=1)
    summaries = start_seeds(spec, seeds, 2, show=False, reuse=True)
    runs = []
    for seed, summary in zip(seeds, summaries, strict=True):
        trials = trials_of(out / f"seed_{seed}")
        planned_steps = sum(t["env/episode_length"] for t in trials)
        end_steps = np.cumsum(summary["episode_lengths"])  # env steps when each episode ended
        runs.append({"seed": seed, "summary": summary, "trials": trials, "planned_steps": planned_steps,
                     "end_steps": end_steps})  # fmt: skip
    return runs


def per_trial(runs: list[dict], trials: int) -> np.ndarray:
    """Returns of the first ``trials`` planned episodes, [seeds, trials]; NaN where the step budget ended a seed's
    run first (a seed whose random phase or early trials ran long fits fewer whole trials in the same budget)."""
    table = np.full((len(runs), trials), np.nan)
    for row, run in zip(table, runs, strict=True):
        got = [t["env/episode_return"] for t in run["trials"][:trials]]
        row[: len(got)] = got
    return table
