"""Suite ``pilco-gps``: PILCO and Guided Policy Search on their papers' tasks, beside PETS, SAC and TorchRL's PILCO.

- PILCO (Deisenroth & Rasmussen 2011) cart-pole swing-up: the first trial (of 4 s, the random one counted) that ends
  with the tip within 0.1 m of its target for the last second, per seed; target <= 15 trials (the paper: ~17.5 s of
  interaction); the pendulum swing-up within 10. PETS (reverie, known reward) and SB3 SAC on the same envs, as real
  interaction seconds to the first success (``benchmarks/peers/sb3_reverie_env.py`` runs the shared SAC script on a
  reverie env). Gymnasium's mountain car: every seed reaches the goal within 5 trials.
- The cost of one PILCO policy step (40-step analytic rollout + backward) at 100 / 200 / 350 GP points, each size in
  a fresh process, against TorchRL 0.14.1's PILCO at the same sizes on InvertedPendulum-v5
  (``benchmarks/peers/torchrl_pilco.py``); and whether both balance that pendulum.
- GPS on the two-link arm: 15 iterations x 4 conditions x 5 samples; the network alone on training and held-out targets.
  The same on Reacher-v5 with targets (``reverie/ReacherTargets-v0``, 3 seeds), reported.

Run directories and peer results are kept under ``out/runs``: running the suite again resumes or reuses them.
"""

from __future__ import annotations

import json
import resource
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from reverie.algorithms import algorithm_config, get_algorithm
from reverie.bench.checks import check
from reverie.bench.peers import local_peers, run_peer
from reverie.bench.stats import mean_band
from reverie.runner.progress import RunProgress
from reverie.runner.spec import RunSpec
from reverie.runner.train import make_env, start_seeds

CARTPOLE, PENDULUM, ARM = "reverie/PilcoCartPole-v0", "reverie/PendulumSwingUp-v0", "reverie/TwoLinkArm-v0"
REACHER = "reverie/ReacherTargets-v0"  # MuJoCo's Reacher-v5 with targets
INVERTED, MOUNTAIN_CAR = "InvertedPendulum-v5", "MountainCarContinuous-v0"
DT, TRIAL_S = 0.1, 4.0  # all three PILCO envs step 0.1 s; a reverie trial is 40 steps
POINTS = (100, 200, 350)
GPS_EPISODES = 15 * 4 * 5  # gps defaults: iterations x num_conditions x samples_per_condition
# PETS as in the pets suite (iCEM, 5 particles), one random trial as PILCO, 3 s of look-ahead for a swing-up
PETS_SETS = {"planner": "icem", "num_particles": "5", "planner.population_size": "300", "planner.num_iterations": "3",
             "planner.num_elites": "10", "planner.planning_horizon": "30", "random_steps": "40"}  # fmt: skip
PEER_SEEDS, SAC_STEPS = 3, 20_000  # SAC: 2000 s of interaction, > 30x PILCO's budget
# InvertedPendulum-v5 cut to TorchRL's 100-step evaluation; ~40 random trials give TorchRL's ~200 random steps
# Both balance tasks and the pendulum are learned on every seed without a policy restart, which would double their time
NO_RESTART = {"policy_restarts": "0"}
INVERTED_KWARGS, INVERTED_SETS = (
    {"max_episode_steps": "100"},
    {"random_trials": "40", "num_centres": "10", **NO_RESTART},
)
# a linear controller, a = sin(w . [x, v] + b), can pump energy with the velocity; the RBF one also reached the goal in
# its first policy trial on seeds 0 and 1 but missed the next while its predicted cost fell (not established why)
MOUNTAIN_CAR_SETS = {"controller": "linear"}
TORCHRL_README = {"100": [0.9, 1700], "200": [2.7, 5500], "350": [19.0, 10600]}  # s per step, peak MB (quiet)


def first_success(flags) -> int | None:
    """1-based index of the first True in per-episode success flags (the random trial counted), or None."""
    return next((i + 1 for i, ok in enumerate(flags or []) if ok), None)


