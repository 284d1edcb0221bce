"""``reverie bench imagination``: policy optimisation on imagined data beside the model-free learner it builds on.

Each row of the issue-11 table is a group: the model-based algorithm and its model-free peer at the same eval
convention (the deterministic policy, 5 episodes on an env of its own, every ``eval_every`` real steps), seeds
0..n-1, defaults unless the arm says otherwise. Steps to threshold use one rule for every arm
(``stats.steps_to_threshold`` over evaluations: the first eval at which the mean of 3 consecutive evals reaches the
threshold); a run that never gets there counts as its budget plus one eval (so medians and ratios are lower
bounds, and the check says so). Runs live under ``out/runs/<group>/<arm>/seed_<n>``; finished ones are read back
and interrupted ones resumed, so the full form runs in parts: start it again after a stop and it goes on.
"""

from __future__ import annotations

import json
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from reverie.bench.checks import check
from reverie.bench.stats import mean_band, steps_to_threshold
from reverie.runner.progress import RunProgress
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_seeds

EVAL_EPISODES = 5


class Arm(NamedTuple):
    label: str  # as in the table and the legend
    algo: str
    steps: int  # real env steps
    overrides: tuple = ()  # (key, value) pairs, as --set takes them
    eval_every: int | None = None  # real steps between evals, when not the group's


class Group(NamedTuple):
    key: str  # directory and curve name
    env_id: str
    threshold: float
    eval_every: int
    arms: tuple[Arm, ...]
    seeds: int  # in the full form
    logx: bool = False


PENDULUM = "Pendulum-v1"
FULL = (
    Group("mbpo-pendulum", PENDULUM, -200.0, 250, (Arm("MBPO", "mbpo", 3_000), Arm("SAC", "sac", 10_000)), 5),
    Group("mve-pendulum", PENDULUM, -200.0, 1000,
          (Arm("MVE H=3", "mve", 8_000), Arm("TD3 (MVE H=0)", "mve", 10_000, (("horizon", 0),))), 5),
    Group("ma-bddpg-pendulum", PENDULUM, -200.0, 1000, (Arm("MA-BDDPG", "ma-bddpg", 8_000),
                                                        Arm("DDPG", "ddpg", 10_000)), 5),
    Group("naf-pendulum", PENDULUM, -200.0, 1000,
          (Arm("NAF + linear imagination", "naf-imagination", 6_000), Arm("NAF", "naf", 10_000),
           Arm("NAF + network imagination", "naf-imagination", 6_000, (("model", "network"),))), 5),
    Group("me-trpo-pendulum", PENDULUM, -200.0, 1000,
          (Arm("ME-TRPO", "me-trpo", 6_000), Arm("TRPO", "trpo", 150_000)), 5, logx=True),
    Group("mbpo-invertedpendulum", "InvertedPendulum-v5", 1000.0, 250,
          (Arm("MBPO", "mbpo", 2_000, (("sac.target_entropy", -0.05),)), Arm("SAC", "sac", 20_000)), 5),
    # Feinberg et al.'s shapes: H, learned against true dynamics, with and without TD-k (one seed per setting;
    # 4,000 steps, where the horizon matters most, and the figure compares the mean of each run's evals)
    Group("mve-horizon-pendulum", PENDULUM, -200.0, 1000, tuple(
        Arm(f"H={h} {dyn}{'' if tdk else ' no TD-k'}", "mve", 4_000,
            (("horizon", h), ("dynamics", dyn), ("td_k", tdk), ("open_loop_steps", 50)))
        for dyn, tdk, horizons in (("learned", True, (1, 3, 10)), ("oracle", True, (1, 3, 10)),
                                   ("learned", False, (3, 10))) for h in horizons), 1),
    # Janner et al.'s Figure 4 question: MBPO's return against its rollout length k (one seed per k; M = 20,000
    # branches per epoch for every k, so k = 50 costs minutes, not an hour, per epoch on this CPU)
    Group("mbpo-horizon-pendulum", PENDULUM, -200.0, 250, tuple(
        Arm(f"MBPO k={k}", "mbpo", 2_000, (("rollout_min_length", k), ("rollout_max_length", k),
                                            ("rollout_batch_size", 20_000), ("open_loop_steps", 50)))
        for k in (1, 5, 15, 50)), 1),
)  # fmt: skip
PARTS = tuple(g.key for g in FULL)  # --only takes these, so the full form can run in session-sized pieces
# the quick form: one seed of the cheapest informative pairs at short budgets (about 15 minutes on 2 cores)
QUICK = (
    Group("mbpo-pendulum", PENDULUM, -200.0, 250, (Arm("MBPO", "mbpo", 1_500),), 1),
    Group("me-trpo-pendulum", PENDULUM, -200.0, 500,
          (Arm("ME-TRPO", "me-trpo", 2_000), Arm("TRPO", "trpo", 150_000, eval_every=2_000)), 1, logx=True),
)  # fmt: skip
# (group, arm to test, its peer, goal on the ratio of median steps to threshold, the goal's wording)
RATIO_GOALS = (
    ("mve-pendulum", "MVE H=3", "TD3 (MVE H=0)", 0.6, "<= 0.6"),
    ("naf-pendulum", "NAF + linear imagination", "NAF", 0.5, "<= 0.5"),
    ("ma-bddpg-pendulum", "MA-BDDPG", "DDPG", 1.0, "< 1"),
    ("me-trpo-pendulum", "TRPO", "ME-TRPO", 10.0, ">= 10"),
)
# (group, arm, most steps for the median seed)
STEP_GOALS = (("mbpo-pendulum", "MBPO", 1_000), ("me-trpo-pendulum", "ME-TRPO", 6_000),
              ("mbpo-invertedpendulum", "MBPO", 1_500))  # fmt: skip
