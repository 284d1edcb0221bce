"""Suite ``pets``: PETS on continuous control, side by side with mbrl-lib's PETS, SAC and the same
planner given the true simulator (the upper bound), plus compute and memory.

reverie runs through the normal runner (one run directory per seed under the suite's output folder);
peers run from ``shared/peers`` in their own virtual environments when installed, and are reported as
not measured otherwise. Trials are the episodes after the random-data phase, as in mbrl-lib. Every run
and peer result is kept under ``out/runs``: running the suite again with the same ``--out`` resumes an
interrupted run and reuses finished ones instead of redoing hours of work.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch

from reverie.algorithms import algorithm_config, get_algorithm
from reverie.bench.checks import check
from reverie.bench.peers import run_peer
from reverie.bench.pets_learned_reward import learned_reward
from reverie.bench.pets_runs import (
    CARTPOLE,
    CARTPOLE_THRESHOLD,
    FAST,
    PENDULUM,
    PENDULUM_THRESHOLD,
    SAC_SEEDS,
    SAC_STEPS,
    SWINGUP,
    SWINGUP_SETS,
    per_trial,
    pets_runs,
)
from reverie.bench.stats import mean_band, on_step_grid, steps_to_threshold
from reverie.runner.progress import RunProgress
from reverie.runner.train import make_env


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


def _steps_to(runs: list[dict], threshold: float) -> list:
    return [steps_to_threshold(r["summary"]["episode_returns"], r["end_steps"], threshold) for r in runs]


def _sac(out: Path, task: str, seeds, threshold: float) -> dict:
    """SB3 SAC on ``task`` per seed: episode rows and real steps to ``threshold`` (None where not reached)."""
    per_seed = [
        run_peer("sb3", "sb3_baselines.py", [task, str(SAC_STEPS), str(s)], 3600, out / f"peers/sac-{task}-{s}.json")
        for s in seeds
    ]
    if any(result["error"] for result in per_seed):
        return {"error": next(result["error"] for result in per_seed if result["error"])}
    steps = [steps_to_threshold([r["return"] for r in p["rows"]], [r["env_steps"] for r in p["rows"]], threshold)
             for p in per_seed]  # fmt: skip
    return {"error": None, "rows": [p["rows"] for p in per_seed], "steps": steps}


def _median_steps(steps: list, budget: int) -> float:
    """Median real steps to threshold, a seed that never got there counted at its budget (so a lower bound)."""
    return float(np.median([budget if s is None else s for s in steps]))


def _steps_curve(title: str, series: dict, grid) -> dict:
    return {"title": title, "xlabel": "real environment steps", "ylabel": "return of the last finished episode",
            "x": [int(g) for g in grid], "series": series}  # fmt: skip


def cartpole(out: Path, seeds, trials: int, gflops: float) -> tuple[list, dict, dict, list]:
    """PETS on the continuous cart-pole: returns per trial, seconds per step, planner throughput."""
    runs = pets_runs(out / "cartpole", CARTPOLE, seeds, FAST, steps=200 + 200 * trials)
    returns = per_trial(runs, trials)
    median = np.nanmedian(returns, axis=0)
    fourth_on = median[3:].min() if len(median) > 3 else float("nan")
    checks = [check("cartpole: worst per-trial median return, trials 4+", fourth_on, ">= 190", fourth_on >= 190)]
    memory = max(r["summary"].get("peak_memory_mb", float("nan")) for r in runs)
    checks.append(check("cartpole: peak memory of a run (MB)", memory, "< 1500", memory < 1500))
    wall = float(np.median([r["summary"]["wall_s"] / max(r["planned_steps"], 1) for r in runs]))
    evals = float(np.median([t["planner/model_evals_per_s"] for r in runs for t in r["trials"]]))
    pets = get_algorithm("pets")
    flops_per_eval = pets.evaluation_flops(make_env(CARTPOLE, {}), algorithm_config("pets", FAST))
    facts = {
        "cartpole_s_per_step": round(wall, 4),
        "planner_model_evals_per_s": round(evals),
        "matmul_gflops_1_thread": round(gflops, 1),
        "planner_fraction_of_matmul_rate": round(evals * flops_per_eval / 1e9 / gflops, 3),
        "cartpole_steps_to_190": _steps_to(runs, CARTPOLE_THRESHOLD),
    }
    upper = pets_runs(out / "cartpole-true-model", CARTPOLE, [0], {**FAST, "dynamics": "simulator"}, episodes=1)
    bound = upper[0]["summary"]["episode_returns"][0]
    ratio = float(np.nanmean(returns[:, -1])) / bound
    checks.append(check("cartpole: PETS last-trial return / true-model return", ratio, "report (1 = bound)", True))
    facts["cartpole_true_model_return"] = bound
    return checks, {"reverie PETS (iCEM, 5 particles)": mean_band(returns)}, facts, runs


def peers(out: Path, trials: int, returns: np.ndarray, runs: list, seconds_per_step: float) -> tuple[list, dict, dict]:
    """mbrl-lib's PETS at its tutorial settings, and SB3 SAC's real steps to the same threshold."""
    mbrl = run_peer("mbrl", "mbrl_lib_pets_cartpole.py", [str(min(trials, 3)), "0"], 7200, out / "peers/mbrl.json")
    checks, series, facts = [], {}, {"mbrl_lib": mbrl["error"] or mbrl["rows"]}
    if mbrl["rows"]:
        last = mbrl["rows"][-1]
        ratio = seconds_per_step / (last["wall_s"] / max(last["env_steps"] - 200, 1))
        theirs = [row["return"] for row in mbrl["rows"]]
        gap = float(np.nanmean(returns[:, : len(theirs)])) - float(np.mean(theirs))
        checks.append(check("cartpole: s per step, reverie / mbrl-lib", ratio, "<= 0.333", ratio <= 1 / 3))
        checks.append(check("cartpole: mean return, reverie - mbrl-lib (same trials)", gap, ">= 0", gap >= 0))
        padded = np.full((1, returns.shape[1]), np.nan)  # its trials beyond the ones it ran are not drawn
        padded[0, : len(theirs)] = theirs[: returns.shape[1]]
        series["mbrl-lib PETS (tutorial settings, seed 0)"] = mean_band(padded)
    else:
        checks.append(check("cartpole: s per step, reverie / mbrl-lib", None, f"<= 0.333 ({mbrl['error']})", False))
    sac = _sac(out, "cartpole_continuous", range(SAC_SEEDS), CARTPOLE_THRESHOLD)
    if sac["error"]:
        checks.append(check("cartpole: SAC / PETS real steps to 190", None, f">= 5 ({sac['error']})", False))
        return checks, series, facts
    ours = _median_steps(_steps_to(runs, CARTPOLE_THRESHOLD), int(runs[0]["end_steps"][-1]))
    ratio = _median_steps(sac["steps"], SAC_STEPS) / ours
    name = "cartpole: SAC / PETS median real steps to 190 (3-episode mean)"
    checks.append(check(name, ratio, ">= 5 (goal)", ratio >= 5))
    facts["sac_cartpole_steps_to_190"] = sac["steps"]
    # the same comparison with a one-episode window (the first episode at 190 or more), for context
    first = [steps_to_threshold([r["return"] for r in rows], [r["env_steps"] for r in rows], CARTPOLE_THRESHOLD, 1)
             for rows in sac["rows"]]  # fmt: skip
    ours_first = [
        steps_to_threshold(r["summary"]["episode_returns"], r["end_steps"], CARTPOLE_THRESHOLD, 1) for r in runs
    ]
    facts["cartpole_first_episode_190_steps"] = {"sac": first, "pets": ours_first}
    # SAC's first episodes after its own 200 random steps, as "trials" beside PETS's
    after = [[r["return"] for r in rows if r["env_steps"] > 200][:trials] for rows in sac["rows"]]
    if min(map(len, after)) == trials:
        series[f"SB3 SAC (episodes after 200 random steps, {SAC_SEEDS} seeds)"] = mean_band(np.array(after))
    grid = np.arange(200, 10_001, 100)
    step_series = {f"SB3 SAC ({SAC_SEEDS} seeds)": _band_on_grid([(
        [r["return"] for r in rows], [r["env_steps"] for r in rows]) for rows in sac["rows"]], grid)}  # fmt: skip
    step_series["reverie PETS"] = _band_on_grid([(r["summary"]["episode_returns"], r["end_steps"]) for r in runs], grid)
    facts["steps_curve"] = _steps_curve("CartPoleContinuous: return against real steps", step_series, grid)
    return checks, series, facts


def _band_on_grid(histories: list[tuple], grid) -> dict:
    values = np.array([on_step_grid(returns, end_steps, grid) for returns, end_steps in histories])
    return mean_band(values)


def pendulum(out: Path, seeds, with_sac: bool) -> tuple[list, dict, dict]:
    """PETS on Pendulum-v1: 10 episodes of 200 steps, the first with random actions; SAC's steps beside it."""
    runs = pets_runs(out / "pendulum", PENDULUM, seeds, {**FAST, "planner.planning_horizon": "30"}, steps=2000)
    late = [np.mean(r["summary"]["episode_returns"][5:10]) for r in runs]
    mean, worst = float(np.mean(late)), float(np.min(late))
    checks = [
        check(f"pendulum: mean return over {len(runs)} seeds, episodes 6-10", mean, ">= -200", mean >= -200),
        check("pendulum: worst seed's mean return, episodes 6-10", worst, "report (start states vary)", True),
    ]
    # The same planner with the true model on the worst seed's episodes (same run seed, so the same start states):
    # how much of the gap is the model, and how much is hard start states (hanging down costs ~-350 even at best)
    worst_seed = runs[int(np.argmin(late))]["seed"]
    sets = {**FAST, "planner.planning_horizon": "30", "dynamics": "simulator"}
    bound = pets_runs(out / "pendulum-true-model", PENDULUM, [worst_seed], sets, steps=2000)[0]["summary"]
    bound_late = float(np.mean(bound["episode_returns"][5:10]))
    name = f"pendulum: true-model planner, seed {worst_seed}'s episodes 6-10"
    checks.append(check(name, bound_late, "report", True))
    ours = _steps_to(runs, PENDULUM_THRESHOLD)
    facts = {"pendulum_steps_to_-200": ours, "pendulum_mean_return_episodes_6_10": np.round(late, 2).tolist()}
    curve = {
        "title": f"Pendulum-v1: return per episode ({len(seeds)} seeds; episode 1 random)",
        "xlabel": "episode",
        "ylabel": "return",
        "x": list(range(1, 11)),
        "series": {"reverie PETS": mean_band(np.array([r["summary"]["episode_returns"][:10] for r in runs]))},
    }
    if with_sac:
        sac = _sac(out, "pendulum", range(SAC_SEEDS), PENDULUM_THRESHOLD)
        if sac["error"]:
            checks.append(check("pendulum: SAC / PETS real steps to -200", None, f"report ({sac['error']})", False))
        else:
            ratio = _median_steps(sac["steps"], SAC_STEPS) / _median_steps(ours, 2000)
            checks.append(check("pendulum: SAC / PETS median real steps to -200", ratio, "report", True))
            facts["sac_pendulum_steps_to_-200"] = sac["steps"]
            curve["series"][f"SB3 SAC ({SAC_SEEDS} seeds)"] = mean_band(
                np.array([[r["return"] for r in rows][:10] for rows in sac["rows"]])
            )
    return checks, curve, facts