def interaction_s(first: int | None, trial_s: float = TRIAL_S) -> float | None:
    """Real interaction seconds until the end of trial ``first`` (None: never)."""
    return None if first is None else round(first * trial_s, 2)


def sac_seconds_to_success(rows: list[dict], dt: float = DT) -> float | None:
    """Seconds of interaction until the first episode that ``sb3_reverie_env.py`` logged as a success."""
    return next((round(r["env_steps"] * dt, 2) for r in rows if r.get("success")), None)


def median_s(seconds: list, budget_s: float) -> float:
    """Median seconds to success, a seed that never succeeded counted at its budget (so a lower bound)."""
    return float(np.median([budget_s if s is None else s for s in seconds]))


def iteration_times(rows: list[dict]) -> list[float]:
    """GPS iteration seconds from metrics rows: each iteration's episodes log the previous iteration's time."""
    values = [r.get("time/iteration_s", 0.0) for r in rows]
    return [v for prev, v in zip([0.0, *values], values, strict=False) if v > 0 and v != prev]


def ratio_target(peer_seconds: list) -> str:
    """The target column of a peer / PILCO ratio: a peer seed that never succeeded counts at its budget, so the
    ratio is then a lower bound, and the column says so."""
    never = sum(s is None for s in peer_seconds)
    return f"report (a lower bound: {never} of {len(peer_seconds)} seeds never succeeded)" if never else "report"


def _returns(runs: list[dict], trials: int) -> dict:
    return mean_band(np.array([s["episode_returns"][:trials] for s in runs]))


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _runs(out: Path, algo: str, env_id: str, seeds, episodes: int, sets=None, *, env_kwargs=None) -> list[dict]:
    spec = RunSpec(algo, env_id, episodes=episodes, overrides=dict(sets or {}), env_kwargs=dict(env_kwargs or {}),
                   out=out, checkpoint_every=1)  # fmt: skip
    return start_seeds(spec, seeds, 2, show=False, reuse=True)


def policy_step_cost(points: int, env_id: str = CARTPOLE, centres: int = 50) -> dict:
    """PILCO's own timing of one policy step (``pilco.time_policy_step``: a 40-step analytic rollout + backward) at
    ``points`` GP points on ``env_id``, RBF with ``centres`` centres, and this process's peak memory (MB); run it
    in a fresh process (ru_maxrss is a high-water mark)."""
    torch.set_num_threads(1)
    pilco = get_algorithm("pilco")
    config = algorithm_config("pilco", {"num_centres": centres, "planning_horizon": 40, "gp_iterations": 5})
    env = make_env(env_id, INVERTED_KWARGS if env_id == INVERTED else {})
    cost = pilco.time_policy_step(env, config, points)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"points": points, "wall_s": round(cost["wall_s"], 4), "cpu_s": round(cost["cpu_s"], 4),
            "peak_mb": round(peak, 1)}  # fmt: skip


def _step_costs(env_id: str, centres: int) -> list[dict]:
    costs = []
    for points in POINTS:
        with ProcessPoolExecutor(max_workers=1) as pool:  # a fresh process per size: its own peak memory
            costs.append(pool.submit(policy_step_cost, points, env_id, centres).result())
    return costs


