"""LQG under a KL bound and linear-Gaussian dynamics fits, checked against closed forms."""

import numpy as np
import pytest
from scipy.linalg import solve_discrete_are

from reverie.models.linear_gaussian import GMMPrior, LinearGaussianDynamics, fit_dynamics
from reverie.planners.lqg import (
    LinearGaussianPolicy,
    QuadraticCost,
    backward,
    expected_cost,
    forward,
    kl_constrained_update,
    kl_divergence,
    quadratic_expansion,
    step_multiplier,
)

# a damped double integrator, dt = 0.1: x = (position, velocity), u = force
A = np.array([[1.0, 0.1], [0.0, 0.95]])
B = np.array([[0.005], [0.1]])
Q, R = np.diag([1.0, 0.1]), np.array([[0.01]])


def linear_problem(steps, noise=1e-4):
    dynamics = LinearGaussianDynamics(
        F=np.broadcast_to(np.hstack([A, B]), (steps - 1, 2, 3)).copy(),
        f=np.zeros((steps - 1, 2)),
        cov=np.broadcast_to(noise * np.eye(2), (steps - 1, 2, 2)).copy(),
        x0_mean=np.array([1.0, 0.0]),
        x0_cov=1e-4 * np.eye(2),
    )
    hess = np.zeros((3, 3))
    hess[:2, :2], hess[2:, 2:] = Q, R
    cost = QuadraticCost(np.broadcast_to(hess, (steps, 3, 3)).copy(), np.zeros((steps, 3)), np.zeros(steps))
    return dynamics, cost


def zero_policy(steps, variance=1.0):
    return LinearGaussianPolicy(np.zeros((steps, 1, 2)), np.zeros((steps, 1)), variance * np.ones((steps, 1, 1)))


def test_lqg_recovers_the_discrete_riccati_gain_far_from_the_horizon():
    # cost 1/2 x^T Q x + 1/2 u^T R u: the infinite-horizon LQR gain is -(R + B^T P B)^{-1} B^T P A with P from the
    # discrete algebraic Riccati equation; 200 steps back from the end the finite-horizon gain has converged to it
    dynamics, cost = linear_problem(200)
    policy = backward(cost, dynamics, np.array(1.0), prev=None)
    P = solve_discrete_are(A, B, Q, R)
    gain = -np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
    np.testing.assert_allclose(policy.K[0], gain, rtol=1e-6)
    np.testing.assert_allclose(policy.k[0], 0.0, atol=1e-12)
    # maximum-entropy LQR: the action covariance is Q_uu^{-1} = (R + B^T P B)^{-1}
    np.testing.assert_allclose(policy.cov[0], np.linalg.inv(R + B.T @ P @ B), rtol=1e-6)


def test_forward_marginals_match_monte_carlo():
    dynamics, cost = linear_problem(20, noise=1e-2)
    policy = backward(cost, dynamics, np.array(0.1), prev=None)
    mu, sigma = forward(policy, dynamics)
    rng = np.random.default_rng(0)
    n = 40000
    x = rng.multivariate_normal(dynamics.x0_mean, dynamics.x0_cov, size=n)
    total = np.zeros(n)
    for t in range(20):
        u = x @ policy.K[t].T + policy.k[t] + rng.normal(size=(n, 1)) * np.sqrt(policy.cov[t, 0, 0])
        y = np.hstack([x, u])
        spread = np.sqrt(np.diag(sigma[t]))
        np.testing.assert_allclose(y.mean(0), mu[t], atol=5 * spread.max() / np.sqrt(n))  # 5 standard errors
        np.testing.assert_allclose(np.cov(y.T), sigma[t], atol=0.05 * spread.max() ** 2)
        total += 0.5 * np.einsum("ni,ij,nj->n", y, cost.hess[t], y)
        x = y @ dynamics.F[min(t, 18)].T + rng.normal(size=x.shape) * 0.1
    np.testing.assert_allclose(expected_cost(cost, mu, sigma), total.mean(), rtol=0.02)


def test_quadratic_expansion_is_exact_for_a_quadratic_cost():
    rng = np.random.default_rng(1)
    M = rng.normal(size=(5, 5))
    H, g = M @ M.T, rng.normal(size=5)

    def cost(obs, act):
        y = np.concatenate([obs, act], -1)
        return 0.5 * np.einsum("...i,ij,...j->...", y, H, y) + y @ g + 3.0

    expansion = quadratic_expansion(cost, rng.normal(size=(4, 6, 3)), rng.normal(size=(4, 6, 2)))
    np.testing.assert_allclose(expansion.hess, np.broadcast_to(H, (6, 5, 5)), atol=1e-6)
    np.testing.assert_allclose(expansion.grad, np.broadcast_to(g, (6, 5)), atol=1e-6)
    np.testing.assert_allclose(expansion.const, 3.0, atol=1e-6)


