"""The learned dynamics model: the batched ensemble, normalisation, ``fit`` (bootstrap, NaN guard, elites),
recovery of a known linear-Gaussian system, open-loop error and the learned reward / termination heads."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from reverie.data.replay import ReplayBuffer, transition_fields
from reverie.models.dynamics import DynamicsModel
from reverie.models.ensemble import EnsembleLinear, GaussianEnsemble, Normalizer
from reverie.models.training import TrainConfig, encode_actions, fit, open_loop_error, open_loop_errors


def gen(seed):
    return torch.Generator().manual_seed(seed)


def box_buffer(obs_dim, act_dim):
    """An empty buffer of float32 transitions with Box actions."""
    return ReplayBuffer(transition_fields((obs_dim,), np.float32, (act_dim,), np.float32))


def make_buffer(obs, act, next_obs, reward=None, terminated=None, episode_len=10):
    """A Box-action buffer from tensors [N, d]; an episode is truncated every ``episode_len`` steps."""
    n = len(obs)
    reward = torch.zeros(n) if reward is None else reward
    terminated = torch.zeros(n, dtype=torch.bool) if terminated is None else terminated
    buffer = box_buffer(obs.shape[1], act.shape[1])
    for i in range(n):
        buffer.add(
            obs[i].numpy(),
            act[i].numpy(),
            next_obs[i].numpy(),
            float(reward[i]),
            bool(terminated[i]),
            (i + 1) % episode_len == 0,
        )
    return buffer


def linear_gaussian_data(n, seed):
    """s' = 0.9 s + 0.5 a + N(0, 0.1^2), with s and a uniform on [-1, 1]."""
    g = gen(seed)
    s = torch.rand(n, 1, generator=g) * 2 - 1
    a = torch.rand(n, 1, generator=g) * 2 - 1
    return s, a, 0.9 * s + 0.5 * a + 0.1 * torch.randn(n, 1, generator=g)


def small_model(ensemble_size=4, **kw):
    kw = {"hidden_size": 16, "num_layers": 2, **kw}
    return DynamicsModel(1, 1, ensemble_size=ensemble_size, **kw)


def ensemble_params(model):
    return {k: v.clone() for k, v in model.ensemble.state_dict().items()}


def last_layer(model) -> EnsembleLinear:
    return model.ensemble.net[-1]


@pytest.fixture(scope="module")
def linear_fit():
    """A probabilistic 3-member ensemble fitted to 3000 transitions of the linear-Gaussian system (~3 s)."""
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(3000, seed=2)
    model = DynamicsModel(1, 1, ensemble_size=3, hidden_size=32, num_layers=2)
    before = ensemble_params(model)
    config = TrainConfig(model_lr=2e-3, batch_size=64, epochs=40, patience=0, num_elites=3)
    metrics = fit(model, make_buffer(s, a, s_next), config, gen(2))
    return model, metrics, before


# ----------------------------------------------------------------------------------------------- ensemble


def test_ensemble_output_shapes():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 3)
    mean, logvar = GaussianEnsemble(3, 2, ensemble_size=4, hidden_size=8, num_layers=2)(x)
    assert mean.shape == logvar.shape == (4, 7, 2)
    mean, logvar = GaussianEnsemble(3, 2, ensemble_size=4, hidden_size=8, num_layers=2, probabilistic=False)(x)
    assert mean.shape == (4, 7, 2) and logvar is None
    assert EnsembleLinear(4, 3, 5)(x).shape == (4, 7, 5)


def test_ensemble_linear_equals_a_loop_of_plain_matmuls():
    torch.manual_seed(0)
    layer = EnsembleLinear(3, 4, 5).double()
    with torch.no_grad():
        layer.bias.normal_()  # zero at init: make it count
    x = torch.randn(3, 6, 4, dtype=torch.float64)
    expected = torch.stack([x[e] @ layer.weight[e] + layer.bias[e, 0] for e in range(3)])
    # float64 and a handful of products: anything but bit-level rounding differences would show
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_gaussian_ensemble_forward_equals_a_per_member_loop():
    """The whole network, member by member with plain matmuls, SiLU and the two soft bounds: catches any
    mixing of members between layers or a wrong split of mean and log-variance."""
    torch.manual_seed(0)
    net = GaussianEnsemble(3, 2, ensemble_size=4, hidden_size=8, num_layers=2).double()
    with torch.no_grad():
        for layer in net.net:
            if isinstance(layer, EnsembleLinear):
                layer.bias.normal_()
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    layers = [m for m in net.net if isinstance(m, EnsembleLinear)]
    for e in range(4):
        h = x[e]
        for i, layer in enumerate(layers):
            h = h @ layer.weight[e] + layer.bias[e, 0]
            if i < len(layers) - 1:
                h = h * torch.sigmoid(h)
        mean_e, raw = h[:, :2], h[:, 2:]
        logvar_e = net.max_logvar[0] - F.softplus(net.max_logvar[0] - raw)
        logvar_e = net.min_logvar[0] + F.softplus(logvar_e - net.min_logvar[0])
        mean, logvar = net(x)
        torch.testing.assert_close(mean[e], mean_e, rtol=0, atol=1e-12)
        torch.testing.assert_close(logvar[e], logvar_e, rtol=0, atol=1e-12)


