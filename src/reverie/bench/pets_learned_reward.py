"""The pets suite's known-vs-learned reward section (``learned_reward``), and suite ``pets-learned-reward``, which
runs only that section, for a look at it without the rest of the suite. Runs are shared with ``reverie bench pets``
when ``--out`` is the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reverie.bench.checks import check
from reverie.bench.pets_runs import CARTPOLE, FAST, PENDULUM, pets_runs
from reverie.runner.progress import RunProgress

# Known vs learned reward and termination (``reward=learned``): same seeds, same settings; the score is the mean return
# over each env's last episodes, once the learned reward has seen the goal (the point mass's random data never reach
# x = 1, so its learned reward needs a few planned trials of exploration first: docs/algorithms/pets.md). The point
# mass, not otherwise in this suite, runs tests/test_pets.py's small PETS.
POINT_MASS = "reverie/PointMass-v0"
POINT_MASS_SETS = {**FAST, "hidden_size": "64", "num_layers": "2", "planner.population_size": "100",
                   "random_steps": "60", "epochs": "30"}  # fmt: skip


def _learned_reward_envs(quick: bool, trials: int) -> dict:
    """env: (settings, budget, first scored episode, 0-based; "trials": the cart-pole's planned trials 4+, as its
    check). --quick: Pendulum-v1 runs 4 of its 10 episodes, scored on episodes 3-4 (CPU time)."""
    return {  # cheapest first
        POINT_MASS: (POINT_MASS_SETS, {"episodes": 10}, 7),
        CARTPOLE: (FAST, {"steps": 200 + 200 * trials}, "trials"),  # the runs of cartpole(), reused as "known"
        PENDULUM: ({**FAST, "planner.planning_horizon": "30"}, {"steps": 800 if quick else 2000}, 2 if quick else 5),
    }


def _score_ratio(learned: float, known: float) -> float:
    """learned / known for positive returns, known / learned for costs (negative returns): 1 = as good, < 1 worse."""
    return learned / known if known > 0 else known / learned


def learned_reward(out: Path, seeds, trials: int, quick: bool) -> tuple[list, dict]:
    """PETS with the known reward and termination against ``reward=learned`` on three envs (the same seeds)."""
    checks, facts = [], {}
    for env_id, (sets, budget, first) in _learned_reward_envs(quick, trials).items():
        name = env_id.split("/")[-1]
        scores = {}
        for mode in ("known", "learned"):
            reused = {CARTPOLE: "cartpole", PENDULUM: None if quick else "pendulum"}.get(env_id)
            folder = reused if mode == "known" else None
            runs = pets_runs(out / (folder or f"learned-reward/{name}-{mode}"), env_id, seeds,
                              {**sets, "reward": mode}, **budget)  # fmt: skip
            if first == "trials":  # cart-pole: the planned trials from the 4th on, as the suite's cart-pole check
                per_run = [np.mean([t["env/episode_return"] for t in r["trials"][3:]]) for r in runs]
            else:
                per_run = [np.mean(r["summary"]["episode_returns"][first:]) for r in runs]
            scores[mode] = float(np.mean(per_run))
            facts[f"{name}_{mode}_per_seed"] = np.round(per_run, 2).tolist()
        ratio = _score_ratio(scores["learned"], scores["known"])
        facts[f"{name}_known_learned_return"] = [round(scores["known"], 2), round(scores["learned"], 2)]
        checks.append(check(f"learned reward: {name} learned / known return", ratio, ">= 0.9", ratio >= 0.9))
    return checks, {"learned_reward": facts}


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """As the pets suite: 1 seed and 5 cart-pole trials with ``quick``, else 3 seeds and 8 trials."""
    seeds = list(range(runs if runs is not None else (1 if quick else 3)))
    trials = 5 if quick else 8
    out = Path(out or "bench-results/pets-learned-reward") / "runs"
    with RunProgress("pets-learned-reward", 1, "sections", enabled=show) as progress:
        progress.show(f"known vs learned reward, {len(seeds)} seeds x 3 envs")
        checks, facts = learned_reward(out, seeds, trials, quick)
        progress.advance(1)
    facts.update({"seeds": len(seeds), "trials": trials})
    return {
        "suite": "pets-learned-reward",
        "runs": {"seeds": len(seeds)},
        "checks": checks,
        "curves": {},
        "timing": facts,
    }