def swingup(out: Path, seeds, trials: int) -> tuple[list, dict, dict]:
    """PETS on the cart-pole swing-up: trials until the return reaches 90% of the true-model planner's."""
    runs = pets_runs(out / "swingup", SWINGUP, seeds, SWINGUP_SETS, steps=200 + 200 * trials)
    upper = pets_runs(out / "swingup-true-model", SWINGUP, [0], {**SWINGUP_SETS, "dynamics": "simulator"}, episodes=3)
    bound = float(np.mean(upper[0]["summary"]["episode_returns"]))
    returns = per_trial(runs, trials)
    reached = [int(np.argmax(row >= 0.9 * bound)) + 1 if (row >= 0.9 * bound).any() else None for row in returns]
    passed = all(t is not None for t in reached)
    worst = max(t or trials + 1 for t in reached)
    swingup_check = check(f"swing-up: trials to 90% of the true-model return (worst of {len(seeds)})", worst,
                   f"<= {trials}", passed)  # fmt: skip
    curve = {
        "title": f"CartPoleSwingUp: return per trial ({len(seeds)} seeds; true-model planner {bound:.1f})",
        "xlabel": "trial (after 200 random steps)",
        "ylabel": "return",
        "x": list(range(1, trials + 1)),
        "series": {"reverie PETS (iCEM, horizon 25)": mean_band(returns),
                   "true-model planner": mean_band(np.full((1, trials), bound))},
    }  # fmt: skip
    facts = {"swingup_true_model_return": round(bound, 2), "swingup_trials_to_90pct": reached,
             "swingup_best_return_per_seed": np.nanmax(returns, axis=1).round(2).tolist()}  # fmt: skip
    return [swingup_check], curve, facts


