"""MA-BDDPG: the bootstrap masks (a head learns only from its own transitions), the per-head targets, the
uncertainty-driven share of imagined updates and its cap, and bad input refused in one line."""

import json

import pytest
import torch

from reverie.algorithms.ma_bddpg import imagination_probability, imagined_update_count, running_peak
from reverie.cli import main
from reverie.learners.bootstrapped_ddpg import (
    BootstrappedDDPG,
    BootstrappedDDPGConfig,
    bootstrapped_target,
    head_spread,
    masked_critic_loss,
)


def _learner(heads=3):
    torch.manual_seed(0)
    return BootstrappedDDPG(3, [-2.0], [2.0], BootstrappedDDPGConfig(hidden_size=16, hidden_size_2=8, heads=heads))


def _batch(mask):
    g = torch.Generator().manual_seed(3)
    n = mask.shape[0]
    return {"obs": torch.randn(n, 3, generator=g), "next_obs": torch.randn(n, 3, generator=g),
            "act": torch.rand(n, 1, generator=g) * 4 - 2, "reward": torch.randn(n, generator=g),
            "terminated": torch.zeros(n, dtype=torch.bool), "truncated": torch.zeros(n, dtype=torch.bool),
            "mask": mask}  # fmt: skip


def test_masked_critic_loss_by_hand():
    q = torch.tensor([[1.0, 3.0], [2.0, 2.0]])  # [K, B]
    target = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([[1, 1], [0, 1]])
    # head 0: (0 + 4) / 2 = 2; head 1 sees only row 1: 4 / 1 = 4; 1/2 mean over heads = 1/2 * 3
    assert masked_critic_loss(q, target, mask).item() == pytest.approx(1.5)
    # a head whose mask excludes every row adds nothing (and does not divide by zero)
    assert masked_critic_loss(q, target, torch.tensor([[1, 1], [0, 0]])).item() == pytest.approx(0.5 * 2 / 2)


def test_a_head_gets_no_gradient_from_a_transition_its_mask_excludes():
    learner = _learner()
    mask = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.bool)  # [B, K]: row 1 is not in head 0's sample
    batch = _batch(mask)
    obs, act = batch["obs"], learner.scale.to_unit(batch["act"])

    def head_gradients(target):
        learner.critic.zero_grad()
        masked_critic_loss(learner.critic(obs, act), target, mask.T).backward()
        return learner.critic.head_layer.net[0].weight.grad.clone()  # [K, hidden_2, 1]

    target = torch.zeros(3, 2)
    moved = target.clone()
    moved[:, 1] = 100.0  # a very different target for row 1 only
    before, after = head_gradients(target), head_gradients(moved)
    assert torch.equal(before[0], after[0])  # head 0 never sees row 1
    assert not torch.equal(before[1], after[1]) and not torch.equal(before[2], after[2])

    # by hand, head 0's gradient is (1/K) (Q_0(row 0) - y) phi(row 0) / 1, phi the torso's features of row 0
    with torch.no_grad():
        phi = torch.relu(learner.critic.torso(torch.cat([obs, act], dim=-1))[0])
        q0 = learner.critic(obs, act)[0, 0]
    assert torch.allclose(before[0, :, 0], (q0 - 0.0) * phi[0] / 3, atol=1e-6)


def test_an_update_leaves_a_head_whose_mask_excludes_the_whole_batch_untouched():
    learner = _learner()
    mask = torch.ones(8, 3, dtype=torch.bool)
    mask[:, 1] = False  # head 1 is in no row's sample
    weight, bias = learner.critic.head_layer.net[0].weight, learner.critic.head_layer.net[0].bias
    before_w, before_b = weight.detach().clone(), bias.detach().clone()
    learner.update(_batch(mask))
    assert torch.equal(weight[1], before_w[1]) and torch.equal(bias[1], before_b[1])
    assert not torch.equal(weight[0], before_w[0]) and not torch.equal(weight[2], before_w[2])


