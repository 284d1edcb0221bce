"""``reverie bench planning-networks``: its checks on made-up summaries, and a tiny quick form end to end."""

from __future__ import annotations

import pytest

from reverie.bench import planning_networks as suite


def _summary(success: float, diff: float = 0.0, cpu_s: float = 60.0, epochs: int = 3) -> dict:
    return {"final_success_rate": success, "final_trajectory_diff": diff, "cpu_s": cpu_s,
            "epoch_success_rate": [success] * epochs}  # fmt: skip


def test_goal_checks_pass_and_fail_on_the_figures():
    setting = suite.Setting("vin", 8, 2, 40, 2.0, 99.6, 0.001)
    good = suite._goal_checks(setting, [_summary(0.999, 0.0005, 100), _summary(0.998, 0.0, 110)])
    assert [c["passed"] for c in good] == [True, True, True]
    bad = suite._goal_checks(setting, [_summary(0.999, 0.0005, 100), _summary(0.990, 0.004, 130)])
    assert [c["passed"] for c in bad] == [False, False, False]  # mean 99.45% < 99.6; diff 0.00225; 2.17 min


def test_the_gap_check_compares_vin_at_the_baselines_epochs_where_it_can():
    results = {("vin", 8, 40): [_summary(0.999)], ("vin", 8, 4): [_summary(0.90)], ("cnn", 8, 4): [_summary(0.95)],
               ("fcn", 8, 40): [_summary(0.97)]}  # fmt: skip
    checks = {c["name"].split(",")[0]: c for c in suite._gap_checks(results)}
    cnn = next(c for name, c in checks.items() if "CNN" in name)
    fcn = next(c for name, c in checks.items() if "FCN" in name)
    assert cnn["value"] == pytest.approx(-5.0) and not cnn["passed"]  # VIN's 4-epoch run against the CNN's 4
    assert fcn["value"] == pytest.approx(2.9) and fcn["passed"]


def test_a_tiny_quick_form_runs_end_to_end(tmp_path, monkeypatch):
    tiny = (("train_maps", 30), ("test_maps", 10), ("maps_per_batch", 10))
    monkeypatch.setattr(suite, "QUICK", {"vin-8": (suite.Setting("vin", 8, 1, 2, 2.0, overrides=tiny),),
                                         "baselines": (suite.Setting("fcn", 8, 1, 2, overrides=tiny),)})  # fmt: skip
    results = suite.run(quick=True, out=tmp_path)
    assert results["runs"]["parts"] == ["vin-8", "baselines"]  # no transfer in the quick form
    names = [c["name"] for c in results["checks"]]
    assert any("CPU minutes" in n for n in names) and any("FCN" in n for n in names)
    assert set(results["curves"]["success-8"]["series"]) == {"VIN (2 epochs)", "FCN (2 epochs)"}
    assert (tmp_path / "runs" / "8x8" / "vin-2" / "seed_0" / "summary.json").exists()
    again = suite.run(quick=True, out=tmp_path)  # finished runs are read back, not trained again
    assert again["timing"] == results["timing"]
