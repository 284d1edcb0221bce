"""The pilco-gps suite's plumbing, checked without its long runs: success parsing, interaction-time arithmetic,
missing peers reported as not measured, and the two peer wrappers under benchmarks/peers."""

import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from reverie.bench import SUITES, pilco_gps, run_suite
from reverie.bench.pilco_gps import (
    first_success,
    interaction_s,
    iteration_times,
    median_s,
    ratio_target,
    sac_seconds_to_success,
)
from reverie.runner.train import make_env

PEERS = Path(__file__).resolve().parents[1] / "benchmarks" / "peers"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"peer_{name}", PEERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_success_counts_the_random_trial_and_gives_interaction_seconds():
    flags = [False, False, False, False, True, False, True]
    assert first_success(flags) == 5 and interaction_s(5) == 20.0  # 5 trials of 40 steps of 0.1 s
    assert first_success([False] * 15) is None and interaction_s(None) is None
    assert first_success(None) is None and first_success([]) is None


def test_sac_seconds_come_from_the_first_logged_success_not_the_return_rows():
    rows = [
        {"success": False, "env_steps": 40},
        {"task": "t", "return": -39.0, "env_steps": 40},
        {"success": True, "env_steps": 1200},
        {"task": "t", "return": -9.0, "env_steps": 1200},
        {"success": True, "env_steps": 1240},
    ]
    assert sac_seconds_to_success(rows) == 120.0
    assert sac_seconds_to_success(rows[:2]) is None


def test_a_seed_that_never_succeeds_counts_at_its_budget():
    assert median_s([20.0, None, 24.0], budget_s=60.0) == 24.0
    assert median_s([None, None, 20.0], budget_s=60.0) == 60.0
    # and a ratio built on such a median is labelled as the lower bound it is
    assert ratio_target([None, None, 20.0]) == "report (a lower bound: 2 of 3 seeds never succeeded)"
    assert ratio_target([12.0, 20.0]) == "report"


def test_gps_iteration_times_are_read_once_per_iteration():
    # 2 conditions x 2 samples: each iteration's 4 episodes log the previous iteration's time (0 before the first)
    times = [0.0] * 4 + [5.6] * 4 + [1.9] * 4 + [1.8] * 4
    assert iteration_times([{"time/iteration_s": t} for t in times]) == [5.6, 1.9, 1.8]


def test_the_suite_is_registered_and_gps_gets_15_iterations(monkeypatch):
    from reverie.algorithms import get_algorithm

    config = get_algorithm("gps").Config()
    assert pilco_gps.GPS_EPISODES == 300 == config.iterations * config.num_conditions * config.samples_per_condition
    assert "pilco-gps" in SUITES
    monkeypatch.setattr(pilco_gps, "run", lambda **kwargs: {"suite": "pilco-gps", **kwargs})
    assert run_suite("pilco-gps", runs=1, quick=True)["quick"] is True