def swingup(out: Path, name: str, env_id: str, seeds, trials: int, target: int, *, peers: bool, sets=None) -> tuple:
    """PILCO's swing-up on ``env_id``: per seed the first trial up and held, its interaction seconds, the time per
    policy optimisation; with ``peers``, PETS and SAC's seconds to their first success beside it."""
    runs = _runs(out / name, "pilco", env_id, seeds, trials, sets)
    firsts = [first_success(s.get("episode_success")) for s in runs]
    rate = float(np.mean([f is not None and f <= target for f in firsts]))
    checks = [check(f"pilco {name}: share of seeds up and held within {target} trials", rate, "1.0", rate == 1.0)]
    rows = [r for s in seeds for r in _metrics(out / name / f"seed_{s}")]
    opt_s = [r["time/policy_opt_s"] for r in rows if "time/policy_opt_s" in r]
    seconds = [interaction_s(f) for f in firsts]
    facts = {f"pilco_{name}_first_success_trial": firsts, f"pilco_{name}_interaction_s": seconds,
             f"pilco_{name}_policy_opt_s_median": round(float(np.median(opt_s)), 2) if opt_s else None,
             f"pilco_{name}_policy_opt_s_max": round(max(opt_s), 2) if opt_s else None,
             f"pilco_{name}_peak_memory_mb": max(s.get("peak_memory_mb", 0.0) for s in runs),
             f"pilco_{name}_wall_s": [s["wall_s"] for s in runs]}  # fmt: skip
    series = {f"reverie PILCO ({len(seeds)} seeds)": _returns(runs, trials)}
    if peers:
        pets = _runs(out / f"{name}-pets", "pets", env_id, seeds[:PEER_SEEDS], trials, PETS_SETS)
        pets_s = [interaction_s(first_success(s.get("episode_success"))) for s in pets]
        ratio = median_s(pets_s, trials * TRIAL_S) / median_s(seconds, trials * TRIAL_S)
        checks.append(check(f"{name}: PETS / PILCO median interaction s to success", ratio, ratio_target(pets_s), True))
        facts[f"pets_{name}_interaction_s"] = pets_s
        series[f"reverie PETS (iCEM, {len(pets)} seeds)"] = _returns(pets, trials)
        script = str(local_peers() / "sb3_reverie_env.py")
        label = f"{name}: SAC / PILCO median interaction s to success"
        sac = [run_peer("sb3", script, [env_id, str(SAC_STEPS), str(s)], 7200, out / f"peers/sac-{name}-{s}.json")
               for s in range(PEER_SEEDS)]  # fmt: skip
        error = next((p["error"] for p in sac if p["error"]), None)
        if error:
            checks.append(check(label, None, f"report (not measured: {error})", False))
        else:
            sac_s = [sac_seconds_to_success(p["rows"]) for p in sac]
            ratio = median_s(sac_s, SAC_STEPS * DT) / median_s(seconds, trials * TRIAL_S)
            checks.append(check(label, ratio, ratio_target(sac_s), True))
            facts[f"sac_{name}_interaction_s"] = sac_s
            # SAC's episodes are trials of the same 4 s: its first ones go on the same axis
            sac_returns = [[r["return"] for r in p["rows"] if "return" in r][:trials] for p in sac]
            if all(len(r) == trials for r in sac_returns):
                series[f"SB3 SAC ({len(sac)} seeds)"] = mean_band(np.array(sac_returns))
    curve = {"title": f"{env_id}: return per trial of 4 s (trial 1 random)", "xlabel": "trial", "series": series,
             "ylabel": "return (minus the saturating cost)", "x": list(range(1, trials + 1))}  # fmt: skip
    return checks, curve, facts


