"""Suite ``pilco_gps``: the two trajectory-centric, uncertainty-aware methods of the curriculum on their papers' tasks.

- PILCO (Deisenroth & Rasmussen 2011) on its cart-pole swing-up: trials (of 4 s, the random one counted) until the
  pole is up and held for the last second, per seed; the paper needs ~17.5 s of interaction (~4-5 trials after the
  random one), our target is <= 15 trials; the pendulum swing-up within 10 trials.
- The cost of PILCO's policy gradient: one 40-step analytic rollout + backward at 100 / 200 / 350 GP points
  (cart-pole sizes: 4 outputs, 6 inputs, 50 RBF centres), and its peak memory, each in a fresh process.
- GPS (guided policy search) on the two-link arm: the evaluation success rate its runs report.
"""

from __future__ import annotations

import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from reverie.bench.stats import mean_band
from reverie.envs.pilco_costs import pilco_task
from reverie.errors import UserError
from reverie.models.controllers import RBFController
from reverie.models.gp import GPModel
from reverie.planners.moment_rollout import RolloutSpec, rollout
from reverie.runner.progress import RunProgress
from reverie.runner.train import start_seeds

CARTPOLE, PENDULUM, ARM = "reverie/PilcoCartPole-v0", "reverie/PendulumSwingUp-v0", "reverie/TwoLinkArm-v0"
SECONDS_PER_TRIAL = 4.0  # 40 steps of 0.1 s


def _check(name, value, target, passed) -> dict:
    value = float("nan") if value is None else float(value)
    return {"name": name, "value": round(value, 4), "target": target, "passed": bool(passed)}


def _first_success(summary: dict):
    """1-based trial (the random one counted) of the first success, or None."""
    flags = summary.get("episode_success") or []
    return next((i + 1 for i, ok in enumerate(flags) if ok), None)


def policy_step_cost(points: int, repeats: int = 3) -> dict:
    """Seconds of one 40-step rollout + backward at ``points`` GP points, and this process's peak memory (MB).

    Run it in a fresh process: ru_maxrss is a high-water mark. Random data and hyperparameters of the right scale:
    the cost depends on the sizes only.
    """
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    gp = GPModel(6, 4, max_points=points, iterations=5)
    gp.fit(rng.normal(size=(points, 6)), 0.1 * rng.normal(size=(points, 4)))
    task = pilco_task(CARTPOLE)
    one = torch.ones(1, dtype=torch.float64)
    spec = RolloutSpec([2], -one, one, torch.as_tensor(task.z_target()), torch.as_tensor(task.Q) / task.width**2)
    eye = torch.eye(5, dtype=torch.float64)
    ctrl = RBFController(5, 1, 50, torch.zeros(5, dtype=torch.float64), 0.1 * eye, torch.Generator().manual_seed(0))
    m0, S0 = torch.zeros(4, dtype=torch.float64), 0.01 * torch.eye(4, dtype=torch.float64)
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        ctrl.zero_grad()
        rollout(m0, S0, ctrl, gp, spec, 40)[0].sum().backward()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"points": points, "wall_s": round(min(wall), 4), "cpu_s": round(min(cpu), 4), "peak_mb": round(peak, 1)}


def _pilco_runs(out: Path, env_id: str, seeds, episodes: int) -> list[dict]:
    return start_seeds(
        seeds, 2, out, show=False, reuse=True, algo="pilco", env_id=env_id, episodes=episodes,
        steps=None, overrides={}, env_kwargs={}, checkpoint_every=1,
    )  # fmt: skip


