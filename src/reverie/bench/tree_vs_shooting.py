"""Part ``tree-vs-shooting`` of ``reverie bench planning-networks``: reversible planning (a tree search that tries
an action in the model, returns to the parent and tries the next) against the shooting planners, all planning
through the same learned ensemble, and against model-free DQN (Stable-Baselines3) on the same tasks.

Every planner is PETS (``reverie train pets``) with its ensemble, its 200 random warm-up steps and its training
once per episode; only ``planner`` differs. Each PETS episode acts by planning, so its return is the policy's score
(no separate evaluation); a task counts as reached at the real step that ends the first episode whose return meets
the task's threshold (Gymnasium's ``reward_threshold``: 475 for CartPole-v1, -100 for Acrobot-v1). DQN runs at
rl-baselines3-zoo's tuned settings for each task and is scored by 5 deterministic evaluation episodes every
``DQN_EVAL_EVERY`` steps; it reaches the threshold at the first evaluation that meets it.

Acrobot pays -1 on every step until the tip swings above the bar, so a search 6 steps deep sees equal returns
everywhere until it is near the goal: the tree scores its leaves by a value learned by TD(0) on the real data
(``leaf_value=td``, ``learners/state_value.py``), which the shooting planners do not have.

Runs live under ``out/tree-vs-shooting/<env>/<planner>/seed_<n>`` (and the DQN peer's cached output beside them):
a finished run is read back, an interrupted one resumed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from reverie.bench.checks import check
from reverie.bench.peers import local_peers, run_peer
from reverie.bench.stats import mean_band
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_seeds

DQN_EVAL_EVERY = 5000


class Task(NamedTuple):
    env_id: str
    steps: int  # real steps per PETS run (the 200 random warm-up steps included)
    threshold: float  # Gymnasium's reward_threshold
    seeds: int  # PETS seeds per planner
    planners: dict  # name -> PETS --set overrides
    dqn_steps: int  # rl-baselines3-zoo's n_timesteps for the task
    dqn_set: tuple  # rl-baselines3-zoo's tuned DQN hyperparameters (hyperparams/dqn.yml)


# rl-baselines3-zoo's DQN settings for CartPole-v1 and Acrobot-v1 (the same in its dqn.yml)
_ZOO_DQN = ("learning_rate=0.00025", "batch_size=512", "buffer_size=100000", "learning_starts=0", "gamma=0.99",
            "target_update_interval=5000", "train_freq=16", "gradient_steps=4", "exploration_fraction=0.06",
            "exploration_final_eps=0.11")  # fmt: skip
# tree: exhaustive b-best search 10 steps deep (2^10 leaves) on CartPole; the shooting planners at PETS's settings
_SHOOTING = {"cem": {"planner": "cem"}, "random": {"planner": "random"}}
# Acrobot: 3^6 = 729 leaves 6 steps deep, each scored by the learned value at the search's discount
_ACROBOT_TREE = {"planner": "tree", "planner.depth": 6, "planner.discount": 0.99, "leaf_value": "td",
                 "value_updates": 5000}  # fmt: skip
TASKS = {
    "CartPole-v1": Task("CartPole-v1", 2000, 475.0, 3, {"tree": {"planner": "tree"}, **_SHOOTING}, 200_000, _ZOO_DQN),
    "Acrobot-v1": Task("Acrobot-v1", 2000, -100.0, 2, {"tree": _ACROBOT_TREE, **_SHOOTING}, 150_000, _ZOO_DQN),
}


def run_part(out: Path) -> tuple[list[dict], dict, dict]:
    """Train (or read back) every run of the part; returns (checks, curves, facts)."""
    checks, curves, facts = [], {}, {}
    for task in TASKS.values():
        folder = out / "tree-vs-shooting" / task.env_id
        found, series = {}, {}
        for planner, overrides in task.planners.items():
            spec = RunSpec("pets", task.env_id, steps=task.steps, overrides=dict(overrides), out=folder / planner,
                           checkpoint_every=1)  # fmt: skip
            summaries = start_seeds(spec, list(range(task.seeds)), 2, show=False, reuse=True)
            metrics = [_planner_metrics(folder / planner / f"seed_{seed}") for seed in range(task.seeds)]
            found[planner] = _pets_facts(task, summaries, metrics)
            series[f"PETS, {planner}"] = _episode_curve(summaries, task.steps)
        found["dqn (SB3)"], dqn_curve = _dqn(task, folder)
        if dqn_curve is not None:
            series["DQN (SB3), deterministic evaluation"] = dqn_curve
        facts[task.env_id] = found
        checks += _checks(task, found)
        curves[f"tree-vs-shooting-{task.env_id}"] = _curve(task, series)
    return checks, curves, facts


def _planner_metrics(run_dir: Path) -> dict:
    """Means over the planning episodes of the run's ``planner/*`` metrics."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    keys = ("planner/seconds_per_step", "planner/model_evals_per_s", "planner/nodes_per_s", "planner/depth")
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys if any(k in r for r in rows)}


def steps_to_threshold(returns, lengths, threshold: float) -> int | None:
    """The real step that ends the first episode with return >= ``threshold`` (None if none does)."""
    ends = np.cumsum(lengths)
    hits = [i for i, r in enumerate(returns) if r >= threshold]
    return int(ends[hits[0]]) if hits else None