WALL_GOALS = (("mbpo-invertedpendulum", "MBPO", 300),)  # (group, arm, most wall seconds per seed)


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None, only=None) -> dict:
    """Run the suite (or the groups named in ``only``); ``runs`` overrides each group's seed count. Returns the
    results dict."""
    groups = [g for g in (QUICK if quick else FULL) if only is None or g.key in only]
    out = Path(out or "bench-results/imagination") / "runs"
    measured, curves, facts = {}, {}, {}
    with RunProgress("imagination", sum(len(g.arms) for g in groups), "arms", enabled=show) as progress:
        for group in groups:
            seeds = list(range(runs if runs is not None else group.seeds))
            progress.show(f"{group.key}: {len(group.arms)} arms x {len(seeds)} seeds")
            # one seed per arm leaves a core idle inside start_seeds, so such a group runs two arms at a time
            with ThreadPoolExecutor(max_workers=2 if len(seeds) == 1 else 1) as pool:
                futures = {arm.label: pool.submit(_arm, out / group.key, group, arm, seeds) for arm in group.arms}
                for label, future in futures.items():
                    measured[(group.key, label)] = future.result()
                    progress.advance(1)
            curves[group.key] = _curve(group, measured)
    curves.update(_horizon_curves(groups, measured))
    curves.update(_all_on_one_axis(groups, measured, PENDULUM, most_steps=20_000))
    sac = measured.get(("mbpo-pendulum", "SAC"))
    for (key, label), m in measured.items():
        facts[f"{key} {label}"] = {k: m[k] for k in ("steps to threshold", "reached", "final eval", "wall s")}
        median = statistics.median(m["steps to threshold"])
        facts[f"{key} {label}"]["median steps to threshold"] = median
        if sac is not None and key in PENDULUM_GROUPS:  # the steps-to-threshold table's ratio column
            facts[f"{key} {label}"]["median steps / SAC's"] = round(median / statistics.median(
                sac["steps to threshold"]), 3)  # fmt: skip
    runs_record = {"groups": [[g.key, g.env_id, g.threshold, [a.label for a in g.arms]] for g in groups],
                   "eval_episodes": EVAL_EPISODES, "quick": quick}  # fmt: skip
    return {"suite": "imagination", "runs": runs_record, "checks": _checks(measured), "curves": curves,
            "timing": facts}  # fmt: skip