def _fake_runs(flags_by_algo: dict):
    """A stand-in for start_seeds: summaries per seed, with metrics.jsonl written for PILCO's seeds."""

    def runs(out_dir, algo, env_id, seeds, episodes, sets=None, *, env_kwargs=None):
        summaries = []
        for seed in seeds:
            flags = flags_by_algo[algo][seed]
            run_dir = Path(out_dir) / f"seed_{seed}"
            run_dir.mkdir(parents=True, exist_ok=True)
            rows = [{"episode": i + 1, "time/policy_opt_s": 10.0 * (i + 1)} for i in range(1, episodes)]
            (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            returns = [-30.0 + 3 * i for i in range(episodes)]
            summaries.append({"episode_returns": returns, "episode_success": flags, "episode_lengths": [40] * episodes,
                              "wall_s": 100.0, "peak_memory_mb": 700.0})  # fmt: skip
        return summaries

    return runs


def test_swingup_reports_interaction_seconds_and_a_missing_sac_as_not_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERIE_PEER_VENVS", str(tmp_path / "no-venvs"))
    succeed_at = {0: 5, 1: 6, 2: None}
    pilco = {s: [t == at for t in range(1, 16)] for s, at in succeed_at.items()}
    pets = {s: [t >= 10 for t in range(1, 16)] for s in range(3)}
    monkeypatch.setattr(pilco_gps, "_runs", _fake_runs({"pilco": pilco, "pets": pets}))
    checks, curve, facts = pilco_gps.swingup(tmp_path, "cart-pole", pilco_gps.CARTPOLE, [0, 1, 2], 15, 15, peers=True)
    assert facts["pilco_cart-pole_first_success_trial"] == [5, 6, None]
    assert facts["pilco_cart-pole_interaction_s"] == [20.0, 24.0, None]
    assert facts["pilco_cart-pole_policy_opt_s_median"] == 85.0  # 20, 30 .. 150 s on each seed
    by_name = {c["name"]: c for c in checks}
    share = by_name["pilco cart-pole: share of seeds up and held within 15 trials"]
    assert share["value"] == round(2 / 3, 4) and not share["passed"]
    # PETS: 40 s on every seed; PILCO's median is 24 s (the unsolved seed counts at the 60 s budget)
    pets_ratio = by_name["cart-pole: PETS / PILCO median interaction s to success"]
    assert pets_ratio["value"] == round(40 / 24, 4) and pets_ratio["target"] == "report"
    sac = by_name["cart-pole: SAC / PILCO median interaction s to success"]
    assert np.isnan(sac["value"]) and "not measured" in sac["target"] and "not installed" in sac["target"]
    assert not sac["passed"] and len(curve["series"]) == 2 and curve["x"] == list(range(1, 16))


def test_swingup_puts_sac_beside_pilco_in_seconds_and_on_the_curve(tmp_path, monkeypatch):
    succeed_at = {0: 5, 1: 6, 2: None}
    pilco = {s: [t == at for t in range(1, 16)] for s, at in succeed_at.items()}
    pets = {s: [False] * 15 for s in range(3)}
    monkeypatch.setattr(pilco_gps, "_runs", _fake_runs({"pilco": pilco, "pets": pets}))

    def sac_peer(name, script, args, timeout, cache):  # 20 episodes of 40 steps, the first success in episode 10
        rows = [{"episode": i, "return": -40.0 + i, "env_steps": 40 * (i + 1)} for i in range(20)]
        rows += [{"success": i >= 9, "env_steps": 40 * (i + 1)} for i in range(20)]
        return {"rows": rows, "error": None}

    monkeypatch.setattr(pilco_gps, "run_peer", sac_peer)
    checks, curve, facts = pilco_gps.swingup(tmp_path, "cart-pole", pilco_gps.CARTPOLE, [0, 1, 2], 15, 15, peers=True)
    assert facts["sac_cart-pole_interaction_s"] == [40.0] * 3  # 400 steps of 0.1 s
    by_name = {c["name"]: c for c in checks}
    sac = by_name["cart-pole: SAC / PILCO median interaction s to success"]
    assert sac["value"] == round(40 / 24, 4) and sac["target"] == "report"
    pets_ratio = by_name["cart-pole: PETS / PILCO median interaction s to success"]
    assert pets_ratio["value"] == 2.5 and "3 of 3 seeds never succeeded" in pets_ratio["target"]
    assert curve["series"]["SB3 SAC (3 seeds)"]["mean"] == [-40.0 + i for i in range(15)]


def test_inverted_without_torchrl_reports_the_goal_checks_as_not_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("REVERIE_PEER_VENVS", str(tmp_path / "no-venvs"))
    costs = [{"points": p, "wall_s": 0.1, "cpu_s": 0.1, "peak_mb": 600.0} for p in pilco_gps.POINTS]
    monkeypatch.setattr(pilco_gps, "_step_costs", lambda env_id, centres: costs)

    def runs(out_dir, algo, env_id, seeds, episodes, sets=None, *, env_kwargs=None):
        assert env_kwargs == {"max_episode_steps": "100"} and sets["random_trials"] == "40"
        return [{"episode_lengths": [5] * 40 + [30, 100, 100]}]

    monkeypatch.setattr(pilco_gps, "_runs", runs)
    checks, facts = pilco_gps.inverted(tmp_path, [0], 43, True)
    assert facts["pilco_inverted_first_balanced_trial"] == [42]
    assert facts["pilco_inverted_real_steps_to_balance"] == [5 * 40 + 30 + 100]
    goals = [c for c in checks if "TorchRL CPU s / reverie CPU s" in c["name"]]
    assert len(goals) == 2 and all("not measured" in c["target"] and not c["passed"] for c in goals)
    assert all(c["passed"] for c in checks if c not in goals)


def test_gps_checks_the_network_on_training_and_held_out_targets(tmp_path, monkeypatch):
    def runs(out_dir, algo, env_id, seeds, episodes, sets=None, *, env_kwargs=None):
        assert (algo, episodes) == ("gps", 300)
        for seed in seeds:
            (Path(out_dir) / f"seed_{seed}").mkdir(parents=True)
            rows = [{"time/iteration_s": t} for t in [0.0] * 20 + [4.0] * 20 + [2.0] * 20]
            (Path(out_dir) / f"seed_{seed}" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return [{"eval_success_rate_train": tr, "eval_success_rate_heldout": 1.0, "eval_success_rate": (tr + 1) / 2,
                 "gps_iterations": 15, "peak_memory_mb": 600.0} for tr in (1.0, 0.75)]  # fmt: skip

    monkeypatch.setattr(pilco_gps, "_runs", runs)
    checks, facts = pilco_gps.gps(tmp_path, [0, 1], pilco_gps.GPS_EPISODES)
    assert [c["passed"] for c in checks] == [False, True]  # training targets: 0.875 < 0.9
    assert facts["gps_arm_iteration_s_median"] == 3.0 and facts["gps_arm_iterations"] == [15, 15]
    # Reacher has no mark in the issue: the same shares are reported, never failed
    checks, facts = pilco_gps.gps(tmp_path / "r", [0, 1], 300, pilco_gps.REACHER, "reacher", "report")
    assert [(c["value"], c["target"], c["passed"]) for c in checks] == [(0.875, "report", True), (1.0, "report", True)]
    assert facts["gps_reacher_eval_success_rate"] == [1.0, 0.875]


def test_the_torchrl_wrapper_applies_both_fixes_in_a_copy(tmp_path, monkeypatch):
    wrapper = _load("torchrl_pilco")
    shipped = tmp_path / "site" / "sota-implementations" / "pilco"
    shipped.mkdir(parents=True)
    original = (
        'def evaluate_policy():\n    reward = test_rollout["episode_reward"][-1].tolist()\n\n'
        "def main(cfg):\n    if cfg.logger.backend:\n        logger = 1\n    pilco_loop(cfg, env, logger=logger)\n"
    )
    (shipped / "pilco.py").write_text(original)
    (shipped / "utils.py").write_text("")
    monkeypatch.setattr(wrapper.sysconfig, "get_paths", lambda: {"purelib": str(tmp_path / "site")})
    (tmp_path / "copy").mkdir()
    patched = wrapper.prepare(tmp_path / "copy").read_text()
    assert '["episode_reward"][-1].item()' in patched and "    logger = None\n    if cfg.logger.backend:" in patched
    assert (shipped / "pilco.py").read_text() == original  # the installed file is untouched
    config = (tmp_path / "copy" / "config.yaml").read_text()
    assert "horizon: 40" in config and "max_rollout_length: 350" in config and "policy_n_basis: 10" in config
    (shipped / "pilco.py").write_text(original.replace(".tolist()", ".numpy()"))
    with pytest.raises(SystemExit, match="changed"):
        wrapper.prepare(tmp_path / "copy")


def test_the_sb3_wrapper_logs_success_at_each_episode_end(capsys):
    wrapper = _load("sb3_reverie_env")
    env = wrapper.SuccessLog(gym.make("reverie/PilcoCartPole-v0"))
    env.reset(seed=0)
    for _ in range(40):
        env.step(np.zeros(1, dtype=np.float32))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"success": False, "env_steps": 40}]
    assert str(PEERS.parents[1] / "src") in sys.path  # the checkout's reverie, importable in the SB3 venv


