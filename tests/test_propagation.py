"""Particle propagation through a learned ensemble (``score_sequences``): which member moves which particle
under each scheme, how returns are formed and cut by termination, and the argument checks.

Most tests use a real DynamicsModel whose ``predict`` is replaced by a deterministic one in which member e
adds e + 1, so the member that moved a particle can be read off its state."""

import math

import pytest
import torch

from reverie.errors import UserError
from reverie.models.dynamics import DynamicsModel
from reverie.planners.propagation import PROPAGATIONS, check_particles, score_sequences


def gen(seed):
    return torch.Generator().manual_seed(seed)


def model_with(predict, ensemble_size=4, obs_dim=2, act_dim=1, **kw):
    model = DynamicsModel(obs_dim, act_dim, ensemble_size=ensemble_size, hidden_size=8, num_layers=1, **kw)
    model.predict = predict
    return model


class Recorder:
    """Deterministic member-revealing dynamics, state [digits, running sum]:

    - digits = 10 * digits + (e + 1): after H steps its H decimal digits name the members used, step by step;
    - sum = sum + act + (e + 1): the action taken by the row and the member's offset.

    Every call's arguments are recorded."""

    def __init__(self):
        self.calls = []

    def __call__(self, obs, act, sample=True, generator=None):
        self.calls.append({"obs": obs.clone(), "act": act.clone(), "sample": sample, "generator": generator})
        members = obs.shape[0]
        offset = torch.arange(1, members + 1, dtype=obs.dtype)[:, None]  # [E, 1]
        digits = obs[..., 0] * 10 + offset
        total = obs[..., 1] + act[..., 0] + offset
        return torch.stack([digits, total], dim=-1), None, None


def member_paths(final_digits, horizon):
    """[N] decimal digit strings -> [N, horizon] member index used at each step."""
    out = []
    for value in final_digits.round().long().tolist():
        digits = [int(c) - 1 for c in str(value)]
        assert len(digits) == horizon
        out.append(digits)
    return torch.tensor(out)


def run(propagation, members=4, pop=3, particles=8, horizon=3, seed=0, actions=None):
    """Score with the recorder; returns (returns, recorder, per-step particle-order next_obs from reward_fn)."""
    recorder = Recorder()
    model = model_with(recorder, members)
    seen = []

    def reward_fn(obs, act, next_obs):
        seen.append(next_obs.clone())
        return next_obs[:, 1]

    if actions is None:
        actions = 10.0 * torch.arange(pop, dtype=torch.float32)[:, None, None].expand(pop, horizon, 1)
    returns = score_sequences(
        model, torch.zeros(2), actions, particles, propagation, generator=gen(seed), reward_fn=reward_fn
    )
    return returns, recorder, seen


# ------------------------------------------------------------------------------------- member assignment