def _arm(folder: Path, group: Group, arm: Arm, seeds: list[int]) -> dict:
    """Train (or read back) one arm's seeds; its evaluations [seeds, evals] and per-seed steps to threshold."""
    every = arm.eval_every or group.eval_every
    spec = RunSpec(arm.algo, group.env_id, steps=arm.steps, overrides=dict(arm.overrides), eval_every=every,
                   eval_episodes=EVAL_EPISODES, out=folder / _slug(arm.label), checkpoint_every=1)  # fmt: skip
    workers = min(2, len(seeds))  # the machine's two cores, one torch thread per run
    summaries = start_seeds(spec, seeds, workers, show=False, reuse=True)
    evals = [np.asarray(s["eval_returns"], float) for s in summaries]
    grids = [np.asarray(s["eval_env_steps"], int) for s in summaries]
    never = arm.steps + every  # a run that never reaches the threshold: a lower bound
    reached = [steps_to_threshold(e, g, group.threshold) for e, g in zip(evals, grids, strict=True)]
    return {
        "evals": evals,
        "grid": grids[0],
        "steps to threshold": [never if r is None else r for r in reached],
        "reached": [r is not None for r in reached],
        "all reached": all(r is not None for r in reached),
        "final eval": [round(float(e[-1]), 1) for e in evals],
        "wall s": [round(float(s["wall_s"]), 1) for s in summaries],
        "open loop errors": [_last_open_loop_errors(spec.out / f"seed_{seed}") for seed in seeds],
    }


