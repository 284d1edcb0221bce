"""ModelEnv: a batch of rows stepped through an ensemble, with hand-computable members.

The toy ensemble is linear and deterministic: member e maps (s, a) to s + (e + 1) a, learns the reward
10 (e + 1) and terminates exactly when e is the last member, so each output names the member that made it.
"""

import pytest
import torch

from reverie.errors import UserError
from reverie.models.dynamics import DynamicsModel
from reverie.models.model_env import ModelEnv


class Linear:
    """Member e: next = obs + (e + 1) * act[..., :1]; learned reward 10 (e + 1); terminated iff e = E - 1."""

    def __init__(self, ensemble_size=3, learned_heads=True):
        self.ensemble_size, self.learned_heads, self.calls = ensemble_size, learned_heads, []

    def predict(self, obs, act, sample=True, generator=None):
        self.calls.append({"obs": obs.clone(), "act": act.clone(), "sample": sample, "generator": generator})
        scale = torch.arange(1, obs.shape[0] + 1, dtype=obs.dtype)[:, None]  # [E, 1]
        next_obs = obs + (scale * act[..., 0])[..., None]
        if not self.learned_heads:
            return next_obs, None, None
        return next_obs, 10 * scale.expand(obs.shape[:2]), (scale == obs.shape[0]).expand(obs.shape[:2])


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_fixed_members_move_each_block_of_rows_by_its_member():
    env = ModelEnv(Linear(3), members="fixed")
    env.reset(torch.zeros(6, 2))
    next_obs, reward, terminated = env.step(torch.ones(6, 1), gen(0))
    assert next_obs[:, 0].tolist() == [1, 1, 2, 2, 3, 3]  # row r: member r // (6 / 3)
    assert reward.tolist() == [10, 10, 20, 20, 30, 30] and reward.dtype == torch.float32
    assert terminated.tolist() == [False, False, False, False, True, True]
    next_obs, _, _ = env.step(torch.ones(6, 1), gen(0))  # the state carries over: two steps of the same member
    assert next_obs[:, 1].tolist() == [2, 2, 4, 4, 6, 6]


def test_random_members_give_every_row_some_members_prediction_and_depend_on_the_seed():
    rows = 30
    act = torch.arange(1, rows + 1, dtype=torch.float32)[:, None]  # row r acts r + 1: pairing is checkable
    used = []
    for seed in (0, 0, 1):
        env = ModelEnv(Linear(3), members="random")
        env.reset(torch.zeros(rows, 1))
        next_obs, reward, terminated = env.step(act, gen(seed))
        member = next_obs[:, 0] / act[:, 0] - 1  # s' = (e + 1) a, so every row reveals its member
        assert torch.equal(member, member.round()) and set(member.long().tolist()) == {0, 1, 2}
        assert torch.bincount(member.long()).tolist() == [10, 10, 10]  # each member moves N / E rows
        assert torch.equal(reward, 10 * (member + 1))  # the learned heads follow their rows back
        assert torch.equal(terminated, member == 2)
        used.append(member)
    assert torch.equal(used[0], used[1]) and not torch.equal(used[0], used[2])
    fixed = torch.arange(rows) // 10
    assert not torch.equal(used[0].long(), fixed)


def test_mean_members_average_every_members_prediction():
    model = Linear(3)
    env = ModelEnv(model, members="mean")
    env.reset(torch.zeros(4, 1))  # any number of rows: every member moves every row
    next_obs, reward, terminated = env.step(torch.tensor([[1.0], [2.0], [0.0], [-3.0]]), gen(0))
    assert next_obs[:, 0].tolist() == [2.0, 4.0, 0.0, -6.0]  # mean of 1, 2, 3 is 2
    assert reward.tolist() == [20.0] * 4
    assert terminated.tolist() == [False] * 4  # one of three members terminates: the majority does not
    assert model.calls[0]["obs"].shape == (3, 4, 1)


def test_mean_of_a_real_ensemble_is_the_average_of_its_members_means():
    torch.manual_seed(0)
    model = DynamicsModel(3, 2, ensemble_size=4, hidden_size=16, num_layers=2)
    obs, act = torch.randn(5, 3, generator=gen(1)), torch.randn(5, 2, generator=gen(2))
    env = ModelEnv(model, lambda o, a, n: n.sum(-1), members="mean", sample=False)
    env.reset(obs)
    next_obs, reward, _ = env.step(act, gen(0))
    members, _, _ = model.predict(obs.expand(4, -1, -1), act.expand(4, -1, -1), sample=False)
    torch.testing.assert_close(next_obs, members.mean(dim=0))
    torch.testing.assert_close(reward, members.mean(dim=0).sum(-1))