def pilco(out: Path, seeds, cart_trials: int, pendulum_seeds, pendulum_trials: int = 10) -> tuple[list, dict, dict]:
    """PILCO's swing-ups: per seed, the first trial that ends up and held; targets <= 15 and <= 10 trials."""
    checks, curves, facts = [], {}, {}
    for name, env_id, chosen, trials, target in (
        ("cart-pole", CARTPOLE, seeds, cart_trials, 15),
        ("pendulum", PENDULUM, pendulum_seeds, pendulum_trials, 10),
    ):
        summaries = _pilco_runs(out / name, env_id, chosen, trials)
        firsts = [_first_success(s) for s in summaries]
        rate = float(np.mean([f is not None and f <= target for f in firsts]))
        checks.append(_check(f"pilco {name}: share of seeds up and held within {target} trials", rate, "1.0",
                             rate == 1.0))  # fmt: skip
        facts[f"pilco_{name}_first_success_trial"] = firsts
        facts[f"pilco_{name}_interaction_s"] = [None if f is None else f * SECONDS_PER_TRIAL for f in firsts]
        facts[f"pilco_{name}_wall_s"] = [s["wall_s"] for s in summaries]
        returns = np.array([s["episode_returns"][:trials] for s in summaries])
        curves[f"pilco_{name}"] = {
            "title": f"PILCO {env_id}: return per trial ({len(chosen)} seeds; trial 1 random)",
            "xlabel": "trial (4 s)", "ylabel": "return (minus the saturating cost)",
            "x": list(range(1, returns.shape[1] + 1)), "series": {"reverie PILCO": mean_band(returns)},
        }  # fmt: skip
    return checks, curves, facts


def gps(out: Path, seeds, episodes: int) -> tuple[list, dict]:
    """GPS on the two-link arm through the registry; not measured when this checkout has no GPS."""
    try:
        summaries = start_seeds(
            seeds, 2, out / "gps-arm", show=False, reuse=True, algo="gps", env_id=ARM, episodes=episodes,
            steps=None, overrides={}, env_kwargs={}, checkpoint_every=1,
        )  # fmt: skip
    except UserError as error:
        return [_check("gps two-link arm: evaluation success rate", None, f"report ({error})", False)], {}
    rates = [s.get("eval_success_rate") for s in summaries]
    mean = float(np.mean([r for r in rates if r is not None])) if any(r is not None for r in rates) else None
    return [_check("gps two-link arm: mean evaluation success rate", mean, "report", mean is not None)], {
        "gps_arm_eval_success_rate": rates
    }


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """Run the suite; ``runs`` overrides the seed count (5), ``quick`` is 1 seed, 8 cart-pole trials."""
    seeds = list(range(runs if runs is not None else (1 if quick else 5)))
    cart_trials = 8 if quick else 15
    out = Path(out or "bench-results/pilco_gps") / "runs"
    with RunProgress("pilco_gps", 3, "experiments", enabled=show) as progress:
        progress.show("PILCO policy-gradient cost at 100 / 200 / 350 GP points")
        costs = []
        for points in (100, 200, 350):
            with ProcessPoolExecutor(max_workers=1) as pool:  # a fresh process per size: its own peak memory
                costs.append(pool.submit(policy_step_cost, points).result())
        progress.advance(1)
        progress.show(f"PILCO cart-pole ({len(seeds)} seeds x {cart_trials} trials) and pendulum swing-ups")
        checks, curves, facts = pilco(out, seeds, cart_trials, seeds[:3])
        facts["pilco_policy_step"] = costs
        at_350 = costs[-1]
        checks.append(_check("pilco: rollout + gradient at 350 points (CPU s)", at_350["cpu_s"], "< 1",
                             at_350["cpu_s"] < 1))  # fmt: skip
        checks.append(_check("pilco: peak memory at 350 points (MB)", at_350["peak_mb"], "< 1024",
                             at_350["peak_mb"] < 1024))  # fmt: skip
        progress.advance(1)
        progress.show(f"GPS on the two-link arm, {len(seeds)} seeds")
        # GPS's defaults: 15 iterations x 4 conditions x 5 samples = 300 episodes (quick: 8 iterations)
        gps_checks, gps_facts = gps(out, seeds, 160 if quick else 300)
        checks, facts = checks + gps_checks, {**facts, **gps_facts}
        progress.advance(1)
    facts["seeds"] = len(seeds)
    return {"suite": "pilco_gps", "runs": {"seeds": len(seeds)}, "checks": checks, "curves": curves, "timing": facts}