def inverted(out: Path, seeds, episodes: int, peers: bool) -> tuple[list, dict]:
    """Time per policy step against TorchRL's PILCO at 100 / 200 / 350 GP points (InvertedPendulum-v5 sizes: 4 states,
    RBF with 10 centres, 40 steps), peak memory, and whether each balances the pendulum for 100 steps."""
    ours = _step_costs(INVERTED, 10)
    runs = _runs(out / "inverted", "pilco", INVERTED, seeds, episodes, INVERTED_SETS, env_kwargs=INVERTED_KWARGS)
    balanced = [first_success([n >= 100 for n in s["episode_lengths"]]) for s in runs]
    share, peak = float(np.mean([b is not None for b in balanced])), ours[-1]["peak_mb"]
    checks = [
        check("pilco InvertedPendulum-v5: share of seeds with a 100-step trial", share, "1.0", share == 1.0),
        check("pilco, InvertedPendulum sizes: peak memory at 350 points (MB)", peak, "< 1024", peak < 1024),
    ]
    steps = [None if b is None else int(sum(s["episode_lengths"][:b])) for b, s in zip(balanced, runs, strict=True)]
    facts = {
        "pilco_inverted_policy_step": ours,
        "pilco_inverted_first_balanced_trial": balanced,
        "pilco_inverted_real_steps_to_balance": steps,
        "torchrl_readme_s_per_step_and_peak_mb": TORCHRL_README,
    }
    if not peers:
        return checks, facts
    script, theirs = str(local_peers() / "torchrl_pilco.py"), {}
    for points in POINTS:  # 4 policy steps each, the first (warm-up) left out of the median
        result = run_peer(
            "torchrl", script, ["step-cost", str(points), "4"], 3600, out / f"peers/torchrl-{points}.json"
        )
        timed = [r for r in result["rows"] if "policy_step" in r][1:]
        if result["error"] or not timed:
            theirs = {"error": result["error"] or "no policy step logged"}
            break
        theirs[points] = {key: float(np.median([r[key] for r in timed])) for key in ("wall_s", "cpu_s")}
        theirs[points]["peak_mb"] = max(r.get("peak_mb", 0.0) for r in result["rows"])
    balance = run_peer("torchrl", script, ["balance", "0"], 7200, out / "peers/torchrl-balance.json")
    evals = [r for r in balance["rows"] if "eval_steps" in r]
    facts.update(torchrl_policy_step=theirs, torchrl_balance=balance["error"] or evals)
    for points, cost in list(zip(POINTS, ours, strict=True))[1:]:  # the goal is set at 200 and 350 points
        label = f"pilco policy step at {points} points: TorchRL CPU s / reverie CPU s"
        if "error" in theirs:
            checks.append(check(label, None, f">= 10 (not measured: {theirs['error']})", False))
        else:
            ratio = theirs[points]["cpu_s"] / cost["cpu_s"]
            checks.append(check(label, ratio, ">= 10", ratio >= 10))
    if not balance["error"]:  # its step_count reaches 99 in a full 100-step evaluation (shared/peers/README.md)
        done = any(r["eval_steps"] >= r["eval_horizon"] - 1 for r in evals)
        checks.append(check("TorchRL PILCO balances (an evaluation of 99+ of 100 steps)", float(done), "report", True))
    return checks, facts


def reached_goal(returns: list[float]) -> list[bool]:
    """Per mountain-car episode, whether the car reached the goal: the +100 paid there outweighs the most a 999-step
    episode pays for its actions (0.1 a^2 <= 0.1 per step), so return > 0 exactly when it did."""
    return [r > 0 for r in returns]


def mountain_car(out: Path, seeds, trials: int, target: int) -> tuple[list, dict]:
    """PILCO on Gymnasium's MountainCarContinuous-v0 (its own 999-step episodes; trial 1 random): per seed the first
    trial that reaches the goal, the share of later trials that do, and the real steps until the first."""
    runs = _runs(out / "mountain-car", "pilco", MOUNTAIN_CAR, seeds, trials, MOUNTAIN_CAR_SETS)
    reached = [reached_goal(s["episode_returns"]) for s in runs]
    firsts = [first_success(flags) for flags in reached]
    rate = float(np.mean([f is not None and f <= target for f in firsts]))
    after = [ok for flags, f in zip(reached, firsts, strict=True) if f is not None for ok in flags[f:]]
    steps = [None if f is None else int(sum(s["episode_lengths"][:f])) for f, s in zip(firsts, runs, strict=True)]
    checks = [check(f"pilco mountain car: share of seeds reaching the goal within {target} trials", rate, "1.0",
                     rate == 1.0),
              check("pilco mountain car: share of the trials after the first success that reach the goal",
                     float(np.mean(after)) if after else None, "report", True)]  # fmt: skip
    facts = {"pilco_mountain_car_first_goal_trial": firsts, "pilco_mountain_car_real_steps_to_goal": steps,
             "pilco_mountain_car_episode_lengths": [s["episode_lengths"] for s in runs]}  # fmt: skip
    return checks, facts