def test_fixed_members_of_a_real_ensemble_match_its_member_major_predict():
    torch.manual_seed(0)
    model = DynamicsModel(3, 2, ensemble_size=2, hidden_size=16, num_layers=1)
    obs, act = torch.randn(6, 3, generator=gen(1)), torch.randn(6, 2, generator=gen(2))
    env = ModelEnv(model, lambda o, a, n: n[:, 0])
    env.reset(obs)
    next_obs, _, _ = env.step(act, gen(3))
    direct, _, _ = model.predict(obs.view(2, 3, 3), act.view(2, 3, 2), sample=True, generator=gen(3))
    assert torch.equal(next_obs, direct.reshape(6, 3))


def test_known_reward_and_termination_replace_the_learned_heads():
    env = ModelEnv(
        Linear(2),
        reward_fn=lambda obs, act, next_obs: next_obs[:, 0] - obs[:, 0] + act[:, 0],
        termination_fn=lambda obs, act, next_obs: next_obs[:, 0] > 1.5,
    )
    env.reset(torch.ones(4, 1))
    next_obs, reward, terminated = env.step(torch.ones(4, 1), gen(0))
    assert next_obs[:, 0].tolist() == [2, 2, 3, 3]
    assert reward.tolist() == [2, 2, 3, 3]  # (e + 1) + 1, not the learned 10 (e + 1)
    assert terminated.tolist() == [True] * 4


def test_no_termination_anywhere_means_no_row_terminates_and_no_reward_is_an_error():
    env = ModelEnv(Linear(2, learned_heads=False), reward_fn=lambda o, a, n: n[:, 0])
    env.reset(torch.zeros(2, 1))
    _, _, terminated = env.step(torch.ones(2, 1), gen(0))
    assert terminated.dtype == torch.bool and terminated.tolist() == [False, False]
    env = ModelEnv(Linear(2, learned_heads=False))
    env.reset(torch.zeros(2, 1))
    with pytest.raises(UserError, match="no reward function"):
        env.step(torch.ones(2, 1), gen(0))


def test_discrete_actions_reach_the_model_one_hot_and_the_reward_as_indices():
    model = Linear(2)
    seen = []
    env = ModelEnv(model, reward_fn=lambda o, a, n: seen.append(a) or a.float(), n_discrete=3)
    env.reset(torch.zeros(4, 2))
    next_obs, reward, _ = env.step(torch.tensor([2, 0, 1, 0]), gen(0))
    assert model.calls[0]["act"].shape == (2, 2, 3) and next_obs.shape == (4, 2)
    assert torch.equal(model.calls[0]["act"].reshape(4, 3), torch.eye(3)[[2, 0, 1, 0]])
    assert seen[0].tolist() == [2, 0, 1, 0] and reward.tolist() == [2.0, 0.0, 1.0, 0.0]


def test_sample_flag_and_generator_reach_the_model():
    model = Linear(2)
    g = gen(0)
    env = ModelEnv(model, lambda o, a, n: n[:, 0], sample=False)
    env.reset(torch.zeros(2, 1))
    env.step(torch.ones(2, 1), g)
    assert model.calls[0]["sample"] is False and model.calls[0]["generator"] is g


def test_resample_replaces_the_predicted_states_before_the_reward_sees_them():
    env = ModelEnv(Linear(2), lambda o, a, n: n[:, 0], resample=lambda next_obs, g: next_obs * 0 + 7)
    env.reset(torch.zeros(2, 1))
    next_obs, reward, _ = env.step(torch.ones(2, 1), gen(0))
    assert next_obs.tolist() == [[7.0], [7.0]] and reward.tolist() == [7.0, 7.0]
    assert env.obs.tolist() == [[7.0], [7.0]]


def test_fixed_members_refuse_rows_that_do_not_split_and_random_members_pad_them():
    with pytest.raises(ValueError, match="multiples of 3"):
        ModelEnv(Linear(3), members="fixed").reset(torch.zeros(4, 1))
    with pytest.raises(ValueError, match="members"):
        ModelEnv(Linear(3), members="ts1")
    for rows in (1, 4, 5):  # padded up to 3 or 6 rows inside, the callers get exactly their rows back in order
        env = ModelEnv(Linear(3), lambda o, a, n: n[:, 0], members="random")
        start = torch.arange(rows, dtype=torch.float32)[:, None]
        env.reset(start)
        next_obs, reward, terminated = env.step(torch.ones(rows, 1), gen(0))
        assert next_obs.shape == (rows, 1) and reward.shape == (rows,) and terminated.shape == (rows,)
        # every row moved from its own start by some member's step (1, 2 or 3)
        assert set((next_obs - start).flatten().tolist()) <= {1.0, 2.0, 3.0}