def test_members_differ_after_init():
    torch.manual_seed(0)
    net = GaussianEnsemble(2, 1, ensemble_size=3, hidden_size=8, num_layers=2)
    for layer in net.net:
        if isinstance(layer, EnsembleLinear):
            w = layer.weight.flatten(1)
            assert torch.cdist(w, w)[~torch.eye(3, dtype=torch.bool)].min() > 0.1  # weights of std ~0.2-0.35
    x = torch.randn(1, 10, 2).expand(3, -1, -1)  # the same inputs for every member
    mean, _ = net(x)
    assert (mean[0] - mean[1]).abs().max() > 1e-3 and (mean[1] - mean[2]).abs().max() > 1e-3


def test_members_differ_after_training(linear_fit):
    model, _, before = linear_fit
    after = ensemble_params(model)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # training changed the weights
    w = last_layer(model).weight.flatten(1)
    assert torch.cdist(w, w)[~torch.eye(3, dtype=torch.bool)].min() > 1e-2
    # far from the data (|s|, |a| = 3 vs. the [-1, 1] training range) the members extrapolate differently:
    # that disagreement is what makes the ensemble's spread an epistemic-uncertainty signal
    obs = torch.full((3, 1, 1), 3.0)
    act = torch.full((3, 1, 1), -3.0)
    pred, _, _ = model.predict(obs, act, sample=False)
    assert pred.std(dim=0).max() > 1e-3


def test_logvar_stays_within_its_soft_bounds():
    torch.manual_seed(0)
    net = GaussianEnsemble(2, 3, ensemble_size=2, hidden_size=8, num_layers=1)
    with torch.no_grad():
        net.max_logvar.copy_(torch.tensor([0.5, 0.0, 2.0]))
        net.min_logvar.copy_(torch.tensor([-10.0, -1.0, -3.0]))
        net.net[-1].weight.mul_(1e3)  # raw log-variances of order +-1e3: both bounds are reached
    _, logvar = net(torch.randn(2, 500, 2) * 10)
    lo, hi = net.min_logvar.detach(), net.max_logvar.detach()
    assert (logvar >= lo).all()
    # The two softplus steps are applied one after the other, so the lower one can lift a value that sits
    # at the upper bound by log(1 + exp(-(max - min))) (2.8e-5 for the defaults 0.5 / -10, 0.31 when the
    # limits are only 1 apart) and no more.
    overshoot = torch.log1p(torch.exp(-(hi - lo)))
    assert (logvar <= hi + overshoot + 1e-6).all()
    # and the bounds are actually reached, so the checks above are not vacuous
    assert ((logvar - lo).amin(dim=(0, 1)) < 1e-3).all() and ((hi - logvar).amin(dim=(0, 1)) < 1e-3).all()


# --------------------------------------------------------------------------------------------- normalizer


def test_normalizer_round_trip_and_constant_feature():
    torch.manual_seed(0)
    data = torch.randn(100, 3) * torch.tensor([5.0, 0.01, 1.0]) + torch.tensor([3.0, -2.0, 0.0])
    data[:, 2] = 7.0  # constant
    norm = Normalizer(3)
    norm.fit(data)
    torch.testing.assert_close(norm.denormalize(norm.normalize(data)), data)
    z = norm.normalize(data)
    torch.testing.assert_close(z[:, :2].mean(0), torch.zeros(2), rtol=0, atol=1e-5)
    torch.testing.assert_close(z[:, :2].std(0), torch.ones(2))
    assert norm.std[2] == 1.0 and norm.mean[2] == 7.0  # constant: not blown up, just centred
    assert (z[:, 2] == 0).all()
    single = Normalizer(2)
    single.fit(torch.tensor([[1.0, 2.0]]))  # one row: no std to estimate
    assert torch.equal(single.std, torch.ones(2))