# Planner families on the swing-up with the true simulator as the model, at ~750 scored sequences per step each
PLANNER_SETS = {
    "random": {"planner": "random", "planner.population_size": "750"},
    "cem": {
        "planner": "cem",
        "planner.population_size": "250",
        "planner.num_iterations": "3",
        "planner.num_elites": "25",
    },
    "icem": {
        "planner": "icem",
        "planner.population_size": "300",
        "planner.num_iterations": "3",
        "planner.num_elites": "10",
    },
    "mppi": {"planner": "mppi", "planner.population_size": "250", "planner.num_iterations": "3"},
}


def planners(out: Path) -> tuple[list, dict]:
    """Each planner family with the true model on the swing-up (3 episodes, horizon 25): return, evals/s."""
    facts = {}
    for name, sets in PLANNER_SETS.items():
        sets = {**sets, "planner.planning_horizon": "25", "dynamics": "simulator"}
        run = pets_runs(out / f"planners/{name}", SWINGUP, [0], sets, episodes=3)[0]
        facts[name] = {
            "mean_return": round(float(np.mean(run["summary"]["episode_returns"])), 2),
            "s_per_step": round(float(np.mean([t["planner/seconds_per_step"] for t in run["trials"]])), 4),
            "model_evals_per_s": round(float(np.median([t["planner/model_evals_per_s"] for t in run["trials"]]))),
        }
    best = max(f["mean_return"] for f in facts.values())
    ratio = facts["random"]["mean_return"] / best
    planners_check = check("swing-up, true model: random shooting / best planner return", ratio, "report", True)
    return [planners_check], {"planners_true_model_swingup": facts}