@pytest.mark.parametrize("propagation", ["ts-inf", "expectation"])
def test_fixed_member_schemes_keep_each_particle_on_its_member(propagation):
    pop, particles, members, horizon = 3, 8, 4, 3
    _, recorder, seen = run(propagation, members, pop, particles, horizon)
    paths = member_paths(seen[-1][:, 0], horizon)  # [N, H], particle k of sequence i at row k * pop + i
    assert (paths == paths[:, :1]).all()  # the same member at every step
    per_sequence = paths[:, 0].view(particles, pop)
    for i in range(pop):
        counts = torch.bincount(per_sequence[:, i], minlength=members)
        assert counts.tolist() == [particles // members] * members  # P / E particles on every member
    assert all(call["sample"] is (propagation != "expectation") for call in recorder.calls)


def test_ts1_particles_switch_members_between_steps():
    pop, particles, members, horizon = 3, 8, 4, 3
    _, recorder, seen = run("ts1", members, pop, particles, horizon)
    paths = member_paths(seen[-1][:, 0], horizon)
    switched = (paths != paths[:, :1]).any(dim=1)
    # a fresh uniform member each step: a particle keeps one with probability 1/16, so of 24 particles
    # about 22 switch; fewer than half would mean members are (mostly) kept
    assert switched.float().mean() > 0.5
    # and the assignment is not the fixed ts-inf one at any step (row r on member r // per_member)
    fixed = torch.arange(pop * particles) // (pop * particles // members)
    assert all((paths[:, t] != fixed).any() for t in range(horizon))
    # each member still evaluates an equal share of rows per step
    for t in range(horizon):
        assert torch.bincount(paths[:, t], minlength=members).tolist() == [pop * particles // members] * members
    assert all(call["sample"] is True for call in recorder.calls)


@pytest.mark.parametrize("propagation", ["ts1", "ts-inf", "expectation"])
def test_states_and_actions_stay_paired_through_shuffling(propagation):
    """The running sum of a particle is its sequence's actions plus the offsets of the members that moved it:
    with ts1's shuffle and unshuffle, a state handed back to the wrong row or fed another row's action would
    break the identity."""
    pop, particles, horizon = 5, 8, 4
    g = gen(7)
    actions = torch.randn(pop, horizon, 1, generator=g)
    _, _, seen = run(propagation, 4, pop, particles, horizon, actions=actions)
    for t in range(horizon):
        paths = member_paths(seen[t][:, 0], t + 1)  # [N, t+1]
        offsets = (paths + 1).sum(dim=1).float()
        expected = actions[:, : t + 1, 0].sum(dim=1).repeat(particles) + offsets
        torch.testing.assert_close(seen[t][:, 1], expected)


def test_predict_gets_member_major_batches_and_the_callers_generator():
    recorder = Recorder()
    model = model_with(recorder, ensemble_size=2)
    g = gen(0)
    actions = torch.zeros(3, 2, 1)
    score_sequences(model, torch.zeros(2), actions, 4, "ts1", generator=g, reward_fn=lambda o, a, n: n[:, 1])
    assert len(recorder.calls) == 2  # one batched call per step
    for call in recorder.calls:
        assert call["obs"].shape == (2, 6, 2) and call["act"].shape == (2, 6, 1)
        assert call["generator"] is g


# ---------------------------------------------------------------------------------------------- returns


def test_returns_are_the_mean_over_particles_of_summed_rewards():
    pop, particles, members, horizon = 3, 8, 4, 3
    actions = torch.tensor([[0.0, 1.0, 2.0], [-1.0, 0.5, 0.0], [3.0, 3.0, -3.0]])[..., None]
    returns, _, _ = run("ts-inf", members, pop, particles, horizon, actions=actions)
    # reward at step t is the running sum s_t = sum_{tau <= t} (a_tau + e + 1); P / E particles per member
    expected = torch.zeros(pop)
    for i in range(pop):
        for e in range(members):
            s, total = 0.0, 0.0
            for t in range(horizon):
                s += actions[i, t, 0].item() + e + 1
                total += s
            expected[i] += total / members
    torch.testing.assert_close(returns, expected)


def test_learned_reward_and_termination_heads_match_the_equivalent_functions():
    """With reward_fn / termination_fn None the model's heads are used, and under ts1 their outputs must be
    put back in particle order like the states: same generator, same scores as the explicit functions."""

    def predict(obs, act, sample=True, generator=None):
        next_obs, _, _ = Recorder()(obs, act)
        return next_obs, next_obs[..., 1] * 0.5, next_obs[..., 1] > 6.0

    model = model_with(predict, learn_reward=True, learn_termination=True)
    actions = torch.rand(6, 4, 1, generator=gen(1))  # >= 0: every reward below is positive
    by_heads = score_sequences(model, torch.zeros(2), actions, 8, "ts1", generator=gen(2))
    by_fns = score_sequences(
        model,
        torch.zeros(2),
        actions,
        8,
        "ts1",
        generator=gen(2),
        reward_fn=lambda o, a, n: n[:, 1] * 0.5,
        termination_fn=lambda o, a, n: n[:, 1] > 6.0,
    )
    torch.testing.assert_close(by_heads, by_fns)
    never = score_sequences(
        model,
        torch.zeros(2),
        actions,
        8,
        "ts1",
        generator=gen(2),
        reward_fn=lambda o, a, n: n[:, 1] * 0.5,
        termination_fn=lambda o, a, n: torch.zeros(len(n), dtype=torch.bool),
    )
    # rewards are positive here, so cutting them can only lower a score: the head did cut some
    assert (never >= by_fns).all() and (never > by_fns).sum() >= 3


def test_rewards_stop_after_termination_but_count_on_the_terminating_step():
    # ts-inf, no actions: member e's particle sits at t (e + 1) after t steps; done once it reaches 4, so
    # members 0..3 terminate on steps 4, 2, 2, 1 and collect 4, 2, 2, 1 unit rewards -> mean 2.25
    recorder = Recorder()
    model = model_with(recorder, ensemble_size=4)
    actions = torch.zeros(2, 6, 1)
    returns = score_sequences(
        model,
        torch.zeros(2),
        actions,
        8,
        "ts-inf",
        generator=gen(0),
        reward_fn=lambda o, a, n: torch.ones(len(n)),
        termination_fn=lambda o, a, n: n[:, 1] >= 4.0,
    )
    torch.testing.assert_close(returns, torch.full((2,), 2.25))


def test_a_terminated_particle_stays_terminated():
    """A termination function that fires only on the first step: every particle collects exactly one
    reward, not one per step once the flag drops again."""
    step = [0]

    def termination_fn(obs, act, next_obs):
        step[0] += 1
        return torch.full((len(next_obs),), step[0] == 1)

    model = model_with(Recorder(), ensemble_size=2)
    returns = score_sequences(
        model,
        torch.zeros(2),
        torch.zeros(3, 5, 1),
        4,
        "ts1",
        generator=gen(0),
        reward_fn=lambda o, a, n: torch.ones(len(n)),
        termination_fn=termination_fn,
    )
    torch.testing.assert_close(returns, torch.ones(3))


def test_nan_predictions_give_minus_infinity():
    def predict(obs, act, sample=True, generator=None):
        next_obs, _, _ = Recorder()(obs, act)
        return torch.where(act == 1.0, math.nan, next_obs), None, None  # only sequence 1 diverges

    model = model_with(predict, ensemble_size=2)
    actions = torch.tensor([0.0, 1.0, 2.0])[:, None, None].expand(3, 3, 1)
    for propagation in PROPAGATIONS:
        returns = score_sequences(
            model, torch.zeros(2), actions, 4, propagation, generator=gen(0), reward_fn=lambda o, a, n: n[:, 1]
        )
        assert returns[1] == -math.inf, propagation
        assert torch.isfinite(returns[[0, 2]]).all(), propagation


def test_nan_after_termination_does_not_poison_the_return():
    def predict(obs, act, sample=True, generator=None):
        next_obs, _, _ = Recorder()(obs, act)
        return (next_obs if obs[0, 0, 0] == 0 else torch.full_like(next_obs, math.nan)), None, None

    model = model_with(predict, ensemble_size=2)
    returns = score_sequences(
        model,
        torch.zeros(2),
        torch.zeros(2, 3, 1),
        4,
        "ts-inf",
        generator=gen(0),
        reward_fn=lambda o, a, n: torch.ones(len(n)),
        termination_fn=lambda o, a, n: torch.ones(len(n), dtype=torch.bool),
    )
    torch.testing.assert_close(returns, torch.ones(2))


# ------------------------------------------------------------------------------------------ moment matching


def test_moment_matching_keeps_each_sequences_mean_and_spread():
    """Each step, a sequence's particles are redrawn from a Gaussian with their mean and std. Sequences
    have actions 0, 10, 20, so a mean pooled over sequences, or no redraw at all, is easy to tell apart."""
    pop, particles, members, horizon = 3, 400, 4, 2
    pre = []  # per step: (action, next_obs) rows as the model produced them

    def predict(obs, act, sample=True, generator=None):
        next_obs, _, _ = Recorder()(obs, act)
        pre.append((act[..., 0].reshape(-1), next_obs[..., 1].reshape(-1)))
        return next_obs, None, None

    post = []

    def reward_fn(obs, act, next_obs):
        post.append((act[:, 0], next_obs[:, 1]))
        return next_obs[:, 1]

    model = model_with(predict, ensemble_size=members)
    actions = 10.0 * torch.arange(pop, dtype=torch.float32)[:, None, None].expand(pop, horizon, 1)
    score_sequences(model, torch.zeros(2), actions, particles, "moment-matching", generator=gen(0), reward_fn=reward_fn)
    for t in range(horizon):
        for i in range(pop):
            before = pre[t][1][pre[t][0] == 10.0 * i]
            after = post[t][1][post[t][0] == 10.0 * i]
            assert len(before) == len(after) == particles
            # sample mean of 400 Gaussian draws: within 4 standard errors of the mean it was drawn around
            assert abs(after.mean() - before.mean()) < 4 * before.std() / math.sqrt(particles)
            assert abs(after.std() / before.std() - 1) < 0.2  # std of 400 draws: ~3.5% standard error
            # redrawn, not passed through (a mere reshuffle of the model's outputs would keep the multiset)
            assert not torch.equal(after.sort().values, before.sort().values)
            if t == 0:  # from the integer start, the model's outputs are whole numbers; Gaussian draws are not
                assert before.eq(before.round()).all() and (after != after.round()).float().mean() > 0.99


def test_moment_matching_passes_sample_true():
    recorder = Recorder()
    model = model_with(recorder, ensemble_size=2)
    score_sequences(
        model,
        torch.zeros(2),
        torch.zeros(2, 2, 1),
        4,
        "moment-matching",
        generator=gen(0),
        reward_fn=lambda o, a, n: n[:, 1],
    )
    assert all(call["sample"] is True for call in recorder.calls)


# ------------------------------------------------------------------------------------- real model, checks


@pytest.mark.parametrize("propagation", PROPAGATIONS)
def test_real_model_scores_are_deterministic_given_the_generator(propagation):
    torch.manual_seed(0)
    model = DynamicsModel(3, 2, learn_reward=True, ensemble_size=2, hidden_size=16, num_layers=2)
    actions = torch.randn(5, 4, 2, generator=gen(1))
    obs = torch.randn(3, generator=gen(2))
    first = score_sequences(model, obs, actions, 4, propagation, generator=gen(3))
    again = score_sequences(model, obs, actions, 4, propagation, generator=gen(3))
    other = score_sequences(model, obs, actions, 4, propagation, generator=gen(4))
    assert first.shape == (5,) and torch.isfinite(first).all()
    assert torch.equal(first, again)
    if propagation == "expectation":  # means only, fixed members: no randomness left
        assert torch.equal(first, other)
    else:
        assert not torch.equal(first, other)


def test_discrete_actions_are_one_hot_encoded():
    recorder = Recorder()
    model = model_with(recorder, ensemble_size=2, act_dim=3)
    actions = torch.tensor([[0, 2], [1, 1]])  # [pop, horizon]
    score_sequences(
        model, torch.zeros(2), actions, 2, "ts-inf", generator=gen(0), reward_fn=lambda o, a, n: n[:, 1], n_discrete=3
    )
    act = recorder.calls[1]["act"].reshape(-1, 3)  # step 2, rows k * pop + i
    assert torch.equal(act, torch.tensor([[0.0, 0, 1], [0, 1, 0], [0, 0, 1], [0, 1, 0]]))


@pytest.mark.parametrize(
    ("propagation", "particles", "members"),
    [("bogus", 4, 2), ("TS1", 4, 2), ("ts1", 5, 2), ("ts-inf", 3, 4), ("ts1", 0, 2), ("expectation", -2, 2)],
)
def test_check_particles_rejects_bad_arguments(propagation, particles, members):
    with pytest.raises(UserError):
        check_particles(propagation, particles, members)


@pytest.mark.parametrize("propagation", PROPAGATIONS)
@pytest.mark.parametrize(("particles", "members"), [(5, 5), (20, 5), (4, 1), (6, 3)])
def test_check_particles_accepts_multiples_of_the_ensemble(propagation, particles, members):
    assert check_particles(propagation, particles, members) is None  # raises UserError when it rejects