def test_each_head_bootstraps_from_its_own_target_and_terminated_rows_do_not():
    next_q = torch.tensor([[10.0, 10.0], [20.0, 20.0]])  # [K, B]
    y = bootstrapped_target(torch.tensor([1.0, 1.0]), torch.tensor([False, True]), next_q, 0.5)
    assert torch.equal(y, torch.tensor([[6.0, 1.0], [11.0, 1.0]]))
    assert torch.allclose(head_spread(next_q), torch.tensor([5.0, 5.0]))  # population std over the heads
    assert torch.equal(head_spread(next_q[:1]), torch.zeros(2))  # one head: no spread, so no imagination


def test_the_imagination_probability_is_monotone_in_the_uncertainty_and_bounded():
    peak = 2.0
    grid = [0.0, 0.1, 0.5, 1.0, 1.5, 1.8, 2.0, 3.0, 10.0]
    chances = [imagination_probability(u, running_peak(peak, u, 0.9)) for u in grid]
    assert chances == sorted(chances) and chances[0] == 0.0 and chances[-1] == 1.0
    assert all(0.0 <= p <= 1.0 for p in chances)
    assert chances[3] == pytest.approx(1.0 / (0.9 * 2.0))  # below the decayed peak: sigma / (decay * peak)
    assert imagination_probability(0.0, 0.0) == 0.0  # nothing uncertain yet: no imagination


def test_the_imagined_update_count_follows_the_probability_and_never_exceeds_the_cap():
    g = torch.Generator().manual_seed(0)
    means = []
    for p in (0.0, 0.25, 0.5, 0.75, 1.0):
        counts = [imagined_update_count(p, 4, g) for _ in range(2000)]
        assert max(counts) <= 4
        means.append(sum(counts) / len(counts))
    assert means[0] == 0.0 and means[-1] == 4.0 and means == sorted(means)
    assert means[2] == pytest.approx(2.0, abs=0.15)  # Binomial(4, 0.5): 2 on average
    assert imagined_update_count(1.0, 0, g) == 0


def test_a_run_logs_uncertainty_and_keeps_the_realised_ratio_under_the_cap(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "ma-bddpg", "--env", "Pendulum-v1", "--episodes", "3", "--quiet", "--out", str(out),
            "--set", "hidden_size=16", "--set", "hidden_size_2=8", "--set", "batch_size=16", "--set", "heads=4",
            "--set", "learning_starts=50", "--set", "model_starts=100", "--set", "imagined_per_step=16",
            "--set", "max_imagined_ratio=2", "--set", "model.hidden_size=16", "--set", "model.num_layers=1",
            "--set", "model.epochs=2"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    episodes = [r for r in rows if "ma_bddpg/imagined_ratio" in r]
    assert len(episodes) == 3 and all(0.0 <= r["ma_bddpg/imagined_ratio"] <= 2.0 for r in episodes)
    assert all(r["ma_bddpg/uncertainty"] > 0 for r in episodes)  # the heads disagree from the start
    summary = json.loads((out / "summary.json").read_text())
    assert 0 < summary["imagined_updates"] <= 2 * summary["real_updates"]
    assert 0 < summary["imagined_ratio"] <= 2.0


@pytest.mark.parametrize("key", ["max_imagined_ratio=-1", "heads=0", "mask_probability=0", "model.train_every=0"])
def test_bad_settings_are_one_line_and_leave_no_run_directory(key, tmp_path, cli_error):
    out = tmp_path / "run"
    line = cli_error(["train", "ma-bddpg", "--env", "Pendulum-v1", "--steps", "10", "--set", key, "--out", str(out)])
    assert key.split("=")[0].split(".")[-1] in line and not out.exists()


def test_discrete_actions_are_refused_in_one_line(tmp_path, cli_error):
    line = cli_error(["train", "ma-bddpg", "--env", "CartPole-v1", "--steps", "10", "--out", str(tmp_path / "r")])
    assert "Box" in line and not (tmp_path / "r" / "config.json").exists()
