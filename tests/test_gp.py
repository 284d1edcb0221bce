"""GP dynamics and PILCO's moment matching: exact moments against Monte Carlo, gradients against finite differences."""

import math

import numpy as np
import pytest
import torch

from reverie.models.controllers import LinearController, RBFController
from reverie.models.gp import GPModel, stable_cholesky
from reverie.models.gp_moments import gp_moments
from reverie.models.moments import saturating_cost, sin_squash, trig_augment
from reverie.planners.moment_rollout import RolloutSpec, rollout

torch.set_num_threads(1)
F64 = torch.float64
# Monte Carlo samples: standard errors ~ sd / 316 (covariances ~ sd^2 / 220); tolerances are >= 4 of them
N_MC = 100_000


def _fitted_gp(seed=0, n=80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    Y = np.stack([np.sin(X[:, 0]) + 0.5 * X[:, 1], np.cos(X[:, 2]) * X[:, 0]], 1) + 0.05 * rng.normal(size=(n, 2))
    gp = GPModel(3, 2)
    gp.fit(X, Y)
    return gp


def _gaussian(seed, dim, scale):
    g = torch.Generator().manual_seed(seed)
    A = scale * torch.randn(dim, dim, generator=g, dtype=F64)
    return 0.3 * torch.randn(dim, generator=g, dtype=F64), A @ A.T + 1e-3 * torch.eye(dim, dtype=F64)


def _samples(m, S, n=N_MC, seed=1):
    g = torch.Generator().manual_seed(seed)
    return m + torch.randn(n, len(m), generator=g, dtype=F64) @ torch.linalg.cholesky(S).T


def _cross_cov(x, y):
    return (x - x.mean(0)).T @ (y - y.mean(0)) / len(x)


@pytest.mark.parametrize("scale", [0.05, 0.3, 0.8])  # from nearly a point to wider than the length-scales
def test_gp_moment_matching_equals_monte_carlo_of_the_predictive_distribution(scale):
    gp = _fitted_gp()
    m, S = _gaussian(int(scale * 100), 3, scale)
    M, C, V = gp.moments(m, S, noise=True)
    # sample x ~ N(m, S), then y ~ N(mu(x), var(x) + sn2): the GP's predictive distribution, latent + noise
    x = _samples(m, S)
    mu, var = gp.predict(x)
    y = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(2), dtype=F64) * (var + gp.sn2).sqrt()
    sd = torch.cov(y.T).diagonal().sqrt()
    assert torch.allclose(M, y.mean(0), atol=float(5 * sd.max() / math.sqrt(N_MC)))
    assert torch.allclose(C, torch.cov(y.T), atol=0.02 * float(sd.max() ** 2) + 1e-6)
    assert torch.allclose(S @ V, _cross_cov(x, y), atol=0.02 * float(sd.max()) * float(S.diagonal().max().sqrt()))


def test_moments_of_the_posterior_mean_alone_equal_monte_carlo():
    # without iK: the moments of the deterministic function mu(x) (PILCO's RBF controller)
    gp = _fitted_gp(seed=3)
    m, S = _gaussian(5, 3, 0.4)
    M, C, V = gp_moments(m, S, gp.X, gp.beta, gp.ell, gp.sf2, iK=None)
    x = _samples(m, S)
    mu = gp.predict(x)[0]
    assert torch.allclose(M, mu.mean(0), atol=5e-3)
    assert torch.allclose(C, torch.cov(mu.T), atol=5e-3)
    assert torch.allclose(S @ V, _cross_cov(x, mu), atol=5e-3)


@pytest.mark.parametrize("scale", [0.1, 0.7, 2.0])
def test_trig_augmentation_and_sine_squash_equal_monte_carlo(scale):
    m, S = _gaussian(7, 3, scale)
    x = _samples(m, S)
    M, C, V = trig_augment(m, S, [0, 2])  # two angles: the cross terms between them count
    z = torch.cat([torch.sin(x[:, [0, 2]]), torch.cos(x[:, [0, 2]])], 1)
    assert torch.allclose(M, z.mean(0), atol=1e-2)
    assert torch.allclose(C, torch.cov(z.T), atol=1e-2)
    assert torch.allclose(S @ V, _cross_cov(x, z), atol=1e-2 * max(1.0, scale**2))
    low, high = torch.tensor([-2.0, -1.0, 0.0], dtype=F64), torch.tensor([2.0, 3.0, 1.0], dtype=F64)
    M, C, V = sin_squash(m, S, low, high)
    a = (high + low) / 2 + (high - low) / 2 * torch.sin(x)
    assert torch.allclose(M, a.mean(0), atol=2e-2)
    assert torch.allclose(C, torch.cov(a.T), atol=2e-2)
    assert torch.allclose(S @ V, _cross_cov(x, a), atol=2e-2 * max(1.0, scale**2))


@pytest.mark.parametrize("scale", [0.01, 0.3, 1.0])
def test_expected_saturating_cost_equals_monte_carlo(scale):
    m, S = _gaussian(11, 3, scale)
    target = torch.tensor([0.2, -0.1, 0.5], dtype=F64)
    W = torch.diag(torch.tensor([4.0, 1.0, 9.0], dtype=F64))
    W[0, 1] = W[1, 0] = 0.5
    x = _samples(m, S)
    d = x - target
    cost = 1 - torch.exp(-((d @ W) * d).sum(1) / 2)
    assert abs(float(saturating_cost(m, S, target, W)) - float(cost.mean())) < 5 * float(cost.std()) / math.sqrt(N_MC)