# ------------------------------------------------------------------------------------- linear-Gaussian fit


def test_fit_recovers_a_linear_gaussian_system(linear_fit):
    model, metrics, _ = linear_fit
    assert metrics["model/nan_restored"] == 0 and metrics["model/epochs"] == 40
    grid = torch.linspace(-0.9, 0.9, 10)
    s, a = (t.reshape(1, -1, 1).expand(3, -1, -1) for t in torch.meshgrid(grid, grid, indexing="ij"))
    mean, _, _ = model.predict(s, a, sample=False)
    rmse = (mean - (0.9 * s + 0.5 * a)).pow(2).mean(dim=(1, 2)).sqrt()  # per member
    # 0.03 is under a third of the noise std: the slope on a alone is worth 0.5 * std(a) = 0.29 RMSE and a
    # model off by 0.05 in either coefficient misses by ~0.03; fitted members land at 0.01-0.017
    assert rmse.max() < 0.03, rmse
    _, logvar = model.ensemble(model.input_normalizer.normalize(torch.cat([s, a], dim=-1)))
    std = torch.exp(0.5 * logvar) * model.target_normalizer.std  # back to units of s' - s
    # the targets s' - s spread with std 0.31 overall; only the noise part (0.1) is left unexplained
    assert ((std.mean(dim=(1, 2)) - 0.1).abs() < 0.025).all(), std.mean(dim=(1, 2))
    assert std.min() > 0.05 and std.max() < 0.2  # no point on the grid off by a factor of 2
    assert math.isfinite(metrics["model/val_nll"]) and metrics["model/val_mse"] < 0.2  # normalised units


def test_sampled_predictions_have_the_learned_spread(linear_fit):
    model, _, _ = linear_fit
    obs, act = torch.full((3, 4000, 1), 0.2), torch.full((3, 4000, 1), -0.4)
    pred, _, _ = model.predict(obs, act, sample=True, generator=gen(0))
    again, _, _ = model.predict(obs, act, sample=True, generator=gen(0))
    assert torch.equal(pred, again)  # the generator alone decides the noise
    mean, _, _ = model.predict(obs, act, sample=False)
    torch.testing.assert_close(pred.mean(dim=1), mean[:, 0], rtol=0, atol=0.01)  # 4 sigma of a 4000-mean
    assert ((pred.std(dim=1) - 0.1).abs() < 0.025).all()


# -------------------------------------------------------------------------------------------- bootstrap


def indexed_buffer(n):
    """Transitions whose observation is their index (so a normalised input row names its transition)."""
    s = torch.arange(n, dtype=torch.float32)[:, None]
    a = torch.zeros(n, 1)
    return make_buffer(s, a, s + 1.0)


def record_batches(model, calls):
    original = model.ensemble.loss

    def loss(x, y):
        calls.append(x.detach().clone())
        return original(x, y)

    model.ensemble.loss = loss


def test_each_member_trains_on_its_own_bootstrap_resample():
    n, members, seed = 100, 4, 5
    model = small_model(members)
    calls = []
    record_batches(model, calls)
    fit(model, indexed_buffer(n), TrainConfig(epochs=1, batch_size=16, validation_ratio=0.1), gen(seed))
    x = torch.cat(calls, dim=1)  # [E, rows seen in the epoch, in_dim]
    rows = model.input_normalizer.denormalize(x)[..., 0].round().long()  # transition indices
    n_val = 10
    # the held-out split: fit's first draw from the generator
    val = set(torch.randperm(n, generator=gen(seed))[:n_val].tolist())
    for e in range(members):
        seen = rows[e].tolist()
        assert len(seen) == n - n_val  # one pass over a resample the size of the training split
        assert not val & set(seen)  # never the held-out transitions
        # with replacement: 90 draws from 90 leave ~63% distinct; all distinct has probability ~1e-38
        assert len(set(seen)) < 0.8 * len(seen)
    for e in range(members):
        for f in range(e + 1, members):
            assert sorted(rows[e].tolist()) != sorted(rows[f].tolist())


def identical_members(model):
    with torch.no_grad():
        for layer in model.ensemble.net:
            if isinstance(layer, EnsembleLinear):
                layer.weight.copy_(layer.weight[:1].expand_as(layer.weight))