def _last_open_loop_errors(run_dir: Path) -> list[float]:
    """The model's error against the horizon at the run's last fit (``model/open_loop_errors``; [] if none)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return next((r["model/open_loop_errors"] for r in reversed(rows) if r.get("model/open_loop_errors")), [])


def _checks(measured: dict) -> list[dict]:
    checks = []
    for key, label, most in STEP_GOALS:
        if (key, label) in measured:
            m = measured[(key, label)]
            median = statistics.median(m["steps to threshold"])
            bound = "" if m["all reached"] else " (a seed never reached it: lower bound)"
            # the median proves the goal only if the seeds up to its upper middle really reached the threshold (a
            # lower bound there could be larger in truth, and move the median up)
            ordered = sorted(zip(m["steps to threshold"], m["reached"], strict=True))
            sound = all(r for _, r in ordered[: len(ordered) // 2 + 1])
            checks.append(check(f"{key}: {label} median steps to threshold{bound}", median, f"<= {most}",
                                median <= most and sound))  # fmt: skip
    for key, label, peer, goal, wording in RATIO_GOALS:
        if (key, label) in measured and (key, peer) in measured:
            ours, theirs = measured[(key, label)], measured[(key, peer)]
            ratio = statistics.median(ours["steps to threshold"]) / statistics.median(theirs["steps to threshold"])
            at_least = wording.startswith(">")
            # a never-reached run is a lower bound: it can only make an "at least" ratio's numerator, or an "at
            # most" ratio's denominator, too small, so only then does the bound still decide the check
            sound = theirs["all reached"] if at_least else ours["all reached"]
            passed = ratio >= goal if at_least else (ratio < goal if wording == "< 1" else ratio <= goal)
            exact = ours["all reached"] and theirs["all reached"]
            name = f"{key}: median steps to threshold, {label} / {peer}" + ("" if exact else " (from lower bounds)")
            checks.append(check(name, ratio, wording, passed and sound))
    for key, label, most in WALL_GOALS:
        if (key, label) in measured:
            slowest = max(measured[(key, label)]["wall s"])
            checks.append(check(f"{key}: {label} wall seconds of the slowest seed", slowest, f"<= {most}",
                                slowest <= most))  # fmt: skip
    return checks


def _curve(group: Group, measured: dict) -> dict:
    arms = [measured[(group.key, a.label)] for a in group.arms]
    x = np.unique(np.concatenate([m["grid"] for m in arms]))  # every arm's eval steps (their grids may differ)
    series = {}
    for arm, m in zip(group.arms, arms, strict=True):
        # straight lines between an arm's own evals; NaN past its budget, so a shorter arm's curve ends there
        inside = (x >= m["grid"][0]) & (x <= m["grid"][-1])
        rows = [np.where(inside, np.interp(x, m["grid"], e), np.nan) for e in m["evals"]]
        series[arm.label] = mean_band(np.array(rows))
    return {"title": f"{group.key}: deterministic-policy eval return", "xlabel": "real env steps",
            "ylabel": f"mean return of {EVAL_EPISODES} eval episodes", "x": x.tolist(), "series": series,
            "logx": group.logx}  # fmt: skip


HORIZON_GROUPS = ("mbpo-horizon-pendulum", "mve-horizon-pendulum")


def _horizon_curves(groups, measured: dict) -> dict:
    """The horizon claim in two panels: sample efficiency (the mean of all evals of a run, so faster learning
    scores higher) against the rollout length k or expansion horizon H, and the learned models' error against the
    open-loop horizon, from the last fit of each learned-model run of the horizon groups."""
    arms = [(g, a) for g in groups if g.key in HORIZON_GROUPS for a in g.arms]
    if not arms:
        return {}
    families: dict[str, dict[int, list]] = {}
    errors: dict[str, list] = {}
    for group, arm in arms:
        m, settings = measured[(group.key, arm.label)], dict(arm.overrides)
        length = settings.get("horizon", settings.get("rollout_max_length"))
        families.setdefault(_family(arm.label), {})[length] = [float(np.mean(e)) for e in m["evals"]]
        if m["open loop errors"][0] and "no TD-k" not in arm.label:
            errors[arm.label] = m["open loop errors"][0]
    lengths = sorted({k for f in families.values() for k in f})
    series = {}
    for name, points in families.items():
        ks = sorted(points)
        per_seed = np.array([[points[k][seed] for k in ks] for seed in range(min(len(p) for p in points.values()))])
        inside = (np.array(lengths) >= ks[0]) & (np.array(lengths) <= ks[-1])
        series[name] = mean_band(np.array([np.where(inside, np.interp(lengths, ks, row), np.nan) for row in per_seed]))
    curves = {"horizon-return": {"title": "return against horizon (Pendulum-v1)",
                                 "xlabel": "rollout length k (MBPO) / expansion horizon H (MVE)",
                                 "ylabel": "mean of the run's eval returns", "x": lengths, "series": series,
                                 "logx": True}}  # fmt: skip
    if errors:
        longest = max(len(e) for e in errors.values())
        padded = {k: mean_band(np.array([e + [np.nan] * (longest - len(e))])) for k, e in errors.items()}
        curves["horizon-model-error"] = {"title": "learned model's open-loop error against horizon (last fit)",
                                         "xlabel": "open-loop steps", "ylabel": "MSE of the predicted state",
                                         "x": list(range(1, longest + 1)), "series": padded, "logy": True,
                                         "logx": True}  # fmt: skip
    return curves


def _family(label: str) -> str:
    """'MBPO k=5' -> 'MBPO'; 'H=3 oracle no TD-k' -> 'MVE oracle no TD-k'."""
    if label.startswith("MBPO"):
        return "MBPO"
    return "MVE " + label.split(" ", 1)[1]


PENDULUM_GROUPS = ("mbpo-pendulum", "mve-pendulum", "ma-bddpg-pendulum", "naf-pendulum", "me-trpo-pendulum")


def _all_on_one_axis(groups, measured: dict, env_id: str, most_steps: int) -> dict:
    """Every arm of the Pendulum groups on one axis (mean over seeds), cut at ``most_steps`` real steps."""
    chosen = [g for g in groups if g.key in PENDULUM_GROUPS and g.env_id == env_id]
    if not chosen:
        return {}
    everything = Group("all", env_id, chosen[0].threshold, 0, tuple(a for g in chosen for a in g.arms), 0)
    merged = {("all", a.label): measured[(g.key, a.label)] for g in chosen for a in g.arms}
    curve = _curve(everything, merged)
    keep = [i for i, x in enumerate(curve["x"]) if x <= most_steps]
    curve["x"] = [curve["x"][i] for i in keep]
    curve["series"] = {label: {part: [v[i] for i in keep] for part, v in band.items()}
                       for label, band in curve["series"].items()}  # fmt: skip
    curve["title"] = f"{env_id}: every algorithm of the suite (mean over seeds)"
    return {"pendulum-all": curve}


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-").replace("--", "-")
