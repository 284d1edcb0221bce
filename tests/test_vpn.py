"""Value Prediction Network (Oh et al. 2017): the batched b-best planner with VPN's pruning, the n-step targets, the
k-step prediction losses, the random-policy data, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.algorithms.vpn import Config, RandomData, n_step_targets, option_values, planes_of, random_dataset
from reverie.learners.vpn_nets import OPNNet, QNet, VPNNet, k_step_losses
from reverie.planners.tree import bbest_root_q, bbest_search

# -- the hand-made 2-level tree of tests/test_tree_search.py, two roots at once --------------------------------------
# From state s, action a leads to 2s + 1 + a; the second root is state 2 (its children 5 and 6). gamma = 0.9.
NEXT = [[2 * s + 1, 2 * s + 2] for s in range(7)]
REWARD = [[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]] + [[0.0, 0.0]] * 4
CONTINUES = [[1.0, 1.0], [1.0, 1.0], [0.0, 1.0]] + [[1.0, 1.0]] * 4
VALUES = torch.tensor([0.5, 4.0, 6.0, 1.0, 0.0, 10.0, 2.0] + [0.0] * 8)
GAMMA = 0.9


def expand(states, actions):
    s, a = states[:, 0].long(), actions
    table = torch.tensor(NEXT), torch.tensor(REWARD), torch.tensor(CONTINUES)
    return table[0][s, a].float().unsqueeze(1), table[1][s, a], table[2][s, a]


def value(states):
    return VALUES[states[:, 0].long()]


def test_batched_roots_equal_one_search_per_root():
    roots = torch.tensor([[0.0], [2.0]])
    q, stats = bbest_root_q(roots, expand, 2, (2, 2), discount=GAMMA, backup="vpn", leaf_value=value)
    for row, root in enumerate(roots):
        alone = bbest_search(root, expand, 2, (2, 2), discount=GAMMA, backup="vpn", leaf_value=value)
        torch.testing.assert_close(q[row], alone.root_q)
    # root 0 by hand (test_tree_search): (3.7, 4.05); root 2: its children 5 (ended, r=3) and 6 (r=1); s6's children
    # 13, 14 have r=0 and v=0: V^1(s6) = 2/2 + 1/2 * 0 = 1 -> Q(s2, .) = (3 + 0, 1 + .9 * 1) = (3.0, 1.9)
    torch.testing.assert_close(q, torch.tensor([[3.7, 4.05], [3.0, 1.9]]))
    assert stats.nodes == 6 + 4  # root 0: 2 + 4 nodes; root 2: 2 + 2 (s5 ended: no children)


def test_pruning_by_expansion_keeps_the_child_of_best_one_step_q():
    # branching (2, 1): every child of s1 and s2 is expanded, the better by r + gamma * c * v(s') kept:
    # s1: (0 + .9 * 1, 2 + .9 * 0) = (0.9, 2.0) keeps s4; s2: (3 + 0, 1 + .9 * 2) = (3.0, 2.8) keeps s5
    # max backup: V(s1) = 2.0, V(s2) = 3.0 -> Q(s0) = (1 + 1.8, 0 + 2.7); q_estimate pruning would keep action 0
    roots = torch.zeros(1, 1)
    q, stats = bbest_root_q(roots, expand, 2, (2, 1), discount=GAMMA, leaf_value=value, prune="expansion")
    torch.testing.assert_close(q, torch.tensor([[2.8, 2.7]]))
    assert (stats.nodes, stats.rows) == (4, 6)  # 2 + 2 kept of 2 + 4 expanded
    with pytest.raises(ValueError, match="leaf_value"):
        bbest_root_q(roots, expand, 2, (2, 1), prune="expansion")


def test_a_root_action_not_kept_is_minus_infinity():
    q, _ = bbest_root_q(torch.zeros(1, 1), expand, 2, (1,), discount=GAMMA, leaf_value=value, prune="expansion")
    # Q1(s0, .) = (1 + .9 * 4, 0 + .9 * 6) = (4.6, 5.4): only action 1 is kept
    assert q[0, 0] == -float("inf") and q[0, 1] == pytest.approx(5.4)


# -- n-step targets and k-step losses ------------------------------------------------------------------------------
def test_n_step_targets_discount_each_option_by_its_length():
    rewards = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])
    lengths = torch.tensor([[1.0, 2.0, 1.0], [3.0, 1.0, 1.0]])
    valid = torch.tensor([[True, True, True], [True, True, False]])  # the second env's episode ended after 2 options
    bootstrap = torch.tensor([10.0, 0.0])
    g = 0.5
    out = n_step_targets(rewards, lengths, valid, bootstrap, g)
    r2 = 3 + g * 10
    r1 = 2 + g**2 * r2
    expected0 = [1 + g * r1, r1, r2, 10.0]
    b1 = -1 + g * 0.0
    expected1 = [1 + g**3 * b1, b1, 0.0, 0.0]
    torch.testing.assert_close(out, torch.tensor([expected0, expected1]))


class CountingNet:
    """A stand-in model: every prediction is 0, so each (t, l) pair adds huber(r_t) to the reward loss."""

    def encode(self, planes):
        return planes[:, :1, :1, :1].flatten(1)

    def step(self, states, options):
        zeros = torch.zeros(len(states))
        return states + 1, zeros, torch.ones(len(states)), zeros

    def value(self, states):
        return torch.zeros(len(states))


def test_k_step_losses_count_every_depth_up_to_k_once():
    rewards = torch.tensor([[0.2, 0.4, 0.6, 0.8]])
    planes = torch.zeros(1, 4, 4, 10, 10)
    options = torch.zeros(1, 4, dtype=torch.int64)
    valid = torch.ones(1, 4, dtype=torch.bool)
    losses = k_step_losses(CountingNet(), planes, options, valid, rewards, torch.zeros(1, 4), targets=None, k=2)
    # depths per step: t=0: 1, t>=1: 2 (k = 2); Huber within 1 is r^2 / 2
    expected = 0.5 * (0.2**2 + 2 * 0.4**2 + 2 * 0.6**2 + 2 * 0.8**2)
    assert float(losses["reward"]) == pytest.approx(expected)
    # steps past a segment's end count nothing, whatever they hold
    valid[0, 2:] = False
    shorter = k_step_losses(CountingNet(), planes, options, valid, rewards * 100, torch.zeros(1, 4), targets=None, k=2)
    assert float(shorter["reward"]) == pytest.approx(_huber_sum([20.0, 40.0, 40.0]))  # t=0 once, t=1 twice


def _huber_sum(errors):
    return sum(0.5 * e * e if abs(e) < 1 else abs(e) - 0.5 for e in errors)


@pytest.mark.parametrize("cls", [VPNNet, OPNNet])
def test_the_losses_backpropagate_into_every_part_of_the_model(cls):
    torch.manual_seed(0)
    net = cls((4, 4), hidden=8)
    planes = torch.rand(2, 3, 4, 10, 10).round()
    options = torch.tensor([[2, 3, 0], [1, 0, 1]])  # every option before the last step (OPN's last has no x')
    valid = torch.ones(2, 3, dtype=torch.bool)
    losses = k_step_losses(
        net, planes, options, valid, torch.rand(2, 3), torch.ones(2, 3), targets=torch.rand(2, 4), k=2
    )
    sum(losses.values()).backward()
    silent = [name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, silent


# -- the data and the planner on real Collect observations ---------------------------------------------------------
def test_random_segments_never_cross_an_episode_end():
    data = random_dataset(3000, {}, np.random.default_rng(0), envs=8)
    assert isinstance(data, RandomData) and len(data.last) == 3000
    planes, _, _, _, valid = data.sample(500, 10, np.random.default_rng(1))
    time_left = planes[:, :, 3, 0, 0]
    # inside a valid segment time only runs down (a new episode would restart it at 1)
    later = valid[:, 1:] & valid[:, :-1]
    assert (time_left[:, 1:][later] < time_left[:, :-1][later]).all()
    assert valid[:, 0].all() and (valid[:, 1:] <= valid[:, :-1]).all()  # left-aligned


@pytest.mark.parametrize("network", ["vpn", "opn", "dqn"])
def test_option_values_for_a_batch_of_observations(network):
    torch.manual_seed(0)
    config = Config(network=network, filters="4,4", hidden=8, branching="4,1")
    from reverie.algorithms.vpn import make_network

    net = make_network(config)
    data = random_dataset(20, {}, np.random.default_rng(0), envs=4)
    planes = planes_of(data.obs[:6], data.time_left[:6])
    q = option_values(net, planes, config, chunk=4)
    assert q.shape == (6, 4) and torch.isfinite(q).all()
    if network != "dqn":  # one root at a time gives the same values
        torch.testing.assert_close(option_values(net, planes, config, chunk=1), q)
    assert isinstance(net, {"vpn": VPNNet, "opn": OPNNet, "dqn": QNet}[network])


# -- bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "sets", "words"),
    [
        ("CartPole-v1", [], "reverie/Collect-v0"),
        ("reverie/Collect-v0", ["branching=5,1"], "at most the 4 options"),
        ("reverie/Collect-v0", ["filters=a,b"], "filters"),
        ("reverie/Collect-v0", ["network=ppo"], "network"),
    ],
)
def test_bad_input_is_one_line(cli_error, tmp_path, env, sets, words):
    argv = ["train", "vpn", "--env", env, "--steps", "10", "--out", str(tmp_path / "run")]
    for item in sets:
        argv += ["--set", item]
    assert words in cli_error(argv)


# -- learning ------------------------------------------------------------------------------------------------------
def test_the_outcome_model_learns_which_options_bump_into_a_wall():
    # VPN's outcome function trained by k_step_losses on random-policy options (1-step segments, Adam at 1e-3,
    # 64 segments a step). Among options one primitive step long, the reward is -0.5 for a bump into a wall and
    # -0.2 (or +2, a goal) otherwise; whether an option bumps depends on the wall next to the agent in the option's
    # direction, so only a model that reads the image per option can tell them apart. The majority class (no bump)
    # is right 61% of the time; the Huber regression of the authors' loss separates -0.5 from -0.2 slowly (81% at
    # 2,000 steps, measured; a classifier on the same data reaches 99.9%), so the bar is the majority plus 15 points.
    # An untrained model, or one whose option conditioning or masks are broken, stays at or below the majority.
    torch.manual_seed(0)
    data = random_dataset(20_000, {"option_discount": 0.98}, np.random.default_rng(0))
    net = VPNNet((16, 16, 32))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = np.random.default_rng(1)
    for _ in range(2000):
        planes, options, rewards, lengths, valid = data.sample(64, 1, generator)
        losses = k_step_losses(net, planes, options, valid, rewards, lengths, targets=None, k=1)
        optimizer.zero_grad()
        ((losses["reward"] + losses["length"]) / 64).backward()
        optimizer.step()
    planes, options, rewards, lengths, valid = data.sample(3000, 1, np.random.default_rng(2))
    with torch.no_grad():
        _, predicted, _, _ = net.step(net.encode(planes[:, 0]), options[:, 0])
    one_step = lengths[:, 0] == 1
    bump = rewards[:, 0][one_step] == -0.5
    accuracy = float(((predicted[one_step] < -0.35) == bump).float().mean())
    majority = max(float(bump.float().mean()), 1 - float(bump.float().mean()))
    assert accuracy > majority + 0.15, (accuracy, majority)


@pytest.mark.parametrize("cls", [VPNNet, OPNNet])
def test_one_pass_over_on_policy_and_random_segments_equals_two(cls):
    from reverie.algorithms.vpn import _joined

    torch.manual_seed(0)
    net = cls((4, 4), hidden=8)
    data = random_dataset(400, {}, np.random.default_rng(0), envs=4)
    r_planes, r_options, r_rewards, r_lengths, r_valid = data.sample(3, 5, np.random.default_rng(1))
    # three on-policy segments of 4 steps, the last ended after 2
    planes, options = r_planes[:, :4].flip(0), r_options[:, :4].flip(0)
    rewards, lengths = torch.rand(3, 4), torch.ones(3, 4)
    valid = torch.tensor([[True] * 4, [True] * 4, [True, True, False, False]])
    targets = torch.rand(3, 5)
    alone = k_step_losses(net, planes, options, valid, rewards, lengths, targets=targets, k=2)
    off = k_step_losses(net, r_planes, r_options, r_valid, r_rewards, r_lengths, targets=None, k=2)
    joined = _joined((planes, options, rewards, lengths, valid, targets),
                     (r_planes, r_options, r_rewards, r_lengths, r_valid), 5)  # fmt: skip
    j_planes, j_options, j_rewards, j_lengths, j_valid, j_targets = joined
    both = k_step_losses(net, j_planes, j_options, j_valid, j_rewards, j_lengths, targets=j_targets, k=2,
                         value_rows=torch.arange(6) < 3)  # fmt: skip
    for key in both:
        torch.testing.assert_close(both[key], alone[key] + off[key], rtol=1e-5, atol=1e-5)
