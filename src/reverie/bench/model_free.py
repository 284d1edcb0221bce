"""``reverie bench model-free``: reverie's SAC, TD3, DDPG and TRPO beside Stable-Baselines3 / sb3-contrib 2.9.

Each pair runs at the same env steps, seeds and hyperparameters (reverie's defaults are SB3's; TD3 and DDPG add the
paper's N(0, 0.1) exploration noise, passed to SB3 as ``--action-noise 0.1``), evaluated the same way (the
deterministic policy, 5 episodes on an env of its own, every 1,000 steps), one process at a time with one thread, so
the wall time per gradient update compares on one quiet machine. Checks, per algorithm and task: reverie's final
eval return within SB3's 95% band or better (its mean at least SB3's band's low end), and the median over seeds of
reverie's seconds per gradient update (TRPO: per policy update) over SB3's at most 1. The SB3 side runs
``benchmarks/peers/sb3_offpolicy.py`` (its ``trpo`` is sb3-contrib's) in the ``sb3`` peer venv (not installed:
reported as not measured). Finished runs and peer results are reused, so an interrupted suite resumes.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np

from reverie.bench.checks import check
from reverie.bench.peers import local_peers, run_peer
from reverie.bench.stats import mean_band
from reverie.runner.progress import RunProgress
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_seeds

EVAL_EVERY, EVAL_EPISODES = 1000, 5
NOISE = {"td3": ["--action-noise", "0.1"], "ddpg": ["--action-noise", "0.1"], "sac": [], "trpo": []}
# (algo, env id, env steps): the full form; the quick form is SAC on Pendulum-v1 alone, 2 seeds
FULL = [("sac", "Pendulum-v1", 10_000), ("td3", "Pendulum-v1", 10_000), ("ddpg", "Pendulum-v1", 10_000),
        ("sac", "InvertedPendulum-v5", 20_000), ("td3", "InvertedPendulum-v5", 20_000),
        ("ddpg", "InvertedPendulum-v5", 20_000), ("trpo", "Pendulum-v1", 200_000),
        ("trpo", "InvertedPendulum-v5", 100_000)]  # fmt: skip
QUICK = [("sac", "Pendulum-v1", 5_000)]


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """Run the suite; ``runs`` overrides the seed count (5; 2 with ``quick``)."""
    seeds = list(range(runs if runs is not None else (2 if quick else 5)))
    tasks = QUICK if quick else FULL
    out = Path(out or "bench-results/model-free") / "runs"
    checks, curves, timing = [], {}, {}
    with RunProgress("model-free", len(tasks), "tasks", enabled=show) as progress:
        for algo, env_id, steps in tasks:
            progress.show(f"{algo} on {env_id}: {len(seeds)} seeds x {steps:,} steps, reverie then SB3")
            more, curve, facts = _pair(out, algo, env_id, steps, seeds)
            checks += more
            curves[f"{algo}-{env_id}"] = curve
            timing[f"{algo} {env_id}"] = facts
            progress.advance(1)
    runs_record = {"seeds": seeds, "tasks": [list(t) for t in tasks], "eval_every": EVAL_EVERY,
                   "eval_episodes": EVAL_EPISODES}  # fmt: skip
    return {"suite": "model-free", "runs": runs_record, "checks": checks, "curves": curves, "timing": timing}


def _pair(out: Path, algo: str, env_id: str, steps: int, seeds: list[int]) -> tuple[list, dict, dict]:
    folder = out / f"{algo}-{env_id.replace('/', '_')}"
    spec = RunSpec(algo, env_id, steps=steps, out=folder / "reverie", eval_every=EVAL_EVERY,
                   eval_episodes=EVAL_EPISODES, checkpoint_every=1)  # fmt: skip
    summaries = start_seeds(spec, seeds, 1, show=False, reuse=True)  # one at a time: the update times compare
    ours = np.array([s["eval_returns"] for s in summaries], float)  # [seeds, evaluations]
    our_update_s = [_update_ms(folder / "reverie" / f"seed_{s}") / 1e3 for s in seeds]
    theirs, their_update_s, error = [], [], None
    for seed in seeds:
        args = [
            algo,
            env_id,
            str(steps),
            str(seed),
            "--eval-every",
            str(EVAL_EVERY),
            "--eval-episodes",
            str(EVAL_EPISODES),
            *NOISE[algo],
        ]
        peer = run_peer("sb3", str(local_peers() / "sb3_offpolicy.py"), args, 4 * 3600, folder / f"sb3-{seed}.json")
        error = error or peer["error"]
        evals = [r["eval_return"] for r in peer["rows"] if "eval_return" in r]
        final = [r for r in peer["rows"] if r.get("final")]
        if peer["error"] is None and evals and final:
            theirs.append(evals)
            their_update_s.append(final[0]["per_update_s"])
    x = [EVAL_EVERY * (i + 1) for i in range(ours.shape[1])]
    series = {f"reverie {algo}": mean_band(ours)}
    name = f"{algo} {env_id} ({len(seeds)} seeds, {steps:,} steps)"
    facts = {"reverie final eval per seed": ours[:, -1].round(1).tolist(),
             "reverie s per update per seed": [round(s, 5) for s in our_update_s]}  # fmt: skip
    if not theirs:
        checks = [check(f"{name}: reverie final eval >= SB3 band low", None, f"SB3 not measured: {error}", False)]
        return checks, _curve(algo, env_id, x, series), facts
    theirs_arr = np.array([t[: ours.shape[1]] for t in theirs], float)
    series[f"SB3 {algo}"] = mean_band(theirs_arr)
    band = mean_band(theirs_arr[:, -1:])
    our_final = float(ours[:, -1].mean())
    ratio = statistics.median(o / t for o, t in zip(our_update_s, their_update_s, strict=False))
    facts.update({"SB3 final eval per seed": theirs_arr[:, -1].round(1).tolist(),
                  "SB3 s per update per seed": [round(s, 5) for s in their_update_s],
                  "SB3 final 95% band": [band["low"][0], band["high"][0]]})  # fmt: skip
    checks = [
        check(f"{name}: reverie final eval mean (SB3 {band['mean'][0]:.1f}, band low {band['low'][0]:.1f})",
              our_final, ">= SB3 band low", our_final >= band["low"][0]),
        check(f"{name}: s per gradient update, reverie / SB3 (median over seeds)", ratio, "<= 1", ratio <= 1),
    ]  # fmt: skip
    return checks, _curve(algo, env_id, x, series), facts


def _update_ms(run_dir: Path) -> float:
    """The run's mean milliseconds per gradient update (``time/update_ms`` of its last row that has it; TRPO logs
    seconds per policy update, ``time/update_s``)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = [r["time/update_ms"] if "time/update_ms" in r else 1e3 * r["time/update_s"]
             for r in rows if "time/update_ms" in r or "time/update_s" in r]  # fmt: skip
    return timed[-1] if timed else float("nan")


def _curve(algo: str, env_id: str, x: list, series: dict) -> dict:
    return {"title": f"{algo} on {env_id}: deterministic-policy eval return", "xlabel": "env steps",
            "ylabel": f"mean return of {EVAL_EPISODES} eval episodes", "x": x, "series": series}  # fmt: skip
