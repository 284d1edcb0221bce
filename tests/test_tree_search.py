"""Tree search over discrete actions (planners/tree.py): UCT on bandits, b-best and VPN backups on a hand-made tree,
exhaustive search against brute force, CartPole-v1 balanced through PETS with the true model, and bad input."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Discrete

from reverie.errors import UserError
from reverie.planners.mpc import MPCController, make_controller
from reverie.planners.shooting import make_planner
from reverie.planners.tree import (
    TreeConfig,
    TreeController,
    TreeSearch,
    bbest_search,
    build_tree_search,
    uct_search,
)
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def table_model(next_state, reward, continues):
    """``expand`` of a deterministic model on integer states: states [N, 1] float holding the state's index."""
    next_state, reward, continues = (torch.as_tensor(x) for x in (next_state, reward, continues))

    def expand(states, actions):
        s = states[:, 0].long()
        return next_state[s, actions].float().unsqueeze(1), reward[s, actions].float(), continues[s, actions].float()

    return expand


# -- UCT on bandits: depth 1 -------------------------------------------------------------------------------------
def test_uct_picks_the_best_arm_of_a_deterministic_bandit():
    means = torch.tensor([0.2, 0.9, 0.5, 0.4])
    expand = table_model(torch.zeros(1, 4, dtype=torch.long), means[None], torch.zeros(1, 4))
    result = uct_search(torch.zeros(1), expand, 4, depth=1, simulations=50, exploration=1.414, generator=gen(0))
    assert result.action == 1 and result.actions.tolist() == [1]
    torch.testing.assert_close(result.root_q, means)  # every arm tried, each Q its reward exactly
    assert result.stats.nodes == 4 and result.stats.depth == 1 and result.stats.branching == 4.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uct_picks_the_best_arm_of_a_noisy_bandit(seed):
    # arm a leads to state a (reward 0); the one-step random rollout from there pays mean[a] + N(0, 0.3^2), so every
    # visit of an arm draws a fresh reward, as a bandit pull does. Best arm 3 (0.7) beats the next (0.5) by 0.2, 2/3
    # of the noise std: 400 pulls tell them apart, and most of them go to the best arm (UCB1's log-regret)
    means = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.2])
    noise = gen(100 + seed)

    def expand(states, actions):
        s = states[:, 0].long()
        at_root = s < 0
        rewards = torch.where(at_root, 0.0, means[s.clamp(min=0)] + 0.3 * torch.randn(len(s), generator=noise))
        next_states = torch.where(at_root, actions, s).float().unsqueeze(1)
        return next_states, rewards, torch.ones(len(s))

    result = uct_search(
        torch.full((1,), -1.0), expand, 5, depth=1, simulations=400, exploration=1.414, rollout_length=1,
        generator=gen(seed),
    )  # fmt: skip
    assert result.action == 3
    assert abs(result.root_q[3] - 0.7) < 0.1 and result.stats.nodes == 5


# -- b-best and VPN backups on a hand-made 2-level tree ----------------------------------------------------------
# States are heap indices: from state s, action a leads to 2s + 1 + a. gamma = 0.9.
#   depth 1: s1 (a=0, r=1), s2 (a=1, r=0)
#   depth 2: from s1: s3 (r=0), s4 (r=2); from s2: s5 (r=3, terminates: c=0), s6 (r=1)
# values v: v(s0)=0.5, v(s1)=4, v(s2)=6, v(s3)=1, v(s4)=0, v(s5)=10 (never used: s5 ended the episode), v(s6)=2
NEXT = [[2 * s + 1, 2 * s + 2] for s in range(3)]
REWARD = [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]]
CONTINUES = [[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]]
VALUES = torch.tensor([0.5, 4.0, 6.0, 1.0, 0.0, 10.0, 2.0])
GAMMA = 0.9


def leaf_value(states):
    return VALUES[states[:, 0].long()]


def hand_tree(**kwargs):
    return bbest_search(
        torch.zeros(1), table_model(NEXT, REWARD, CONTINUES), 2, kwargs.pop("branching", (2, 2)), discount=GAMMA,
        leaf_value=leaf_value, generator=gen(0), **kwargs,
    )  # fmt: skip


def test_bbest_max_backup_on_a_hand_made_tree():
    # Q(s1, .) = (0 + .9 * 1, 2 + .9 * 0) = (0.9, 2.0) -> V(s1) = 2
    # Q(s2, .) = (3 + .9 * 0 * 10, 1 + .9 * 2) = (3.0, 2.8) -> V(s2) = 3 (the terminal step's reward still counts)
    # Q(s0, .) = (1 + .9 * 2, 0 + .9 * 3) = (2.8, 2.7) -> action 0, then action 1 at s1
    result = hand_tree()
    torch.testing.assert_close(result.root_q, torch.tensor([2.8, 2.7]))
    assert result.action == 0 and result.actions.tolist() == [0, 1] and result.value == pytest.approx(2.8)
    assert result.stats == (6, 2, 6, 2, 2.0)  # nodes, calls, rows, depth, branching


