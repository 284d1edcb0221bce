"""``reverie bench lecture``: the lecture's claims about Dyna, each measured, with a one-line conclusion.

Parts (``--only``), each one sweep under ``out/runs/<part>`` (so an interrupted suite resumes, and finished trials
are read back when the suite runs again):

- ``ratio``: "N controls the ratio of real to model updates; 1:1000 is typical". Dyna-Q with N from 0 to 1,000 on
  the Dyna maze (mean steps per episode over episodes 2-50; lower is better) and on slippery FrozenLake with the
  stochastic (unbiased) model (success rate of the last quarter of 20,000 real steps), and the compute each N
  costs per real step.
- ``bias``: "even small model errors degrade performance at large ratios; infinite planning cannot fix a biased
  model". On slippery FrozenLake a deterministic model (the last outcome of each (s, a)) is biased, a stochastic
  one (counts) is not; both with N from 0 to 1,000.
- ``strict``: "strict model-based vs hybrid": dyna-q-strict (Q learns from the model only) vs dyna-q (real and
  model updates) vs q-learning (real only), N=50, on both tasks (the lake with the stochastic model).

FrozenLake trials discount with 0.99: at the tabular default 0.95 the greedy policy prefers short risky paths and
succeeds about a third of the time whatever the planning, which would hide the differences measured here.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from reverie.bench.aggregates import iqm_interval, two_sample_interval
from reverie.bench.checks import check
from reverie.bench.sutton_barto import make_maze, simulate_maze
from reverie.errors import UserError
from reverie.runner.files import read_json
from reverie.runner.progress import RunProgress
from reverie.runner.sweep import SWEEP_FILE, create_sweep, load_sweep, run_sweep

PARTS = ("ratio", "bias", "strict")
MAZE, LAKE = "reverie/DynaMaze-v0", "FrozenLake-v1"
N_VALUES = {"ratio": [0, 1, 5, 10, 50, 100, 500, 1000], "bias": [0, 5, 50, 200, 1000]}


def _definitions(seeds: int, quick: bool) -> dict[str, list[dict]]:
    """Each part's sweeps (one per task: their budgets differ)."""
    lake_steps = 5_000 if quick else 20_000
    seeds_text = f"0-{seeds - 1}"
    maze = {"envs": [MAZE], "episodes": 50, "seeds": seeds_text}
    lake = {"envs": [LAKE], "steps": lake_steps, "seeds": seeds_text, "set": {"gamma": 0.99}}
    # ratio and strict measure planning, not model bias, so their lake has the counts model; bias compares both
    unbiased_lake = {**lake, "set": {**lake["set"], "model": "stochastic"}}
    return {
        "ratio": [
            {**task, "algos": ["dyna-q"], "grid": {"planning_steps": N_VALUES["ratio"]}}
            for task in (maze, unbiased_lake)
        ],
        "bias": [
            {
                **lake,
                "algos": ["dyna-q"],
                "grid": {"model": ["deterministic", "stochastic"], "planning_steps": N_VALUES["bias"]},
            }
        ],
        "strict": [
            {
                **task,
                "algos": ["q-learning", "dyna-q", "dyna-q-strict"],
                "algo": {algo: {"set": {"planning_steps": 50, **model}} for algo in ("dyna-q", "dyna-q-strict")},
            }
            for task, model in ((maze, {}), (lake, {"model": "stochastic"}))
        ],  # q-learning has no model
    }