def gps(out: Path, seeds, episodes: int, env_id: str = ARM, name: str = "arm", target: str = ">= 0.9") -> tuple:
    """GPS on a reaching env: the network alone on the 4 training and 4 held-out targets, time per iteration.
    ``target``: the pass mark on both shares ("report": none)."""
    runs = _runs(out / f"gps-{name}", "gps", env_id, seeds, episodes)
    train = float(np.mean([s["eval_success_rate_train"] for s in runs]))
    held = float(np.mean([s["eval_success_rate_heldout"] for s in runs]))
    times = [t for s in seeds for t in iteration_times(_metrics(out / f"gps-{name}" / f"seed_{s}"))]
    checks = [check(f"gps {name}: network alone within the success radius, {what} targets (share of test episodes)",
                     rate, target, target == "report" or rate >= 0.9)
              for what, rate in (("training", train), ("held-out", held))]  # fmt: skip
    facts = {f"gps_{name}_eval_success_rate": [s["eval_success_rate"] for s in runs],
             f"gps_{name}_iterations": [s["gps_iterations"] for s in runs],
             f"gps_{name}_iteration_s_median": round(float(np.median(times)), 3) if times else None,
             f"gps_{name}_peak_memory_mb": max(s.get("peak_memory_mb", 0.0) for s in runs)}  # fmt: skip
    return checks, facts


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """Run the suite; ``runs`` overrides the seed count (5); ``quick``: 1 seed, fewer trials, no PETS or peers."""
    seeds = list(range(runs if runs is not None else (1 if quick else 5)))
    cart_trials, pendulum_trials = (8, 6) if quick else (15, 10)
    out = Path(out or "bench-results/pilco-gps") / "runs"  # run directories and peer results; not committed
    with RunProgress("pilco-gps", 4, "experiments", enabled=show) as progress:
        beside = "" if quick else ", PETS, SAC"
        progress.show(f"PILCO cart-pole swing-up, {len(seeds)} seeds x {cart_trials} trials{beside}")
        checks, cart_curve, facts = swingup(out, "cart-pole", CARTPOLE, seeds, cart_trials, 15, peers=not quick)
        progress.advance(1)
        progress.show(f"PILCO pendulum swing-up, {min(3, len(seeds))} seeds x {pendulum_trials} trials{beside}")
        more, pendulum_curve, more_facts = swingup(
            out, "pendulum", PENDULUM, seeds[:3], pendulum_trials, 10, peers=not quick, sets=NO_RESTART
        )
        checks, facts = checks + more, {**facts, **more_facts}
        progress.advance(1)
        progress.show(
            f"PILCO mountain car, {min(3, len(seeds))} seeds; policy-step cost at 100 / 200 / 350 GP points; "
            "InvertedPendulum-v5" + ("" if quick else " beside TorchRL")
        )
        more, more_facts = mountain_car(out, seeds[:3], 5 if quick else 8, 5)
        checks, facts = checks + more, {**facts, **more_facts}
        facts["pilco_cartpole_policy_step"] = _step_costs(CARTPOLE, 50)
        more, more_facts = inverted(out, seeds[:1] if quick else seeds[:2], 45 if quick else 55, not quick)
        checks, facts = checks + more, {**facts, **more_facts}
        progress.advance(1)
        progress.show(f"GPS on the two-link arm, {len(seeds)} seeds")
        more, more_facts = gps(out, seeds, 8 * 4 * 5 if quick else GPS_EPISODES)
        checks, facts = checks + more, {**facts, **more_facts}
        progress.show(f"GPS on Reacher-v5 with targets, {min(3, len(seeds))} seeds")  # no mark: shares reported
        more, more_facts = gps(out, seeds[:3], 8 * 4 * 5 if quick else GPS_EPISODES, REACHER, "reacher", "report")
        checks, facts = checks + more, {**facts, **more_facts}
        progress.advance(1)
    facts["peak_memory_mb_suite_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    facts.update({"seeds": len(seeds), "cart_trials": cart_trials, "pendulum_trials": pendulum_trials})
    curves = {"pilco_cartpole": cart_curve, "pilco_pendulum": pendulum_curve}
    return {"suite": "pilco-gps", "runs": {"seeds": len(seeds)}, "checks": checks, "curves": curves, "timing": facts}