def test_a_mountain_car_return_above_zero_means_the_goal_was_reached():
    # the suite reads success off the return: the goal pays +100, a 999-step episode pays at most 99.9 for actions.
    # Full throttle all the way (the most a non-goal episode can pay; it never climbs out) stays below 0; pumping with
    # the velocity gets there. The runner's env (make_env) says the same as info["is_success"] at the episode's end
    env = make_env("MountainCarContinuous-v0", {})
    for policy, goal in ((lambda obs: 1.0, False), (lambda obs: 1.0 if obs[1] >= 0 else -1.0, True)):
        obs, _ = env.reset(seed=0)
        total, ended, info = 0.0, False, {}
        while not ended:
            assert "is_success" not in info
            obs, reward, terminated, truncated, info = env.step(np.array([policy(obs)], np.float32))
            total, ended = total + reward, terminated or truncated
        assert terminated == goal and pilco_gps.reached_goal([total]) == [goal], total
        assert info["is_success"] is goal


def test_mountain_car_counts_the_first_trial_at_the_goal_and_the_later_ones(tmp_path, monkeypatch):
    lengths = {0: [999, 150, 999, 120], 1: [999, 999, 999, 999], 2: [999, 999, 130, 140]}

    def runs(out_dir, algo, env_id, seeds, episodes, sets=None, *, env_kwargs=None):
        assert (algo, env_id, sets, env_kwargs) == ("pilco", "MountainCarContinuous-v0", {"controller": "linear"}, None)
        return [{"episode_lengths": lengths[s], "episode_returns": [-30.0 if n == 999 else 93.0 for n in lengths[s]]}
                for s in seeds]  # fmt: skip

    monkeypatch.setattr(pilco_gps, "_runs", runs)
    checks, facts = pilco_gps.mountain_car(tmp_path, [0, 1, 2], 4, 3)
    assert facts["pilco_mountain_car_first_goal_trial"] == [2, None, 3]
    assert facts["pilco_mountain_car_real_steps_to_goal"] == [1149, None, 2128]
    assert checks[0]["value"] == pytest.approx(2 / 3, abs=1e-4) and not checks[0]["passed"]  # seed 1 never got there
    # after a first success: trials 3 (missed) and 4 of seed 0, trial 4 of seed 2
    assert checks[1]["value"] == pytest.approx(2 / 3, abs=1e-4)