def test_a_very_large_dual_returns_the_previous_controller():
    rng = np.random.default_rng(2)
    steps = 15
    dynamics, cost = linear_problem(steps)
    gains, offsets = rng.normal(size=(steps, 1, 2)), rng.normal(size=(steps, 1))
    prev = LinearGaussianPolicy(gains, offsets, np.full((steps, 1, 1), 0.3))
    policy = backward(cost, dynamics, np.array(1e12), prev)
    for got, want in zip(policy, prev, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-8)
    assert kl_divergence(*forward(policy, dynamics), policy, prev) < 1e-8


@pytest.mark.parametrize("epsilon", [0.5, 5.0])
def test_the_kl_step_lands_on_its_bound_and_lowers_the_cost(epsilon):
    steps = 30
    dynamics, cost = linear_problem(steps)
    prev = zero_policy(steps)
    # batched over two conditions with different bounds: each gets its own dual
    batch = LinearGaussianDynamics(*(np.stack([part, part]) for part in dynamics))
    costs = QuadraticCost(*(np.stack([part, part]) for part in cost))
    prevs = LinearGaussianPolicy(*(np.stack([part, part]) for part in prev))
    bounds = np.array([epsilon, 2 * epsilon])
    policy, eta, kl = kl_constrained_update(costs, batch, prevs, bounds, np.ones(2))
    assert np.all(np.abs(kl - bounds) <= 0.1 * bounds), (kl, eta)
    assert eta[0] > eta[1]  # a tighter bound needs a larger dual
    before = expected_cost(costs, *forward(prevs, batch))
    after = expected_cost(costs, *forward(policy, batch))
    assert np.all(after < before) and after[1] < after[0]


def test_dynamics_fit_recovers_a_known_linear_system():
    rng = np.random.default_rng(3)
    n, steps = 40, 12
    x = np.zeros((n, steps, 2))
    u = rng.normal(size=(n, steps, 1))
    x[:, 0] = rng.normal(size=(n, 2))
    for t in range(steps - 1):
        x[:, t + 1] = x[:, t] @ A.T + u[:, t] @ B.T + 0.01 + 1e-3 * rng.normal(size=(n, 2))
    fit = fit_dynamics(x, u)
    np.testing.assert_allclose(fit.F, np.broadcast_to(np.hstack([A, B]), fit.F.shape), atol=2e-3)
    np.testing.assert_allclose(fit.f, 0.01, atol=1e-3)
    np.testing.assert_allclose(fit.cov, np.broadcast_to(1e-6 * np.eye(2), fit.cov.shape), atol=2e-6)
    # with only 3 samples per step the regression alone is singular; the mixture prior over all transitions fixes it
    prior = GMMPrior(max_clusters=4, min_points_per_cluster=40, seed=0)
    points = np.concatenate([x[:, :-1], u[:, :-1], x[:, 1:]], -1).reshape(-1, 5)
    prior.update(points)
    few = fit_dynamics(x[:3], u[:3], prior)
    np.testing.assert_allclose(few.F, np.broadcast_to(np.hstack([A, B]), few.F.shape), atol=0.05)


def test_step_multiplier_grows_when_the_prediction_holds_and_shrinks_when_it_fails():
    assert step_multiplier(10.0, 8.0, 8.0, 1.0) == 5.0  # improved as predicted: the quadratic model says go further
    assert step_multiplier(10.0, 8.0, 10.0, 1.0) == 0.5  # no improvement at all: halve the step
    assert step_multiplier(10.0, 8.0, 12.0, 1.0) == 0.25  # got worse: shrink by pred / (2 (pred - actual))
    assert step_multiplier(10.0, 8.0, 12.0, 0.02) == 0.01  # ... but not below the floor


def test_an_indefinite_q_uu_raises_the_dual_until_the_kl_term_makes_it_positive():
    # a cost concave in u (a reward for large actions) has no minimum on its own: only the KL term's curvature
    # P = prev.cov^{-1} = 1 keeps Q_uu = -1 / eta + P positive, which needs eta > 1
    steps = 10
    dynamics, cost = linear_problem(steps)
    cost.hess[:, 2, 2] = -1.0
    with pytest.raises(ValueError, match="positive definite"):
        backward(cost, dynamics, np.array(0.5), zero_policy(steps))
    policy, eta, kl = kl_constrained_update(cost, dynamics, zero_policy(steps), np.array(1.0), np.array(0.01))
    assert eta > 1.0 and abs(kl - 1.0) <= 0.1
    assert np.all(np.linalg.eigvalsh(policy.cov) > 0)
