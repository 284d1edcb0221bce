"""Guided Policy Search end to end: the reaching envs, learning on the point mass, resume, and bad input."""

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reverie  # noqa: F401  (registers the envs)
from reverie.cli import main
from reverie.envs.tasks import task_info
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run

REACHING = ("reverie/PointMass2D-v0", "reverie/TwoLinkArm-v0", "reverie/ReacherTargets-v0")


@pytest.mark.parametrize("env_id", REACHING)
def test_reaching_envs_pass_the_checker_and_their_reward_is_minus_the_known_cost(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.spec.max_episode_steps == 50
    held_out = env.unwrapped.HELDOUT_TARGETS
    obs, _ = env.reset(seed=1, options={"target": held_out[2]})
    rng = np.random.default_rng(0)
    for _ in range(50):
        action = rng.uniform(-1.5, 1.5, size=2).astype(np.float32)  # out of bounds: clipped by physics, not by cost
        next_obs, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(
            -task_info(env_id).gps_cost_fn()(obs.astype(np.float64), action.astype(np.float64))
        )
        assert not terminated
        assert info["is_success"] == (np.linalg.norm(next_obs[-2:]) < env.unwrapped.SUCCESS_RADIUS)
        obs = next_obs
    assert truncated


def test_reacher_targets_puts_the_target_where_asked():
    env = gym.make("reverie/ReacherTargets-v0")
    for target in (*env.unwrapped.TRAIN_TARGETS, *env.unwrapped.HELDOUT_TARGETS):
        obs, _ = env.reset(seed=3, options={"target": target})
        np.testing.assert_allclose(obs[4:6], target)  # Reacher-v5 observes the target's position
        tip = env.unwrapped.get_body_com("fingertip")[:2]
        np.testing.assert_allclose(obs[-2:], tip - target, atol=1e-9)
        assert np.linalg.norm(target) < 0.21  # within the arm's reach (links of 0.1 and 0.11)
    drawn = {tuple(np.round(gym.make("reverie/ReacherTargets-v0").reset(seed=s)[0][4:6], 6)) for s in range(40)}
    assert drawn == {tuple(np.round(t, 6)) for t in env.unwrapped.TRAIN_TARGETS}  # not Reacher's uniform draw


def test_the_arm_tip_offset_is_consistent_with_its_angles():
    from reverie.envs.two_link_arm import tip

    env = gym.make("reverie/TwoLinkArm-v0")
    target = env.unwrapped.TRAIN_TARGETS[3]
    obs, _ = env.reset(seed=0, options={"target": target})
    np.testing.assert_allclose(obs[4:], tip(obs[:2].astype(np.float64)) - target, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(env.unwrapped.TRAIN_TARGETS, axis=1), 0.8)  # all on one arc
    np.testing.assert_allclose(np.linalg.norm(env.unwrapped.HELDOUT_TARGETS, axis=1), 0.8)


# few S-step epochs and clusters keep this test well under a minute on 2 cores; the point mass's actions are
# accelerations of 2 per unit, and exploring with std 0.3 (0.6 m/s^2) lets each KL-bounded step move further
FAST = {"policy_epochs": "20", "prior_clusters": "10", "init_noise": "0.3"}


def test_gps_steers_the_point_mass_to_trained_and_held_out_targets(tmp_path):
    # 6 iterations x 4 targets x 5 trajectories. The targets lie 0.5 to 0.71 from the start and 0.5 or more apart;
    # success needs the point within 0.05 of the target after 50 steps. A policy that ignores the target (the
    # untrained network included) ends near one fixed point, so it can succeed on at most one of the 8 targets:
    # chance cannot pass. The first iteration's noisy zero-mean controller scores about -50 per episode, the optimum
    # about -2.1 (seeds 0 and 1 reached -2.1 and all 8 targets, final distance at most 0.025, in 6 iterations); we
    # ask for all 4 training targets and 3 of the 4 held-out targets between them.
    summary = start_run(RunSpec("gps", "reverie/PointMass2D-v0", 0, 120, None, FAST, {}, tmp_path / "r"), show=False)
    assert summary["gps_iterations"] == 6
    assert np.mean(summary["episode_returns"][:20]) < -20
    assert np.mean(summary["episode_returns"][-20:]) > -4
    assert summary["eval_success_rate_train"] == 1.0
    assert summary["eval_success_rate_heldout"] >= 0.75
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert {"policy/kl", "policy/eta", "policy/step_size", "time/iteration_s"} <= set(rows[-1])


def test_gps_resumes_at_an_iteration_boundary_identically(tmp_path):
    sets = {"policy_epochs": "3", "prior_clusters": "4", "samples_per_condition": "3", "num_conditions": "2"}
    straight = start_run(
        RunSpec("gps", "reverie/PointMass2D-v0", 5, 18, None, sets, {}, tmp_path / "straight"), show=False
    )
    # 14 episodes: two whole iterations of 6 (checkpointed) and two episodes of the third, which are dropped
    start_run(RunSpec("gps", "reverie/PointMass2D-v0", 5, 14, None, sets, {}, tmp_path / "split"), show=False)
    record = json.loads((tmp_path / "split" / "config.json").read_text())
    record["episodes"] = 18
    (tmp_path / "split" / "config.json").write_text(json.dumps(record))
    (tmp_path / "split" / "summary.json").unlink()
    assert main(["resume", str(tmp_path / "split"), "--quiet"]) == 0
    resumed = json.loads((tmp_path / "split" / "summary.json").read_text())
    assert resumed["gps_iterations"] == straight["gps_iterations"] == 3
    np.testing.assert_allclose(resumed["episode_returns"], straight["episode_returns"], rtol=1e-9)
    assert resumed["eval_final_distance_train"] == pytest.approx(straight["eval_final_distance_train"], rel=1e-6)


@pytest.mark.parametrize(
    ("env", "sets", "words"),
    [
        ("FrozenLake-v1", [], ["Box"]),
        ("Pendulum-v1", [], ["known cost"]),
        ("reverie/PointMass2D-v0", ["kl_step=0"], ["kl_step"]),
        ("reverie/PointMass2D-v0", ["samples_per_condition=1"], ["samples_per_condition"]),
        ("reverie/TwoLinkArm-v0", ["num_conditions=5"], ["num_conditions must be at most 4"]),
    ],
)
def test_bad_input_for_gps_is_one_line(cli_error, tmp_path, env, sets, words):
    argv = ["train", "gps", "--env", env, "--episodes", "1", "--out", str(tmp_path / "r")]
    for item in sets:
        argv += ["--set", item]
    line = cli_error(argv)
    assert all(word in line for word in words), line
    assert not (tmp_path / "r").exists()  # refused before the run directory is made