def test_vpn_backup_on_a_hand_made_tree():
    # Oh et al. 2017, k = depth still to go: V^k(s) = v(s) / (k + 1) + k / (k + 1) max_a Q^k(s, a), V^0 = v
    # V^1(s1) = 4/2 + 1/2 max(0.9, 2.0) = 3.0;  V^1(s2) = 6/2 + 1/2 max(3.0, 2.8) = 4.5
    # Q(s0, .) = (1 + .9 * 3.0, 0 + .9 * 4.5) = (3.7, 4.05): the node values turn the choice to action 1
    result = hand_tree(backup="vpn")
    torch.testing.assert_close(result.root_q, torch.tensor([3.7, 4.05]))
    assert result.action == 1 and result.actions.tolist() == [1, 0]


def test_bbest_expands_the_b_best_actions_by_q_estimate():
    # branching (2, 1): at depth 2 only the action q_estimate ranks first (always 0 here) is expanded
    # V(s1) = Q(s1, 0) = 0.9, V(s2) = Q(s2, 0) = 3.0; Q(s0, .) = (1 + .9 * .9, .9 * 3) = (1.81, 2.7)
    result = hand_tree(branching=(2, 1), q_estimate=lambda s: torch.tensor([[1.0, 0.0]]).expand(len(s), -1))
    torch.testing.assert_close(result.root_q, torch.tensor([1.81, 2.7]))
    assert result.action == 1 and result.stats.nodes == 4 and result.stats.branching == pytest.approx(4 / 3)
    # without an estimate a random subset is expanded: still b per node
    assert hand_tree(branching=(1, 1)).stats.nodes == 2


# -- exhaustive search equals brute force ------------------------------------------------------------------------
def brute_force(next_state, reward, continues, values, depth, gamma):
    """max over every action sequence from state 0 of sum_t gamma^t (prod_{tau<t} c_tau) r_t + gamma^d (prod c) v,
    per first action."""
    n_actions = len(reward[0])
    best = np.full(n_actions, -np.inf)
    for seq in itertools.product(range(n_actions), repeat=depth):
        s, total, weight = 0, 0.0, 1.0
        for a in seq:
            total += weight * reward[s][a]
            weight *= gamma * continues[s][a]
            s = next_state[s][a]
        best[seq[0]] = max(best[seq[0]], total + weight * values[s])
    return best


