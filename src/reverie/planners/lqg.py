"""LQG trajectory optimisation under a KL bound: the C-step of Guided Policy Search.

A time-varying linear-Gaussian controller p(u_t | x_t) = N(K_t x_t + k_t, C_t) is improved against a quadratic
expansion of the cost, c(x, u) ~ const_t + g_t^T y + 1/2 y^T H_t y with y = [x; u] (absolute coordinates), and
linear-Gaussian dynamics (``reverie.models.linear_gaussian``). GPS never takes the unconstrained LQR solution: the
dynamics are only valid near the samples, so each update solves (Levine & Abbeel 2014; Levine et al. 2016)

    min_p E_p[sum_t c(x_t, u_t)]   s.t.   sum_t E_p[KL(p(u_t|x_t) || p_bar(u_t|x_t))] <= epsilon

whose Lagrangian, for a dual variable eta, is a maximum-entropy LQG problem with the modified cost
c(x, u) / eta - log p_bar(u | x): ``backward`` solves it exactly, ``forward`` gives the state-action marginals, and
``kl_constrained_update`` brackets eta in log space until the KL lands within 10% of epsilon. p_bar is the previous
controller (trajectory-centric GPS) or the linearised global policy (mirror-descent GPS).

Every function is batched over leading dims ``[...]`` (e.g. conditions) and loops over time steps only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from reverie.models.linear_gaussian import LinearGaussianDynamics


class LinearGaussianPolicy(NamedTuple):
    """p(u_t | x_t) = N(K_t x_t + k_t, cov_t): K [..., T, dU, dX], k [..., T, dU], cov [..., T, dU, dU]."""

    K: np.ndarray
    k: np.ndarray
    cov: np.ndarray


class QuadraticCost(NamedTuple):
    """c_t(y) ~ const_t + grad_t . y + 1/2 y^T hess_t y, y = [x; u].

    hess [..., T, D, D], grad [..., T, D], const [..., T].
    """

    hess: np.ndarray
    grad: np.ndarray
    const: np.ndarray


def quadratic_expansion(cost_fn, x: np.ndarray, u: np.ndarray, h: float = 1e-3) -> QuadraticCost:
    """Second-order expansion of ``cost_fn(obs, act)`` by central differences at each sample, averaged over samples.

    x [N, T, dX], u [N, T, dU] -> QuadraticCost with [T] leading dims. Each sample's expansion about its own point
    is rewritten in absolute coordinates before averaging, so the average is the expected cost's expansion
    (exact for a quadratic cost, whatever h).
    """
    dx = x.shape[-1]
    y = np.concatenate([x, u], -1).astype(np.float64)  # [N, T, D]
    d = y.shape[-1]
    step = h * np.eye(d)

    def cost(points):
        return cost_fn(points[..., :dx], points[..., dx:])

    c0 = cost(y)
    grad = (cost(y[..., None, :] + step) - cost(y[..., None, :] - step)) / (2 * h)  # [N, T, D]
    plus, minus = step[:, None] + step[None], step[:, None] - step[None]  # [D, D, D]
    at = y[..., None, None, :]
    hess = (cost(at + plus) - cost(at + minus) - cost(at - minus) + cost(at - plus)) / (4 * h * h)
    hess = 0.5 * (hess + np.swapaxes(hess, -1, -2))  # [N, T, D, D]
    hy = np.einsum("ntij,ntj->nti", hess, y)
    const = c0 - (grad * y).sum(-1) + 0.5 * (hy * y).sum(-1)
    return QuadraticCost(hess.mean(0), (grad - hy).mean(0), const.mean(0))


def forward(policy: LinearGaussianPolicy, dynamics: LinearGaussianDynamics) -> tuple[np.ndarray, np.ndarray]:
    """State-action marginals of ``policy`` under ``dynamics``: mean [..., T, D], covariance [..., T, D, D]."""
    steps = policy.K.shape[-3]
    mu_x, sigma_x = dynamics.x0_mean, dynamics.x0_cov
    means, covs = [], []
    for t in range(steps):
        K = policy.K[..., t, :, :]
        mu = np.concatenate([mu_x, np.einsum("...ij,...j->...i", K, mu_x) + policy.k[..., t, :]], -1)
        sigma_ux = K @ sigma_x
        sigma = np.concatenate(
            [
                np.concatenate([sigma_x, np.swapaxes(sigma_ux, -1, -2)], -1),
                np.concatenate([sigma_ux, sigma_ux @ np.swapaxes(K, -1, -2) + policy.cov[..., t, :, :]], -1),
            ],
            -2,
        )
        means.append(mu)
        covs.append(sigma)
        if t < steps - 1:  # x_{t+1} = F [x; u] + f + noise
            F = dynamics.F[..., t, :, :]
            mu_x = np.einsum("...ij,...j->...i", F, mu) + dynamics.f[..., t, :]
            sigma_x = F @ sigma @ np.swapaxes(F, -1, -2) + dynamics.cov[..., t, :, :]
            sigma_x = 0.5 * (sigma_x + np.swapaxes(sigma_x, -1, -2))
    return np.stack(means, -2), np.stack(covs, -3)


def backward(
    cost: QuadraticCost, dynamics: LinearGaussianDynamics, eta: np.ndarray, prev: LinearGaussianPolicy | None
) -> LinearGaussianPolicy:
    """Maximum-entropy LQG on c / eta - log prev(u|x) (dynamic programming from t = T-1 down to 0).

    eta [...] is the KL dual per batch entry; ``prev`` None drops the KL term (then eta = 1 gives plain max-entropy
    LQR: the mean gains are the LQR gains, the covariance is Q_uu^{-1}). Returns the policy that minimises the
    modified cost minus its entropy: u ~ N(-Q_uu^{-1}(Q_ux x + q_u), Q_uu^{-1}).
    Raises ValueError if some Q_uu is not positive definite (see ``solve_lqg`` for the per-entry flag).
    """
    policy, positive = solve_lqg(cost, dynamics, eta, prev)
    if not positive.all():
        raise ValueError("Q_uu is not positive definite: the fitted dynamics and cost give no bounded minimum")
    return policy


def solve_lqg(
    cost: QuadraticCost, dynamics: LinearGaussianDynamics, eta, prev
) -> tuple[LinearGaussianPolicy, np.ndarray]:
    """``backward`` without the check: also returns whether every Q_uu of each batch entry was positive definite [...].

    Fitted dynamics can make Q_uu indefinite when the cost term dominates (small eta); the KL term
    -log prev(u|x) is positive definite in u, so a larger eta always cures it (as in the GPS code).
    """
    steps = cost.grad.shape[-2]
    dx = dynamics.F.shape[-2]
    scale = 1.0 / np.asarray(eta, np.float64)[..., None]
    positive = np.ones(np.shape(eta), bool)
    Ks, ks, covs = [], [], []
    V = v = None
    for t in reversed(range(steps)):
        Q = cost.hess[..., t, :, :] * scale[..., None]
        q = cost.grad[..., t, :] * scale
        if prev is not None:  # -log prev(u|x) = 1/2 (u - Kx - k)^T P (u - Kx - k) + const, expanded in y = [x; u]
            P = np.linalg.inv(prev.cov[..., t, :, :])
            A = np.concatenate([-prev.K[..., t, :, :], np.broadcast_to(np.eye(P.shape[-1]), P.shape)], -1)  # u - Kx
            Q = Q + np.swapaxes(A, -1, -2) @ P @ A
            q = q - np.einsum("...ji,...j->...i", A, np.einsum("...ij,...j->...i", P, prev.k[..., t, :]))
        if V is not None:  # + E[V_{t+1}(F y + f + noise)]; the noise only adds a constant
            F, f = dynamics.F[..., t, :, :], dynamics.f[..., t, :]
            Q = Q + np.swapaxes(F, -1, -2) @ V @ F
            q = q + np.einsum("...ji,...j->...i", F, np.einsum("...ij,...j->...i", V, f) + v)
        Q = 0.5 * (Q + np.swapaxes(Q, -1, -2))
        Quu, Qux, Qxu = Q[..., dx:, dx:], Q[..., dx:, :dx], Q[..., :dx, dx:]
        positive &= np.linalg.eigvalsh(Quu)[..., 0] > 0
        Quu = np.where(positive[..., None, None], Quu, np.eye(Quu.shape[-1]))  # keep the failed entries finite
        cov = np.linalg.inv(Quu)
        cov = 0.5 * (cov + np.swapaxes(cov, -1, -2))
        K = -cov @ Qux
        k = -np.einsum("...ij,...j->...i", cov, q[..., dx:])
        # the soft minimum over u: V = Q_xx - Q_xu Q_uu^{-1} Q_ux, v = q_x - Q_xu Q_uu^{-1} q_u
        V = Q[..., :dx, :dx] + Qxu @ K
        V = 0.5 * (V + np.swapaxes(V, -1, -2))
        v = q[..., :dx] + np.einsum("...ij,...j->...i", Qxu, k)
        Ks.append(K)
        ks.append(k)
        covs.append(cov)
    policy = LinearGaussianPolicy(np.stack(Ks[::-1], -3), np.stack(ks[::-1], -2), np.stack(covs[::-1], -3))
    return policy, positive


def kl_divergence(mu, sigma, policy: LinearGaussianPolicy, prev: LinearGaussianPolicy) -> np.ndarray:
    """sum_t E_{x_t ~ marginal}[KL(policy(.|x_t) || prev(.|x_t))]: mu [..., T, D], sigma [..., T, D, D] -> [...]."""
    dx = policy.K.shape[-1]
    du = policy.K.shape[-2]
    prec = np.linalg.inv(prev.cov)  # [..., T, dU, dU]
    dK, dk = policy.K - prev.K, policy.k - prev.k
    mean_gap = np.einsum("...ij,...j->...i", dK, mu[..., :dx]) + dk  # [..., T, dU]
    spread = np.einsum("...ij,...jk,...kl,...li->...", np.swapaxes(dK, -1, -2), prec, dK, sigma[..., :dx, :dx])
    kl = 0.5 * (
        np.einsum("...ij,...ji->...", prec, policy.cov)
        + np.einsum("...i,...ij,...j->...", mean_gap, prec, mean_gap)
        + spread
        - du
        + np.linalg.slogdet(prev.cov)[1]
        - np.linalg.slogdet(policy.cov)[1]
    )
    return kl.sum(-1)


def expected_cost(cost: QuadraticCost, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """sum_t E[c_t] under marginals mu [..., T, D], sigma [..., T, D, D], for the quadratic cost -> [...]."""
    quad = np.einsum("...i,...ij,...j->...", mu, cost.hess, mu) + np.einsum("...ij,...ji->...", cost.hess, sigma)
    return (cost.const + (cost.grad * mu).sum(-1) + 0.5 * quad).sum(-1)


def kl_constrained_update(
    cost: QuadraticCost,
    dynamics: LinearGaussianDynamics,
    prev: LinearGaussianPolicy,
    epsilon: np.ndarray,
    eta: np.ndarray,
    *,
    eta_bounds: tuple[float, float] = (1e-8, 1e16),
    max_iterations: int = 50,
    tolerance: float = 0.1,
) -> tuple[LinearGaussianPolicy, np.ndarray, np.ndarray]:
    """Find eta [...] per batch entry so that the new policy's KL to ``prev`` is within ``tolerance * epsilon``.

    Bracketing in log space (as in the GPS code): from the warm start ``eta``, too much KL means eta is too small,
    so raise it (at most x10 until a bracket exists, then the geometric mean of the bracket); too little KL lowers it
    likewise. KL falls monotonically in eta (eta -> inf returns ``prev``). An entry whose KL stays below epsilon at
    the smallest eta has an inactive constraint and keeps that eta. Returns (policy, eta, kl).
    """
    low = np.full(np.shape(epsilon), eta_bounds[0])
    high = np.full(np.shape(epsilon), eta_bounds[1])
    eta = np.clip(np.broadcast_to(eta, np.shape(epsilon)).astype(np.float64), *eta_bounds)
    for _ in range(max_iterations):
        policy, positive = solve_lqg(cost, dynamics, eta, prev)
        kl = kl_divergence(*forward(policy, dynamics), policy, prev)
        kl = np.where(positive, kl, np.inf)  # no bounded solution: treat as too far, raise eta
        done = (np.abs(kl - epsilon) <= tolerance * epsilon) | ((kl < epsilon) & (eta <= eta_bounds[0]))
        done |= (high / low < 1.0 + 1e-6) & positive  # the bracket has closed to machine precision
        if done.all():
            break
        too_far = kl > epsilon
        low = np.where(too_far & ~done, eta, low)
        high = np.where(~too_far & ~done, eta, high)
        middle = np.sqrt(low * high)
        new = np.where(too_far, np.minimum(middle, 10 * low), np.maximum(middle, 0.1 * high))
        eta = np.where(done, eta, np.clip(new, *eta_bounds))
    if not positive.all():  # not even the largest eta helped (rounding in huge fitted dynamics): take its limit,
        # which is ``prev`` itself (KL 0, within any bound)
        keep = ~positive
        policy = LinearGaussianPolicy(
            *(np.where(_expand(keep, new), old, new) for new, old in zip(policy, prev, strict=True))
        )
        eta, kl = np.where(keep, eta_bounds[1], eta), np.where(keep, 0.0, kl)
    return policy, eta, kl


def _expand(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    """mask [...] -> [..., 1, 1, ...] broadcastable against ``like`` [..., T, ...]."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - mask.ndim))


def step_multiplier(previous_nn, previous_predicted, current_nn, multiplier, low=0.01, high=10.0) -> float:
    """Adapt the KL step from predicted vs actual cost improvement (Levine et al. 2016, MDGPS step rule).

    previous_nn: expected cost of the previous iteration's linearised global policy under its dynamics;
    previous_predicted: expected cost of the controller the C-step then produced, under the same dynamics;
    current_nn: expected cost of the global policy now, under the newly fitted dynamics.
    Modelling the improvement as I(KL) = a KL - b KL^2 with a from the prediction and b from the shortfall, the best
    KL is pred / (2 (pred - actual)) times the last one; the change is kept within [0.1, 5] per iteration.
    """
    predicted = previous_nn - previous_predicted
    actual = previous_nn - current_nn
    change = np.clip(predicted / (2.0 * max(1e-4, predicted - actual)), 0.1, 5.0)
    return float(np.clip(change * multiplier, low, high))