def _pets_facts(task: Task, summaries: list[dict], metrics: list[dict]) -> dict:
    reached = [steps_to_threshold(s["episode_returns"], s["episode_lengths"], task.threshold) for s in summaries]
    last = [float(np.mean(s["episode_returns"][-3:])) for s in summaries]
    seconds = [m.get("planner/seconds_per_step", float("nan")) for m in metrics]
    return {
        "mean return of the last 3 episodes, per seed": [round(x, 1) for x in last],
        "real steps to threshold, per seed": reached,
        "planner seconds per step, per seed": [round(x, 4) for x in seconds],
        "model evaluations per second, per seed": [round(m.get("planner/model_evals_per_s", 0.0)) for m in metrics],
        "nodes expanded per second (tree)": [round(m["planner/nodes_per_s"]) for m in metrics
                                             if "planner/nodes_per_s" in m],
        "wall s per seed": [round(s["wall_s"], 1) for s in summaries],
    }  # fmt: skip


def _dqn(task: Task, folder: Path) -> tuple[dict, dict | None]:
    """SB3 DQN at the zoo's settings, one run per seed (cached beside the PETS runs); facts and its eval curve."""
    rows_per_seed, errors = [], []
    for seed in range(task.seeds):
        args = ["dqn", task.env_id, str(task.dqn_steps), str(seed), "--eval-every", str(DQN_EVAL_EVERY),
                "--eval-episodes", "5"] + [a for item in task.dqn_set for a in ("--set", item)]  # fmt: skip
        result = run_peer("sb3", str(local_peers() / "sb3_offpolicy.py"), args, 3 * 3600, folder / f"dqn-{seed}.json")
        if result["error"] is not None:
            errors.append(result["error"])
            continue
        rows_per_seed.append([r for r in result["rows"] if "eval_return" in r])
    if not rows_per_seed:
        return {"not measured": errors[0] if errors else "no runs"}, None
    reached = []
    for rows in rows_per_seed:
        hits = [r["env_steps"] for r in rows if r["eval_return"] >= task.threshold]
        reached.append(hits[0] if hits else None)
    finals = [rows[-1]["eval_return"] for rows in rows_per_seed]
    steps = [r["env_steps"] for r in rows_per_seed[0]]
    values = np.array([[r["eval_return"] for r in rows][: len(steps)] for rows in rows_per_seed], float)
    facts = {"final eval return, per seed": [round(x, 1) for x in finals],
             "real steps to threshold, per seed": reached, "steps": task.dqn_steps,
             "settings": "rl-baselines3-zoo hyperparams/dqn.yml", "errors": errors}  # fmt: skip
    return facts, {"x": steps, **mean_band(values)}


def _episode_curve(summaries: list[dict], steps: int) -> dict:
    """Each seed's episode return at the real steps 100, 200, ..., ``steps`` (the episode running at that step)."""
    grid = np.arange(100, steps + 1, 100)
    values = []
    for s in summaries:
        ends = np.cumsum(s["episode_lengths"])
        index = np.minimum(np.searchsorted(ends, grid), len(ends) - 1)
        values.append(np.asarray(s["episode_returns"], float)[index])
    return {"x": grid.tolist(), **mean_band(np.array(values))}


def _curve(task: Task, series: dict) -> dict:
    pets_x = next(iter(series.values()))["x"]
    return {"title": f"{task.env_id}: tree vs shooting (one learned ensemble) and DQN",
            "xlabel": "real env steps", "ylabel": "episode return", "logx": True, "x": pets_x,
            "series": series}  # fmt: skip


def _checks(task: Task, found: dict) -> list[dict]:
    """Reported comparisons: each planner reaches the threshold on every seed, and tree vs the shooting planners
    and DQN in real steps to it (a planner that never reaches it counts as its budget)."""

    def median_steps(reached, budget):
        return float(np.median([budget if r is None else r for r in reached]))

    tree = found["tree"]["real steps to threshold, per seed"]
    tree_reached = all(r is not None for r in tree)
    checks = [check(f"{task.env_id}: tree search reaches {task.threshold:g} on every seed (real steps {tree})",
                    sum(r is not None for r in tree), f"== {len(tree)}", tree_reached)]  # fmt: skip
    # "fewer steps than" holds only where the tree got there at all (two unreached budgets are not a win)
    tree_median = median_steps(tree, task.steps)
    for other in ("cem", "random"):
        theirs = median_steps(found[other]["real steps to threshold, per seed"], task.steps)
        checks.append(check(f"{task.env_id}: median real steps to {task.threshold:g}, tree minus {other} "
                            f"(tree {tree_median:.0f}, {other} {theirs:.0f}; unreached = budget {task.steps})",
                            tree_median - theirs, "<= 0 with the tree reaching it",
                            tree_reached and tree_median <= theirs))  # fmt: skip
    dqn = found["dqn (SB3)"].get("real steps to threshold, per seed")
    if dqn:
        theirs = median_steps(dqn, task.dqn_steps)
        checks.append(check(f"{task.env_id}: real steps to {task.threshold:g}, DQN over tree (medians; DQN "
                            f"{theirs:.0f}, unreached = its budget)", theirs / tree_median,
                            "> 1 with the tree reaching it", tree_reached and theirs > tree_median))  # fmt: skip
    return checks