@pytest.mark.parametrize("seed", range(4))
def test_exhaustive_search_equals_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    n_states, n_actions, depth, gamma = 7, 3, 4, 0.95
    next_state = rng.integers(n_states, size=(n_states, n_actions))
    reward = rng.normal(size=(n_states, n_actions))
    # mostly going on, some terminations and some learned-style probabilities of going on
    continues = rng.choice([1.0, 1.0, 1.0, 0.0, 0.6], size=(n_states, n_actions))
    values = rng.normal(size=n_states)
    expected = brute_force(next_state, reward, continues, values, depth, gamma)
    expand = table_model(next_state, reward, continues)

    def value(states):
        return torch.as_tensor(values, dtype=torch.float32)[states[:, 0].long()]

    result = bbest_search(
        torch.zeros(1), expand, n_actions, (n_actions,) * depth, discount=gamma, leaf_value=value, generator=gen(0)
    )
    np.testing.assert_allclose(result.root_q.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert result.action == int(expected.argmax())
    # terminated nodes are not expanded: fewer nodes than the full 3 + 9 + 27 + 81 when any branch ended
    assert result.stats.nodes <= 120 and result.stats.depth == depth
    # UCT on the same deterministic tree (at most 120 nodes) converges to the same first action
    uct = uct_search(
        torch.zeros(1), expand, n_actions, depth=depth, simulations=3000, exploration=1.414, discount=gamma,
        leaf_value=value, generator=gen(seed),
    )  # fmt: skip
    assert uct.action == int(expected.argmax())


def test_a_diverged_prediction_is_never_chosen():
    def expand(states, actions):  # action 0 pays more, but its next state is NaN
        nxt = torch.where(actions[:, None] == 0, math.nan, states)
        return nxt, torch.where(actions == 0, 5.0, 1.0), torch.ones(len(actions))

    for search in ("bbest", "uct"):
        result = TreeSearch(TreeConfig(search=search, depth=3, simulations=30), 2).plan(torch.zeros(2), expand, gen(0))
        assert result.action == 1 and result.actions.tolist() == [1, 1, 1], search


# -- MPC loop ----------------------------------------------------------------------------------------------------
def test_the_controller_replans_every_replan_every_steps_and_reports_planner_metrics():
    expand = table_model(NEXT + [[0, 0]] * 4, REWARD + [[0.0, 0.0]] * 4, CONTINUES + [[1.0, 1.0]] * 4)
    search = TreeSearch(TreeConfig(depth=2), 2)
    controller = make_controller(search, replan_every=2)
    assert isinstance(controller, TreeController)
    assert isinstance(make_controller(make_planner("random", {"planning_horizon": 3}, Discrete(2))), MPCController)
    actions = [int(controller.act(torch.zeros(1), expand, gen(0))) for _ in range(4)]
    assert actions == [0, 1, 0, 1] and controller.plans == 2  # the greedy path's two actions, then a re-plan
    metrics = controller.metrics()
    assert metrics["planner/nodes_expanded"] == 6 and metrics["planner/depth"] == 2
    assert metrics["planner/branching"] == 2 and metrics["planner/nodes_per_s"] > 0
    assert set(metrics) >= {"planner/seconds_per_step", "planner/model_evals_per_s"}


# -- CartPole-v1 through PETS with the true model ----------------------------------------------------------------
def test_tree_search_balances_cartpole_v1_with_the_true_model(tmp_path):
    # Exhaustive depth-10 search (2046 nodes a step, 10 batched calls) through the torch CartPole-v1 dynamics.
    # Random actions last about 22 steps; the search holds the pole for the full 500-step episode (seeds 0-3 all
    # did when measured). About 5 s on one core.
    overrides = {"planner": "tree", "dynamics": "simulator"}
    summary = start_run(
        RunSpec("pets", "CartPole-v1", seed=0, episodes=1, overrides=overrides, out=tmp_path / "r"), show=False
    )
    assert summary["episode_lengths"] == [500]
    metrics = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["planner/depth"] == 10 and metrics[-1]["planner/branching"] == 2


def test_uct_runs_through_pets_and_records_its_settings(tmp_path):
    overrides = {"planner": "tree", "planner.search": "uct", "planner.simulations": "30", "dynamics": "simulator"}
    summary = start_run(
        RunSpec("pets", "CartPole-v1", seed=0, steps=15, overrides=overrides, out=tmp_path / "r"), show=False
    )
    assert summary["env_steps"] == 15
    config = json.loads((tmp_path / "r" / "config.json").read_text())["config"]["planner"]
    assert config["name"] == "tree" and config["search"] == "uct" and config["simulations"] == 30


# -- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "sets", "words"),
    [
        ("reverie/PointMass-v0", [], ["Discrete actions", "Box"]),
        ("CartPole-v1", ["planner.depth=0"], ["depth", "[1, 1000]", "got 0"]),
        ("CartPole-v1", ["planner.branching=2,2"], ["branching lists 2 counts but depth is 10"]),
        ("CartPole-v1", ["planner.branching=3"], ["branching 3 exceeds the env's 2 actions"]),
        ("CartPole-v1", ["planner.branching=0"], ["at least 1"]),
        ("CartPole-v1", ["planner.branching=four"], ["comma-separated whole numbers"]),
        ("CartPole-v1", ["planner.depth=40"], ["would hold", "nodes"]),
        ("CartPole-v1", ["planner.discount=1.5"], ["discount"]),
        ("CartPole-v1", ["planner.simulations=0"], ["simulations"]),
        ("CartPole-v1", ["planner.exploration=-1"], ["exploration"]),
        ("CartPole-v1", ["planner.search=astar"], ["search", "bbest, uct"]),
        ("CartPole-v1", ["replan_every=11"], ["replan_every"]),
    ],
)
def test_bad_input_for_tree_search_is_one_line(cli_error, tmp_path, env, sets, words):
    argv = ["train", "pets", "--env", env, "--episodes", "1", "--out", str(tmp_path / "r"), "--set", "planner=tree"]
    for item in sets:
        argv += ["--set", item]
    line = cli_error(argv)
    assert all(word in line for word in words), line
    assert not (tmp_path / "r").exists()  # refused before a run directory exists


def test_bad_configs_raise_user_errors_from_python_too():
    for kwargs in ({"depth": 0}, {"branching": "1,2"}, {"discount": -0.1}, {"rollout_length": -1}, {"search": "x"}):
        with pytest.raises(UserError):
            TreeConfig(**kwargs)
    assert TreeConfig(depth=3, branching=(2, 1, 1)).branching_per_depth(4) == (2, 1, 1)
    assert TreeConfig(depth=3, branching="2").branching_per_depth(4) == (2, 2, 2)
    assert TreeConfig(depth=2).branching_per_depth(5) == (5, 5)
    with pytest.raises(UserError, match="Discrete actions"):
        build_tree_search(TreeConfig(), Box(-1.0, 1.0, (1,)))
    with pytest.raises(UserError, match="starts at 0"):
        build_tree_search(TreeConfig(), Discrete(3, start=1))