def test_linear_controller_moments_are_exact():
    ctrl = LinearController(3, 2, torch.Generator().manual_seed(0))
    m, S = _gaussian(2, 3, 0.5)
    M, C, V = ctrl.moments(m, S)
    assert torch.allclose(M, ctrl(m[None])[0]) and torch.allclose(C, ctrl.weight @ S @ ctrl.weight.T)
    assert torch.allclose(S @ V, S @ ctrl.weight.T)


def _small_problem():
    """A 2-state, 1-angle, 1-action rollout with a GP of 25 points and an RBF controller of 4 centres.

    The targets are noisy on purpose: noiseless ones drive the noise to its floor, K^-1 grows to ~1e6 and the
    variance sf2 - tr(K^-1 Q) becomes a difference of large numbers that finite differences cannot resolve."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(25, 4))  # [x, sin th, cos th, a] as the model input
    Y = np.stack([0.1 * X[:, 3] + 0.05 * X[:, 1], 0.2 * X[:, 0] - 0.1 * X[:, 2]], 1) + 0.02 * rng.normal(size=(25, 2))
    gp = GPModel(4, 2, iterations=20)
    gp.fit(X, Y)
    g = torch.Generator().manual_seed(0)
    ctrl = RBFController(3, 1, 4, torch.zeros(3, dtype=F64), 0.3 * torch.eye(3, dtype=F64), g)
    one = torch.ones(1, dtype=F64)
    target = torch.tensor([0.0, math.pi, 0.0, -1.0], dtype=F64)
    spec = RolloutSpec([1], -2 * one, 2 * one, target, torch.diag(torch.tensor([1.0, 0, 1, 1], dtype=F64)))
    return gp, ctrl, spec


def test_rollout_gradient_equals_finite_differences():
    # float64 throughout; gradcheck also exercises the hand-written backward of the n x n pair terms
    gp, ctrl, spec = _small_problem()
    m0, S0 = torch.tensor([0.1, 0.2], dtype=F64), 0.01 * torch.eye(2, dtype=F64)

    class Cost(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ctrl = ctrl

        def forward(self):
            return rollout(m0, S0, self.ctrl, gp, spec, 4)[0].sum()

    cost, names = Cost(), [f"ctrl.{n}" for n, _ in ctrl.named_parameters()]
    inputs = tuple(p.detach().clone().requires_grad_(True) for p in ctrl.parameters())

    def f(*values):
        return torch.func.functional_call(cost, dict(zip(names, values, strict=True)), ())

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    # and through the state: the gradient with respect to the start distribution's mean
    start = m0.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda m: rollout(m, S0, ctrl, gp, spec, 4)[0].sum(), (start,), eps=1e-6)


def test_gp_recovers_a_known_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(60, 1))
    Y = np.sin(X) + 0.05 * rng.normal(size=X.shape)
    gp = GPModel(1, 1)
    metrics = gp.fit(X, Y)
    grid = torch.linspace(-2.8, 2.8, 50, dtype=F64)[:, None]
    mean, var = gp.predict(grid)
    assert float((mean - torch.sin(grid)).abs().max()) < 0.08  # noise 0.05 on 60 points
    assert 0.02 < metrics["model/noise_std"] < 0.1  # the noise level is learned, not fixed
    assert float(var.max()) < 0.01
    far = gp.predict(torch.tensor([[15.0]], dtype=F64))[1]
    assert float(far) > 0.5 * float(gp.sf2)  # far from the data the model says it does not know


def test_subset_of_data_keeps_max_points():
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(120, 2)), rng.normal(size=(120, 1))
    for subset in ("recent", "fps"):
        gp = GPModel(2, 1, max_points=50, subset=subset, iterations=5)
        assert gp.fit(X, Y)["model/points"] == 50
        if subset == "recent":
            assert torch.equal(gp.X, torch.as_tensor(X[-50:]))
        else:  # farthest-point sampling spreads out: its points lie farther apart than the newest 50

            def spacing(points):  # mean distance to the nearest other point
                return (torch.cdist(points, points) + 1e9 * torch.eye(50, dtype=F64)).min(1).values.mean()

            assert spacing(gp.X) > spacing(torch.as_tensor(X[-50:]))


def test_an_ill_conditioned_kernel_recovers_with_jitter_and_says_so():
    # 30 copies of 3 inputs with a tiny noise: the kernel matrix has rank 3 and plain Cholesky fails
    X = np.repeat(np.array([[0.0], [1.0], [2.0]]), 30, axis=0)
    Y = np.sin(X)
    gp = GPModel(1, 1, noise_floor=0.0)
    gp.log_ell, gp.log_sf = torch.zeros(1, 1, dtype=F64), torch.zeros(1, dtype=F64)
    gp.log_sn = torch.full((1,), math.log(1e-12), dtype=F64)
    K = torch.exp(-((torch.as_tensor(X) - torch.as_tensor(X).T) ** 2) / 2) + 1e-24 * torch.eye(90, dtype=F64)
    assert int(torch.linalg.cholesky_ex(K)[1]) > 0
    with pytest.warns(RuntimeWarning, match="jitter"):
        gp._cache(torch.as_tensor(X), torch.as_tensor(Y))
    mean = gp.predict(torch.tensor([[1.0]], dtype=F64))[0]
    assert abs(float(mean) - math.sin(1.0)) < 1e-3
    with pytest.warns(RuntimeWarning, match="jitter"):
        L = stable_cholesky(K)
    assert torch.isfinite(L).all()
