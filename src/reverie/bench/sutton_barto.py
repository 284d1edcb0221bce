"""Suite ``sutton-barto``: the planning experiments of Sutton & Barto (2018), chapter 8, at the book's
settings and run counts, plus the speed and memory of the compiled tabular kernels.

Every experiment runs the algorithms' own compiled ``step`` functions (the code ``reverie train``
uses) through ``simulate_tabular`` on the mazes' transition tables.
"""

from __future__ import annotations

import os
import resource
import time

import gymnasium as gym
import numpy as np

from reverie.algorithms import get_algorithm, simulate_tabular
from reverie.bench.aggregates import two_sample_interval
from reverie.bench.checks import check
from reverie.bench.stats import mean_band
from reverie.runner.progress import RunProgress

EPSILON = 0.1  # all four experiments explore with epsilon 0.1 and discount 0.95


def make_maze(env_id: str, **kwargs):
    """The unwrapped maze env (its transition tables feed the compiled simulator)."""
    return gym.make(env_id, **kwargs).unwrapped


def simulate_maze(algo: str, maze, seeds, overrides: dict, **budget):
    """``algo`` with ``overrides`` on ``maze`` for each of ``seeds`` in the compiled simulator (no env, no run
    directory); returns simulate_tabular's (lengths [seeds, episodes], cumulative reward, updates [seeds])."""
    module = get_algorithm(algo)
    config = module.Config(**overrides)
    before = maze.transition_table(maze.walls_before)
    after = None if maze.walls_after is None else maze.transition_table(maze.walls_after)
    return simulate_tabular(
        algo, config.params(), n_states=maze.rows * maze.cols, n_actions=4, seeds=list(seeds), epsilon=EPSILON,
        before=before, start=maze.state_of(maze.start), after=after,
        switch_step=-1 if maze.switch_step is None else maze.switch_step, **budget,
    )  # fmt: skip


def figure_8_2(runs: int) -> tuple[list, dict, dict]:
    """Dyna maze, steps per episode for N = 0, 5, 50 (alpha 0.1), 50 episodes."""
    maze = make_maze("reverie/DynaMaze-v0")
    for n in (0, 5, 50):  # compile outside the timed region
        simulate_maze("dyna-q", maze, [0], {"planning_steps": n}, max_episodes=1)
    series, updates, start = {}, 0, time.perf_counter()
    for n in (0, 5, 50):
        lengths, _, done = simulate_maze("dyna-q", maze, range(runs), {"planning_steps": n}, max_episodes=50)
        series[f"N = {n}"] = mean_band(lengths)
        updates += int(done.sum())
    compute_s = time.perf_counter() - start
    mean = {k: np.array(v["mean"]) for k, v in series.items()}
    worst_50, worst_5, scaled_s = mean["N = 50"][2:].max(), mean["N = 5"][6:].max(), compute_s * 30 / runs
    checks = [
        check("fig8.2 N=50: worst mean length, episodes 3-50", worst_50, "<= 20", worst_50 <= 20),
        check("fig8.2 N=5: worst mean length, episodes 7-50", worst_5, "<= 20", worst_5 <= 20),
        check("fig8.2 N=0: mean length at episode 10", mean["N = 0"][9], "> 50", mean["N = 0"][9] > 50),
        check("fig8.2 compute seconds, scaled to 30 runs", scaled_s, "<= 0.5", scaled_s <= 0.5),
    ]
    curve = {
        "title": f"Figure 8.2: Dyna maze ({runs} runs)",
        "xlabel": "episode",
        "ylabel": "steps per episode",
        "x": list(range(1, 51)),
        "series": series,
        "ylim": [0, 800],
    }
    timing = {"fig8_2_compute_s": round(compute_s, 4), "fig8_2_updates": updates, "updates_per_s": updates / compute_s}
    return checks, curve, timing


def changing_maze(figure: str, env_id: str, runs: int, steps: int, n: int, kappa: float) -> tuple[list, dict]:
    """Cumulative reward of Dyna-Q vs Dyna-Q+ on a maze whose wall moves (alpha 1.0, as the companion code)."""
    maze = make_maze(env_id)
    series, final = {}, {}
    for algo, overrides in (
        ("dyna-q", {"alpha": 1.0, "planning_steps": n}),
        ("dyna-q-plus", {"alpha": 1.0, "planning_steps": n, "kappa": kappa}),
    ):
        _, cumulative, _ = simulate_maze(algo, maze, range(runs), overrides, max_steps=steps)
        band = mean_band(cumulative[:, 9::10])  # every 10th step keeps results.json small
        series[algo] = band
        final[algo] = cumulative[:, -1]  # one cumulative reward per run
    ratio = final["dyna-q-plus"].mean() / max(final["dyna-q"].mean(), 1e-9)
    curve = {
        "title": f"Figure {figure}: {env_id.split('/')[1]} ({runs} runs, wall moves at step {maze.switch_step})",
        "xlabel": "time steps",
        "ylabel": "cumulative reward",
        "x": list(range(10, steps + 1, 10)),
        "series": series,
    }
    return [final, ratio], curve


