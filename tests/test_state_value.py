"""The TD(0) leaf value (learners/state_value.py), PETS's leaf_value=td with tree search, and the tree-vs-shooting
bench part's bookkeeping."""

import json

import numpy as np
import pytest
import torch

from reverie.bench.tree_vs_shooting import steps_to_threshold
from reverie.learners.state_value import TDValue
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run


def test_td_value_recovers_a_two_step_chain():
    # s=a -> s=b pays 0, s=b -> end pays 1: V(b) = 1, V(a) = gamma * V(b) = 0.9. A value that ignored the
    # bootstrap would give V(a) = 0, one that ignored termination would let V(b) grow past 1.
    torch.manual_seed(0)
    a, b = [0.0, 1.0], [1.0, 0.0]
    data = {
        "obs": np.array([a, b] * 32, np.float32),
        "next_obs": np.array([b, a] * 32, np.float32),  # b's next state is never used: it terminates
        "reward": np.array([0.0, 1.0] * 32, np.float32),
        "terminated": np.array([False, True] * 32),
    }
    value = TDValue(2, discount=0.9, target_every=50)
    metrics = value.fit(data, 1500, 64, torch.Generator().manual_seed(0))
    values = value.leaf_value(torch.tensor([a, b]))
    assert values[1] == pytest.approx(1.0, abs=0.03) and values[0] == pytest.approx(0.9, abs=0.03)
    assert metrics["value/td_loss"] < 1e-3 and int(value.updates) == 1500


def test_td_value_bootstraps_truncated_episodes_but_not_terminated_ones():
    # a self-loop paying 1 that is only ever truncated: V = 1 / (1 - gamma) = 2 at gamma 0.5, not 1
    torch.manual_seed(0)
    s = [[0.5]] * 16
    data = {"obs": np.array(s, np.float32), "next_obs": np.array(s, np.float32),
            "reward": np.ones(16, np.float32), "terminated": np.zeros(16, bool)}  # fmt: skip
    value = TDValue(1, discount=0.5, target_every=20)
    value.fit(data, 1500, 16, torch.Generator().manual_seed(1))
    assert float(value.leaf_value(torch.tensor([[0.5]]))[0]) == pytest.approx(2.0, abs=0.05)


def test_a_td_value_needs_a_discount_below_one():
    with pytest.raises(ValueError, match="discount"):
        TDValue(3, discount=1.0)


TREE_TD = {"planner": "tree", "planner.depth": "4", "planner.discount": "0.95", "leaf_value": "td",
           "value_updates": "20", "random_steps": "30", "epochs": "2", "hidden_size": "16",
           "num_layers": "1"}  # fmt: skip


def test_pets_tree_with_a_td_leaf_value_resumes_to_the_straight_run(tmp_path, resume_to):
    # the value, its target and its Adam state are in the checkpoint: a run stopped after 3 episodes and resumed
    # to 5 equals a straight run of 5 (returns and the last episode's value metrics)
    def run(out, episodes):
        spec = RunSpec("pets", "CartPole-v1", 0, episodes, None, TREE_TD, {}, out, checkpoint_every=1)
        return start_run(spec, show=False)

    straight = run(tmp_path / "straight", 5)
    run(tmp_path / "split", 3)
    resumed = resume_to(tmp_path / "split", 5)
    assert resumed["episode_returns"] == straight["episode_returns"]

    def last_value_metrics(folder):
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        return [row["value/mean"] for row in rows if "value/mean" in row]

    values = last_value_metrics(tmp_path / "straight")
    assert values and values == last_value_metrics(tmp_path / "split")


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["planner=cem", "leaf_value=td"], ["leaf_value=td", "planner=tree"]),
        (["planner=tree", "leaf_value=td"], ["planner.discount below 1"]),
        (["planner=tree", "leaf_value=mc"], ["leaf_value", "none, td"]),
        (["planner=tree", "planner.discount=0.9", "leaf_value=td", "value_updates=0"], ["value_updates"]),
    ],
)
def test_bad_leaf_value_settings_are_one_line(cli_error, tmp_path, sets, words):
    argv = ["train", "pets", "--env", "CartPole-v1", "--episodes", "1", "--out", str(tmp_path / "r")]
    for item in sets:
        argv += ["--set", item]
    line = cli_error(argv)
    assert all(word in line for word in words), line
    assert not (tmp_path / "r").exists()


def test_steps_to_threshold_counts_to_the_end_of_the_first_good_episode():
    assert steps_to_threshold([10, 480, 500], [10, 480, 500], 475) == 490
    assert steps_to_threshold([-500, -90], [500, 91], -100) == 591
    assert steps_to_threshold([10, 20], [10, 20], 475) is None