@pytest.mark.parametrize("same_resample", [False, True])
def test_identically_initialised_members_diverge_only_through_their_resamples(same_resample, monkeypatch):
    """Members that start equal end different after ``fit`` because their data differ; the control run
    hands every member the same resample (everything else unchanged) and the members stay equal up to
    float rounding,
    so the difference in the first case comes from the bootstrap and nothing else."""
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(200, seed=0)
    model = small_model(3)
    identical_members(model)
    if same_resample:
        randint = torch.randint

        def shared_randint(high, size, generator=None):  # one row of draws, repeated for each member
            return randint(high, (1, size[1]), generator=generator).expand(size)

        monkeypatch.setattr(torch, "randint", shared_randint)
    fit(model, make_buffer(s, a, s_next), TrainConfig(epochs=3, num_elites=3), gen(0))
    for layer in model.ensemble.net:
        if isinstance(layer, EnsembleLinear):
            w = layer.weight
            gaps = [(w[e] - w[f]).abs().max().item() for e, f in ((0, 1), (1, 2), (0, 2))]
            # same resample: equal up to float rounding inside the batched matmul (measured <= 1e-8);
            # own resamples: apart by 5e-3 to 2e-2 after three epochs
            assert max(gaps) < 1e-6 if same_resample else min(gaps) > 1e-3, gaps


def test_fit_with_a_single_member():
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(200, seed=0)
    model = small_model(1)
    metrics = fit(model, make_buffer(s, a, s_next), TrainConfig(epochs=5, num_elites=1), gen(0))
    assert metrics["model/epochs"] == 5 and metrics["model/nan_restored"] == 0
    errors = metrics.pop("model/open_loop_errors")  # the error against the horizon, one per step
    assert all(math.isfinite(v) for v in [*metrics.values(), *errors])
    assert torch.equal(model.elites, torch.tensor([0]))


# --------------------------------------------------------------------------------------------- NaN guard


def test_nan_rows_are_dropped_and_counted():
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(100, seed=0)
    # 10 NaN rows would make the fitted normalisers NaN and so every prediction; fit drops them and says so
    s_next[::10] = math.nan
    model = small_model(3)
    metrics = fit(model, make_buffer(s, a, s_next), TrainConfig(epochs=5, num_elites=3), gen(0))
    assert metrics["model/nonfinite_rows"] == 10 and metrics["model/epochs"] > 0
    assert metrics["model/nan_restored"] == 0
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_a_round_on_nan_data_leaves_a_usable_model():
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(100, seed=0)
    s_next[::10] = math.nan
    model = small_model(3)
    fit(model, make_buffer(s, a, s_next), TrainConfig(epochs=5, num_elites=3), gen(0))
    pred, _, _ = model.predict(torch.zeros(3, 2, 1), torch.zeros(3, 2, 1), sample=False)
    assert torch.isfinite(pred).all()


def test_diverging_learning_rate_restores_the_initial_weights():
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(200, seed=0)
    model = small_model(3)
    before = ensemble_params(model)
    # Adam moves every weight by ~lr per step: 1e10 overflows float32 squares within the first epoch
    # (checked: without the guard the weights are inf / NaN after it)
    metrics = fit(model, make_buffer(s, a, s_next), TrainConfig(model_lr=1e10, epochs=5, num_elites=3), gen(0))
    assert metrics["model/nan_restored"] >= 1 and metrics["model/epochs"] == 0
    after = ensemble_params(model)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert all(torch.equal(before[k], after[k]) for k in before)
    pred, _, _ = model.predict(torch.zeros(3, 2, 1), torch.zeros(3, 2, 1), sample=False)
    assert torch.isfinite(pred).all()


