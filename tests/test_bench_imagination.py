"""The imagination suite's bookkeeping: steps to threshold with lower bounds, the checks' soundness, reuse of runs."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.bench import imagination
from reverie.bench.imagination import Arm, Group


def _measured(steps, all_reached):
    reached = [all_reached] * len(steps)
    return {"steps to threshold": steps, "reached": reached, "all reached": all_reached, "wall s": [1.0]}


@pytest.fixture
def goals(monkeypatch):
    monkeypatch.setattr(imagination, "RATIO_GOALS", (("g", "fast", "slow", 0.6, "<= 0.6"),
                                                     ("g", "slow", "fast", 10.0, ">= 10")))  # fmt: skip
    monkeypatch.setattr(imagination, "STEP_GOALS", (("g", "fast", 1000),))
    monkeypatch.setattr(imagination, "WALL_GOALS", ())


def test_ratio_checks_pass_only_when_a_lower_bound_cannot_flip_them(goals):
    # 'slow' never reached the threshold: its 30,000 is a lower bound. fast/slow <= 0.6 then still holds for
    # sure (the true ratio is smaller), and slow/fast >= 10 too (the true ratio is larger).
    checks = imagination._checks({("g", "fast"): _measured([1000, 2000, 3000], True),
                                  ("g", "slow"): _measured([30_000, 30_000, 30_000], False)})  # fmt: skip
    by_name = {c["name"].split(",")[-1].strip(): c for c in checks}
    assert by_name["fast / slow (from lower bounds)"]["value"] == pytest.approx(2000 / 30_000, abs=1e-4)
    assert by_name["fast / slow (from lower bounds)"]["passed"]
    assert by_name["slow / fast (from lower bounds)"]["passed"]
    steps = next(c for c in checks if "median steps to threshold" in c["name"] and "/" not in c["name"])
    assert steps["value"] == 2000 and not steps["passed"]  # 2,000 > 1,000


def test_a_median_that_is_a_lower_bound_does_not_pass_a_step_goal(goals):
    # two of three seeds never reached the threshold within a short budget: 900 <= 1,000, but it proves nothing
    fast = {**_measured([900, 900, 400], True), "reached": [False, False, True], "all reached": False}
    checks = imagination._checks({("g", "fast"): fast})
    steps = next(c for c in checks if "median steps" in c["name"])
    assert steps["value"] == 900 and not steps["passed"]


def test_a_lower_bound_on_the_tested_arm_never_passes_an_at_most_goal(goals):
    # 'fast' did not reach the threshold: its median is a lower bound, so a small ratio proves nothing
    checks = imagination._checks({("g", "fast"): _measured([1000, 1000, 1000], False),
                                  ("g", "slow"): _measured([9000, 9000, 9000], True)})  # fmt: skip
    at_most = next(c for c in checks if "fast / slow" in c["name"])
    assert at_most["value"] == pytest.approx(1 / 9, abs=1e-4) and not at_most["passed"]


def test_the_suite_trains_each_arm_and_reads_finished_runs_back(monkeypatch, tmp_path):
    # budgets too small to learn: this checks the plumbing (curves, facts, reuse), not the learning
    group = Group("tiny", "Pendulum-v1", -200.0, 100,
                  (Arm("NAF", "naf", 300, (("hidden_size", 8), ("batch_size", 8), ("learning_starts", 50))),
                   Arm("NAF short", "naf", 200, (("hidden_size", 8), ("batch_size", 8), ("learning_starts", 50)))),
                  1)  # fmt: skip
    monkeypatch.setattr(imagination, "QUICK", (group,))
    first = imagination.run(quick=True, out=tmp_path)
    curve = first["curves"]["tiny"]
    assert curve["x"] == [100, 200, 300]
    assert np.isnan(curve["series"]["NAF short"]["mean"][2])  # the shorter arm's curve ends at its budget
    assert first["timing"]["tiny NAF"]["steps to threshold"] == [400]  # never reached: budget + one eval
    metrics = tmp_path / "runs" / "tiny" / "naf" / "seed_0" / "metrics.jsonl"
    before = metrics.read_text()
    second = imagination.run(quick=True, out=tmp_path)
    assert metrics.read_text() == before  # read back, not retrained
    assert second["timing"] == first["timing"]


def test_a_curve_puts_arms_with_different_eval_grids_on_one_axis():
    group = Group("g", "Pendulum-v1", -200.0, 100, (Arm("a", "naf", 300), Arm("b", "naf", 400, eval_every=200)), 1)
    measured = {("g", "a"): {"grid": np.array([100, 200, 300]), "evals": [np.array([-3.0, -2.0, -1.0])]},
                ("g", "b"): {"grid": np.array([200, 400]), "evals": [np.array([-10.0, -6.0])]}}  # fmt: skip
    curve = imagination._curve(group, measured)
    assert curve["x"] == [100, 200, 300, 400]
    assert curve["series"]["a"]["mean"][:3] == [-3.0, -2.0, -1.0] and np.isnan(curve["series"]["a"]["mean"][3])
    b = curve["series"]["b"]["mean"]
    assert np.isnan(b[0]) and b[1:] == [-10.0, -8.0, -6.0]  # between its evals at 200 and 400: a straight line


def test_the_horizon_figure_puts_mbpo_and_mve_on_one_axis_of_horizons():
    def arm_measured(mean_eval, errors):
        return {"evals": [np.array([mean_eval - 1.0, mean_eval + 1.0])], "open loop errors": [errors]}

    mbpo = Group(
        "mbpo-horizon-pendulum",
        "Pendulum-v1",
        -200.0,
        250,
        tuple(Arm(f"MBPO k={k}", "mbpo", 10, (("rollout_max_length", k),)) for k in (1, 5)),
        1,
    )
    mve = Group("mve-horizon-pendulum", "Pendulum-v1", -200.0, 250,
                (Arm("H=1 learned", "mve", 10, (("horizon", 1),)), Arm("H=3 learned", "mve", 10, (("horizon", 3),)),
                 Arm("H=3 oracle no TD-k", "mve", 10, (("horizon", 3),))), 1)  # fmt: skip
    measured = {("mbpo-horizon-pendulum", "MBPO k=1"): arm_measured(-300.0, [0.1, 0.4]),
                ("mbpo-horizon-pendulum", "MBPO k=5"): arm_measured(-500.0, [0.2, 0.5, 0.9]),
                ("mve-horizon-pendulum", "H=1 learned"): arm_measured(-400.0, [0.3]),
                ("mve-horizon-pendulum", "H=3 learned"): arm_measured(-200.0, [0.3, 0.6]),
                ("mve-horizon-pendulum", "H=3 oracle no TD-k"): arm_measured(-250.0, [])}  # fmt: skip
    curves = imagination._horizon_curves((mbpo, mve), measured)
    returns = curves["horizon-return"]
    assert returns["x"] == [1, 3, 5]
    assert returns["series"]["MBPO"]["mean"] == [-300.0, -400.0, -500.0]  # k=3 drawn between its neighbours
    assert returns["series"]["MVE learned"]["mean"][:2] == [-400.0, -200.0]
    assert np.isnan(returns["series"]["MVE learned"]["mean"][2])  # MVE's sweep stops at H=3 here
    assert returns["series"]["MVE oracle no TD-k"]["mean"][1] == -250.0
    errors = curves["horizon-model-error"]
    assert errors["x"] == [1, 2, 3] and set(errors["series"]) == {"MBPO k=1", "MBPO k=5", "H=1 learned", "H=3 learned"}
    assert np.isnan(errors["series"]["MBPO k=1"]["mean"][2])


def test_every_pendulum_arm_goes_on_one_axis_cut_at_the_step_limit():
    fast = Group("mbpo-pendulum", "Pendulum-v1", -200.0, 100, (Arm("MBPO", "mbpo", 200),), 1)
    slow = Group("me-trpo-pendulum", "Pendulum-v1", -200.0, 100, (Arm("TRPO", "trpo", 400, eval_every=200),), 1)
    measured = {
        ("mbpo-pendulum", "MBPO"): {"grid": np.array([100, 200]), "evals": [np.array([-900.0, -100.0])]},
        ("me-trpo-pendulum", "TRPO"): {"grid": np.array([200, 400]), "evals": [np.array([-1e3, -5e2])]},
    }
    curve = imagination._all_on_one_axis((fast, slow), measured, "Pendulum-v1", most_steps=300)["pendulum-all"]
    assert curve["x"] == [100, 200] and set(curve["series"]) == {"MBPO", "TRPO"}
    assert curve["series"]["MBPO"]["mean"] == [-900.0, -100.0] and curve["series"]["TRPO"]["mean"][1] == -1e3


def test_a_median_of_two_that_averages_in_a_lower_bound_does_not_pass(goals, monkeypatch):
    # 3,000 reached and 7,000 never: the median 5,000 <= 6,000 only because 7,000 is a lower bound
    monkeypatch.setattr(imagination, "STEP_GOALS", (("g", "fast", 6000),))
    half = {**_measured([3000, 7000], True), "reached": [True, False], "all reached": False}
    steps = next(c for c in imagination._checks({("g", "fast"): half}) if "median steps" in c["name"])
    assert steps["value"] == 5000 and not steps["passed"]