def mpc_baseline(out: Path, seeds, trials: int) -> np.ndarray:
    """The "one network + random shooting" baseline (algorithm ``mpc``) on the cart-pole: returns per trial."""
    runs = pets_runs(out / "cartpole-mpc", CARTPOLE, seeds, {}, steps=200 + 200 * trials, algo="mpc")
    return per_trial(runs, trials)


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """Run the suite; ``runs`` overrides the seed count (5), ``quick`` is 1 seed, fewer trials, no peers."""
    seeds = list(range(runs if runs is not None else (1 if quick else 5)))
    trials, swing_trials = (5, 8) if quick else (8, 10)  # swing-up: 10 trials (the target is within 15), CPU time
    out = Path(out or "bench-results/pets") / "runs"  # run directories and peer results; not committed
    with RunProgress("pets", 6, "experiments", enabled=show) as progress:
        progress.show(f"cart-pole, {len(seeds)} seeds x {trials} trials, and the true-model bound")
        checks, series, facts, cart_runs = cartpole(out, seeds, trials, _matmul_gflops())
        returns = per_trial(cart_runs, trials)
        upper = facts["cartpole_true_model_return"]
        mpc_seeds = seeds[:2]  # a baseline curve, not a target
        series[f"reverie MPC (1 network, random shooting, {len(mpc_seeds)} seeds)"] = mean_band(
            mpc_baseline(out, mpc_seeds, trials)
        )
        progress.advance(1)
        progress.show("peers skipped (--quick)" if quick else "peers: mbrl-lib PETS, SB3 SAC")
        steps_curve = None
        if not quick:
            peer_checks, peer_series, peer_facts = peers(out, trials, returns, cart_runs, facts["cartpole_s_per_step"])
            steps_curve = peer_facts.pop("steps_curve", None)
            checks, facts = checks + peer_checks, {**facts, **peer_facts}
            series.update(peer_series)
        progress.advance(1)
        progress.show(f"Pendulum-v1, {len(seeds)} seeds x 10 episodes")
        pendulum_checks, pendulum_curve, pendulum_facts = pendulum(out, seeds, with_sac=not quick)
        checks, facts = checks + pendulum_checks, {**facts, **pendulum_facts}
        progress.advance(1)
        swing_seeds = seeds[:3]  # 15 trials of a 25-step-horizon planner cost ~15 min per seed on this CPU
        progress.show(f"cart-pole swing-up, {len(swing_seeds)} seeds x {swing_trials} trials")
        swing_checks, swing_curve, swing_facts = swingup(out, swing_seeds, swing_trials)
        checks, facts = checks + swing_checks, {**facts, **swing_facts}
        progress.advance(1)
        progress.show("planner families on the swing-up with the true model")
        planner_checks, planner_facts = planners(out)
        checks, facts = checks + planner_checks, {**facts, **planner_facts}
        progress.advance(1)
        progress.show(f"known vs learned reward, {len(seeds[:3])} seeds x 3 envs")
        reward_checks, reward_facts = learned_reward(out, seeds[:3], trials, quick)
        checks, facts = checks + reward_checks, {**facts, **reward_facts}
        progress.advance(1)
    curves = {
        "cartpole": {
            "title": f"CartPoleContinuous: return per trial ({len(seeds)} seeds; true-model planner {upper:.0f})",
            "xlabel": "trial (after 200 random steps)",
            "ylabel": "return",
            "x": list(range(1, returns.shape[1] + 1)),
            "series": series,
            "ylim": [0, 210],  # returns lie in [0, 200]; a 2-seed t-band would otherwise set the scale
        },
        "pendulum": pendulum_curve,
        "swingup": swing_curve,
    }
    if steps_curve is not None:
        curves["cartpole_steps"] = steps_curve
    facts["peak_memory_mb_suite_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    facts.update({"seeds": len(seeds), "trials": trials, "reverie_settings": FAST})
    return {"suite": "pets", "runs": {"seeds": len(seeds)}, "checks": checks, "curves": curves, "timing": facts}