@pytest.mark.parametrize("n", [100, 1])
def test_a_later_failing_epoch_restores_the_weights_from_its_start(n):
    """Epoch 2 takes one good step, then a step whose gradient is NaN (the loss itself is finite) turns the
    weights NaN: they must go back to where epoch 2 began and one good epoch be reported. With n = 1 there
    is no validation split, so no best-validation weights are reloaded at the end either: the guard's
    restore is all that stands between the model and NaN weights."""
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(n, seed=0)
    model = small_model(3)
    initial = ensemble_params(model)
    original, calls, snapshot = model.ensemble.loss, [0], {}
    batch_size = 32 if n > 1 else 1
    batches = math.ceil((n - round(n * 0.1)) / batch_size)  # per epoch, over the training split
    poison = batches + min(2, batches)

    def loss(x, y):
        calls[0] += 1
        if calls[0] == batches + 1:  # first batch of epoch 2
            snapshot.update(ensemble_params(model))
        value = original(x, y)
        if calls[0] == poison:  # sqrt at 0: value 0, gradient 0 * inf = NaN
            value = value + (last_layer(model).weight * 0).sqrt().sum()
        return value

    model.ensemble.loss = loss
    buffer = make_buffer(s, a, s_next, episode_len=n)
    metrics = fit(model, buffer, TrainConfig(epochs=5, batch_size=batch_size, num_elites=3), gen(0))
    assert calls[0] in (poison, poison + 1)  # the round ended at the failure (or the NaN loss right after it)
    assert metrics["model/nan_restored"] == 1 and metrics["model/epochs"] == 1
    after = ensemble_params(model)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert all(torch.equal(snapshot[k], after[k]) for k in after)
    assert any(not torch.equal(initial[k], after[k]) for k in after)  # epoch 1's progress is kept


# ------------------------------------------------------------------------------------------------ elites


def validation_split(n, seed, ratio=0.1):
    """fit's held-out rows: its first draw from the generator."""
    n_val = min(max(1, round(n * ratio)), n - 1)
    return torch.randperm(n, generator=gen(seed))[:n_val]


def test_elites_are_the_members_with_the_lowest_validation_mse():
    """Members 1 and 3 are broken (output offset by 20 normalised units) before a short, slow round that
    cannot repair them: the 2 elites must be members 0 and 2, and they must match a ranking by
    ``ensemble.scores`` on fit's own validation split."""
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(200, seed=0)
    model = small_model(4)
    with torch.no_grad():
        last_layer(model).bias[[1, 3], :, 0] += 20.0
    config = TrainConfig(model_lr=1e-4, epochs=2, num_elites=2)
    fit(model, make_buffer(s, a, s_next), config, gen(3))
    assert model.elites.tolist() == [0, 2]
    inputs, targets = torch.cat([s, a], dim=-1), s_next - s
    val = validation_split(200, seed=3)
    x = model.input_normalizer.normalize(inputs[val]).expand(4, -1, -1)
    y = model.target_normalizer.normalize(targets[val]).expand(4, -1, -1)
    mse = model.ensemble.scores(x, y)["mse"]
    assert model.elites.tolist() == torch.argsort(mse)[:2].sort().values.tolist()


def test_all_members_are_elites_when_num_elites_covers_the_ensemble():
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(100, seed=0)
    model = small_model(3)
    model.elites.zero_()
    fit(model, make_buffer(s, a, s_next), TrainConfig(epochs=1, num_elites=5), gen(0))
    assert model.elites.tolist() == [0, 1, 2]


# --------------------------------------------------------------------------------------- open-loop error


def still_buffer(first_episode_moves=True):
    """Two episodes of a system where s' = s (a is ignored), the last one 3 steps long. With
    ``first_episode_moves`` the first episode's next_obs are off by 5, which would show if it were used."""
    buffer = box_buffer(2, 1)
    for t in range(4):
        s = np.array([1.0, -2.0], np.float32)
        buffer.add(s, [0.3 * t], s + (5.0 if first_episode_moves else 0.0), 0.0, False, t == 3)
    for t in range(3):
        s = np.array([0.5, 0.25], np.float32)
        buffer.add(s, [-0.1 * t], s, 0.0, t == 2, False)
    return buffer


def constant_delta_model(delta):
    """A model whose mean output is ``delta`` for every input (weights of its mean head zeroed)."""
    torch.manual_seed(0)
    model = DynamicsModel(2, 1, ensemble_size=3, hidden_size=8, num_layers=1)
    with torch.no_grad():
        last_layer(model).weight[..., :2] = 0.0
        last_layer(model).bias[..., :2] = delta
    return model


def test_open_loop_error_of_an_exact_model_is_zero():
    assert open_loop_error(constant_delta_model(0.0), still_buffer(), steps=10) == 0.0