def _score(summary: dict) -> float:
    """The task's figure of one run: mean steps per episode over episodes 2-50 (maze), success rate of the last
    quarter of the episodes (lake)."""
    if summary["env"] == MAZE:
        return float(np.mean(summary["episode_lengths"][1:]))
    returns = summary["episode_returns"]
    return float(np.mean(returns[-max(1, len(returns) // 4) :]))


def _run_sweep(out: Path, definition: dict) -> list[dict]:
    """The sweep's summaries, training only what is not finished (a sweep of another definition is refused)."""
    if (out / SWEEP_FILE).exists():
        if read_json(out / SWEEP_FILE, "sweep directory (sweep.json)")["definition"] != definition:
            raise UserError(f"{out} holds a sweep of other settings; move it away to re-measure")
        trials = load_sweep(out)
    else:
        trials = create_sweep(out, definition)
    rows = run_sweep(out, trials, workers=2, show=False)
    failed = [row["name"] for row in rows if "error" in row]
    if failed:
        raise UserError(f"trials failed: {', '.join(failed)} (see their error.txt; the suite resumes them)")
    return [read_json(Path(t.out) / "summary.json", "run summary") | {"overrides": t.overrides} for t in trials]


def _group(summaries: list[dict], *keys) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for s in summaries:
        groups.setdefault(tuple(s["overrides"].get(k, s.get(k)) for k in keys), []).append(s)
    return groups


def _ratio(sweeps: list[list[dict]]) -> tuple[list, dict, dict]:
    checks, curves, facts = [], {}, {}
    for summaries in sweeps:
        env = summaries[0]["env"]
        by_n = _group(summaries, "planning_steps")
        ns = sorted(k[0] for k in by_n)
        bands = [iqm_interval([[_score(s) for s in by_n[(n,)]]]) for n in ns]
        label = "mean steps per episode, episodes 2-50" if env == MAZE else "success rate, last quarter"
        curves[f"ratio-{env.split('/')[-1]}"] = {
            "title": f"Dyna-Q on {env}: {label} against N (IQM, 95% interval)", "xlabel": "N (planning updates per "
            "real step; 0 plotted at 0.5)", "ylabel": label, "x": [max(n, 0.5) for n in ns], "logx": True,
            "series": {"dyna-q": {"mean": [b["point"] for b in bands], "low": [b["low"] for b in bands],
                                  "high": [b["high"] for b in bands]}},
        }  # fmt: skip
        zero, fifty, most = bands[0], bands[ns.index(50)], bands[-1]
        better = (lambda a, b: a < b) if env == MAZE else (lambda a, b: a > b)
        gain = better(fifty["point"], zero["point"])
        checks.append(check(f"ratio, {env}: IQM at N=50 (N=0: {zero['point']:.3g}) [{label}]", fifty["point"],
                            "better than N=0", gain, interval=(fifty["low"], fifty["high"])))  # fmt: skip
        checks.append(check(f"ratio, {env}: IQM at N=1000 [{label}]", most["point"], "report", True,
                            interval=(most["low"], most["high"])))  # fmt: skip
        # N=1000 clearly beats N=50 only if its interval's worse end beats N=50's better end
        ends = ("high", "low") if env == MAZE else ("low", "high")
        clearly = most[ends[0]] is not None and fifty[ends[1]] is not None and better(most[ends[0]], fifty[ends[1]])
        facts[f"conclusion (ratio, {env})"] = (
            f"N=0 {zero['point']:.3g}, N=50 {fifty['point']:.3g}, N=1000 {most['point']:.3g}: planning "
            f"{'helps' if gain else 'does not help'}, and going from N=50 to N=1000 "
            f"{'still improves clearly' if clearly else 'is within the intervals (saturated)'}"
        )
    return checks, curves, facts


def _compute(seeds: int) -> tuple[list, dict, dict]:
    """Microseconds per real step against N: Dyna-Q's 50 episodes on the Dyna maze in the compiled simulator (no env
    or run directory, so the time is the algorithm's own), the best of 3 timings per N."""
    maze, ns = make_maze(MAZE), N_VALUES["ratio"]
    simulate_maze("dyna-q", maze, [0], {"planning_steps": 5}, max_episodes=1)  # compile / load outside the timing
    micro = []
    for n in ns:
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            lengths, _, _ = simulate_maze("dyna-q", maze, range(seeds), {"planning_steps": n}, max_episodes=50)
            best = min(best, time.perf_counter() - start)
        micro.append(1e6 * best / float(np.sum(lengths)))
    curves = {"ratio-compute": {
        "title": f"Dyna-Q on the Dyna maze: compute per real step against N ({seeds} runs, compiled simulator)",
        "xlabel": "N (0 plotted at 0.5)", "ylabel": "microseconds per real step", "x": [max(n, 0.5) for n in ns],
        "logx": True, "logy": True, "series": {"dyna-q": {"mean": micro, "low": micro, "high": micro}}}}  # fmt: skip
    per_update = (micro[-1] - micro[0]) / ns[-1]
    checks = [check("ratio, compute: microseconds per real step at N=1000 / at N=0", micro[-1] / micro[0], "report",
                    True)]  # fmt: skip
    facts = {
        f"ratio, compute: microseconds per real step by N {ns}": [round(m, 2) for m in micro],
        "conclusion (ratio, compute)": (
            f"each planning update costs about {1e3 * per_update:.0f} ns, so N=1000 makes a real step "
            f"{micro[-1] / micro[0]:.0f}x dearer ({micro[-1]:.0f} us): at 1:1000 planning, not the environment, is the "
            "cost"),
    }  # fmt: skip
    return checks, curves, facts


def _bias(summaries: list[dict]) -> tuple[list, dict, dict]:
    groups = _group(summaries, "model", "planning_steps")
    ns = N_VALUES["bias"]
    series = {}
    for model in ("deterministic", "stochastic"):
        bands = [iqm_interval([[_score(s) for s in groups[(model, n)]]]) for n in ns]
        series[f"{model} model"] = {"mean": [b["point"] for b in bands], "low": [b["low"] for b in bands],
                                    "high": [b["high"] for b in bands]}  # fmt: skip
    curves = {"bias-FrozenLake": {
        "title": "Dyna-Q on slippery FrozenLake: biased (deterministic) vs stochastic model (IQM, 95% interval)",
        "xlabel": "N (0 plotted at 0.5)", "ylabel": "success rate, last quarter", "x": [max(n, 0.5) for n in ns],
        "logx": True, "series": series}}  # fmt: skip

    def scores(model, n):
        return [_score(s) for s in groups[(model, n)]]

    gap = two_sample_interval(scores("stochastic", ns[-1]), scores("deterministic", ns[-1]))
    drift = two_sample_interval(scores("deterministic", ns[-1]), scores("deterministic", 0))
    checks = [
        check(f"bias: success at N={ns[-1]}, stochastic minus deterministic model", gap["point"], "> 0",
              gap["point"] > 0, interval=(gap["low"], gap["high"])),
        check(f"bias: deterministic model, success at N={ns[-1]} minus N=0", drift["point"], "report", True,
              interval=(drift["low"], drift["high"])),
    ]  # fmt: skip
    clear = gap["low"] is not None and gap["low"] > 0
    facts = {"conclusion (bias)": (
        f"at N={ns[-1]} the unbiased model succeeds {gap['point']:+.3f} more often than the biased one (95% interval "
        f"{_end(gap['low'])}, {_end(gap['high'])}): {'supported' if clear else 'not shown at this sample size'}; "
        f"the biased model at N={ns[-1]} vs N=0: {drift['point']:+.3f}")}  # fmt: skip
    return checks, curves, facts


def _end(value) -> str:
    return "unbounded" if value is None else f"{value:+.3f}"


def _strict(sweeps: list[list[dict]]) -> tuple[list, dict, dict]:
    checks, facts = [], {}
    for summaries in sweeps:
        env = summaries[0]["env"]
        by_algo = {k[0]: [_score(s) for s in v] for k, v in _group(summaries, "algo").items()}
        parts = []
        for other in ("dyna-q-strict", "q-learning"):
            diff = two_sample_interval(by_algo["dyna-q"], by_algo[other])
            checks.append(check(f"strict, {env}: dyna-q minus {other}", diff["point"], "report", True,
                                interval=(diff["low"], diff["high"])))  # fmt: skip
            parts.append(f"{other} {np.mean(by_algo[other]):.3g}")
        unit = "mean steps per episode, episodes 2-50" if env == MAZE else "success rate, last quarter"
        facts[f"conclusion (strict, {env})"] = f"{unit}: dyna-q {np.mean(by_algo['dyna-q']):.3g}, " + ", ".join(parts)
    return checks, {}, facts


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None, only=None) -> dict:
    """Run the suite (or the parts ``only``): ``runs`` seeds per setting (5; 3 with ``quick``, which also gives the
    FrozenLake trials 5,000 steps instead of 20,000)."""
    out = Path(out or "bench-results/lecture") / ("runs-quick" if quick else "runs")
    seeds = runs or (3 if quick else 5)
    definitions = _definitions(seeds, quick)
    checks, curves, facts = [], {}, {}
    parts = list(only or PARTS)
    with RunProgress("lecture", len(parts), "parts", enabled=show) as progress:
        for part in parts:
            progress.show(part)
            sweeps = [_run_sweep(out / f"{part}-{i}", d) for i, d in enumerate(definitions[part])]
            found = [{"ratio": _ratio, "bias": lambda s: _bias(s[0]), "strict": _strict}[part](sweeps)]
            if part == "ratio":
                found.append(_compute(seeds))
            for more_checks, more_curves, more_facts in found:
                checks += more_checks
                curves.update(more_curves)
                facts.update(more_facts)
            progress.advance(1)
    return {"suite": "lecture", "runs": {"seeds per setting": seeds}, "checks": checks, "curves": curves,
            "timing": facts}  # fmt: skip