def example_8_4(runs: int, scales=(1, 2, 3, 4, 5)) -> tuple[list, dict]:
    """Updates until the greedy path is within 1.2x of optimal, Dyna-Q vs prioritized sweeping."""
    series = {"dyna-q": [], "prioritized-sweeping": []}
    checks = []
    for scale in scales:
        maze = make_maze("reverie/ScaledDynaMaze-v0", scale=scale)
        bound = int(1.2 * maze.shortest_path_length())
        means = {}
        for algo in series:
            overrides = {"alpha": 0.5, "planning_steps": 5} if algo == "dyna-q" else {}
            _, _, updates = simulate_maze(algo, maze, range(runs), overrides, max_episodes=100_000, greedy_bound=bound)
            means[algo] = updates
            series[algo].append(float(updates.mean()))
        ratio = two_sample_interval(means["prioritized-sweeping"], means["dyna-q"], "ratio")
        checks.append(check(f"ex8.4 scale {scale}: PS / Dyna-Q updates", ratio["point"], "< 1", ratio["point"] < 1,
                            interval=(ratio["low"], ratio["high"])))  # fmt: skip
    states = [int(make_maze("reverie/ScaledDynaMaze-v0", scale=k).observation_space.n) for k in scales]
    curve = {
        "title": f"Example 8.4: updates until the greedy path is within 1.2x optimal ({runs} runs)",
        "xlabel": "grid cells (scale 1..5)",
        "ylabel": "updates",
        "x": states,
        "series": {k: {"mean": v, "low": v, "high": v} for k, v in series.items()},
        "logy": True,
    }
    return checks, curve


def _process_seconds() -> float:
    """Seconds since this process started (start-up and imports included), from /proc on Linux."""
    try:
        with open("/proc/self/stat") as handle:
            start_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """Run every experiment; ``runs`` overrides the book's run counts, ``quick`` uses fewer. The suite keeps no
    files of its own, so ``out`` (the suite's output directory) is not used."""
    with RunProgress("sutton-barto", 4, "experiments", enabled=show) as progress:
        return _run(runs, quick, progress)


def _run(runs, quick, progress) -> dict:
    counts = {"fig8_2": 30, "fig8_4": 20, "fig8_5": 5, "ex8_4": 5}
    if quick:
        counts = {"fig8_2": 10, "fig8_4": 10, "fig8_5": 5, "ex8_4": 3}
    if runs is not None:
        counts = dict.fromkeys(counts, runs)
    checks, curves = [], {}
    progress.show(f"figure 8.2, {counts['fig8_2']} runs x 3 settings")
    fig82_checks, curves["fig8_2"], timing = figure_8_2(counts["fig8_2"])
    checks += fig82_checks
    progress.advance(1)
    progress.show(f"figure 8.4, {counts['fig8_4']} runs")
    (final, ratio), curves["fig8_4"] = changing_maze("8.4", "reverie/BlockingMaze-v0", counts["fig8_4"], 3000, 10, 1e-4)
    gain = two_sample_interval(final["dyna-q-plus"], final["dyna-q"])
    checks.append(check("fig8.4 Dyna-Q+ minus Dyna-Q reward by step 3000", gain["point"], "> 0", gain["point"] > 0,
                        interval=(gain["low"], gain["high"])))  # fmt: skip
    progress.advance(1)
    progress.show(f"figure 8.5, {counts['fig8_5']} runs")
    (final, ratio), curves["fig8_5"] = changing_maze("8.5", "reverie/ShortcutMaze-v0", counts["fig8_5"], 6000, 50, 1e-3)
    band = two_sample_interval(final["dyna-q-plus"], final["dyna-q"], "ratio")
    checks.append(check("fig8.5 Dyna-Q+ / Dyna-Q reward by step 6000", ratio, ">= 1.10", ratio >= 1.10,
                        interval=(band["low"], band["high"])))  # fmt: skip
    progress.advance(1)
    progress.show(f"example 8.4, {counts['ex8_4']} runs x 5 scales")
    ex_checks, curves["ex8_4"] = example_8_4(counts["ex8_4"])
    checks += ex_checks
    progress.advance(1)
    total_s = _process_seconds()
    checks.append(check("whole suite seconds, start-up included", total_s, "<= 30", total_s <= 30))
    timing["suite_s"] = round(total_s, 2)
    timing["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    timing["updates_per_s"] = round(timing["updates_per_s"])
    return {"suite": "sutton-barto", "runs": counts, "checks": checks, "curves": curves, "timing": timing}