def test_open_loop_error_compounds_for_a_wrong_model():
    # delta 0.5 per step along the last episode (3 steps, fewer than the 10 asked for): squared errors
    # 0.25, 1, 2.25 -> mean 7/6; the first episode (off by 5) or a longer horizon would give another number
    err = open_loop_error(constant_delta_model(0.5), still_buffer(), steps=10)
    assert err == pytest.approx(7 / 6, rel=1e-6)
    assert open_loop_error(constant_delta_model(0.5), still_buffer(), steps=2) == pytest.approx(1.25 / 2, rel=1e-6)


def test_open_loop_errors_give_the_error_at_each_horizon():
    # from every start of the still last episode the error after t steps is (0.5 t)^2; capped at its 3 steps
    assert open_loop_errors(constant_delta_model(0.5), still_buffer(), steps=2) == pytest.approx([0.25, 1.0])
    assert open_loop_errors(constant_delta_model(0.5), still_buffer(), steps=10) == pytest.approx([0.25, 1.0, 2.25])
    assert open_loop_errors(constant_delta_model(0.0), box_buffer(2, 1), steps=5) == []


def test_open_loop_error_without_a_finished_episode_is_nan():
    buffer = box_buffer(2, 1)
    buffer.add(np.zeros(2), [0.0], np.zeros(2), 0.0, False, False)
    assert math.isnan(open_loop_error(constant_delta_model(0.0), buffer, steps=5))


# ---------------------------------------------------------------------------------- reward / termination


def test_learned_heads_have_the_documented_shapes_and_columns():
    torch.manual_seed(0)
    model = DynamicsModel(2, 1, learn_reward=True, learn_termination=True, ensemble_size=3, hidden_size=8)
    head = last_layer(model)
    with torch.no_grad():
        head.weight[..., :4] = 0.0
        head.bias[..., :4] = torch.tensor([0.1, -0.2, 3.0, 0.7])  # delta s, reward, termination
        head.bias[1, 0, 3] = 0.2  # member 1 predicts "not terminated"
    next_obs, reward, terminated = model.predict(torch.ones(3, 5, 2), torch.zeros(3, 5, 1), sample=False)
    assert next_obs.shape == (3, 5, 2) and reward.shape == (3, 5) and terminated.shape == (3, 5)
    torch.testing.assert_close(next_obs, torch.tensor([1.1, 0.8]).expand(3, 5, 2))
    torch.testing.assert_close(reward, torch.full((3, 5), 3.0))
    assert terminated.dtype == torch.bool
    assert terminated[[0, 2]].all() and not terminated[1].any()

    only_term = DynamicsModel(2, 1, learn_termination=True, ensemble_size=2, hidden_size=8)
    _, reward, terminated = only_term.predict(torch.ones(2, 4, 2), torch.zeros(2, 4, 1))
    assert reward is None and terminated.dtype == torch.bool and terminated.shape == (2, 4)
    _, reward, terminated = small_model(2).predict(torch.ones(2, 4, 1), torch.zeros(2, 4, 1))
    assert reward is None and terminated is None


def test_fit_learns_reward_and_termination_heads():
    """r = 2 s + a and terminated = s > 0.5 are learned in the right output columns."""
    torch.manual_seed(0)
    s, a, s_next = linear_gaussian_data(1000, seed=1)
    reward, terminated = (2 * s + a)[:, 0], s[:, 0] > 0.5
    model = DynamicsModel(1, 1, learn_reward=True, learn_termination=True, ensemble_size=2, hidden_size=32)
    config = TrainConfig(model_lr=3e-3, batch_size=64, epochs=20, num_elites=2)
    metrics = fit(model, make_buffer(s, a, s_next, reward, terminated), config, gen(1))
    assert metrics["model/nan_restored"] == 0
    grid = torch.linspace(-0.9, 0.9, 19)
    obs, act = grid.reshape(1, -1, 1).expand(2, -1, -1), torch.zeros(2, 19, 1)
    _, r_hat, done = model.predict(obs, act, sample=False)
    # reward spans [-1.8, 1.8]; 0.15 RMSE is a loose but clear bar (a head in the wrong column would be
    # fitting s' - s or a 0/1 flag)
    assert (r_hat - 2 * obs[..., 0]).pow(2).mean().sqrt() < 0.15
    far = (obs[..., 0] - 0.5).abs() > 0.15  # away from the step, the 0.5 threshold must be right
    assert torch.equal(done[far], (obs[..., 0] > 0.5)[far])


def test_encode_actions():
    act = torch.tensor([[0.5, -1.0]])
    assert encode_actions(act, None) is act
    torch.testing.assert_close(encode_actions(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
