"""Time-varying linear-Gaussian dynamics fitted by regression with a Gaussian-mixture prior (Levine et al. 2016).

For one condition (a start state and target) and each time step t the model is

    x_{t+1} ~ N(F_t [x_t; u_t] + f_t, S_t)

fitted from a handful of trajectories (N = 5 in the paper: far fewer than the dX + dU + 1 parameters per output). Each
time step's fit is therefore a MAP estimate under a normal-inverse-Wishart prior whose mean mu0 and scatter Phi are
the moments of a Gaussian mixture fitted to *all* transitions (x, u, x') of recent iterations, weighted by how much
each cluster owns the current time step's points (Levine, Finn, Darrell & Abbeel 2016, JMLR, Appendix A.3). The
mixture knows what transitions look like nearby in any trajectory; the few samples at t say where exactly we are.

With the N points y_i = [x_t; u_t; x_{t+1}] at time t, their mean y_bar and biased covariance S_emp:

    Sigma = (N S_emp + m Phi + N m / (N + m) (y_bar - mu0)(y_bar - mu0)^T) / (N + n0)
    F_t = Sigma_{x',xu} Sigma_{xu,xu}^{-1},   f_t = y_bar_{x'} - F_t y_bar_{xu}
    S_t = Sigma_{x',x'} - F_t Sigma_{xu,xu} F_t^T

(the mean keeps the data's y_bar). All time steps are solved at once, batched in NumPy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SIGMA_REG = 1e-6  # added to the (x, u) block so the conditioning solve never meets a singular matrix


class LinearGaussianDynamics(NamedTuple):
    """Per-time-step dynamics of one or several conditions ([...] = leading batch dims, e.g. [conditions]).

    F [..., T-1, dX, dX+dU]; f [..., T-1, dX]; cov [..., T-1, dX, dX]; x0_mean [..., dX]; x0_cov [..., dX, dX].
    """

    F: np.ndarray
    f: np.ndarray
    cov: np.ndarray
    x0_mean: np.ndarray
    x0_cov: np.ndarray


class GMMPrior:
    """A Gaussian mixture over transition points [x; u; x'], turned into a NIW prior per time step.

    Args:
        max_clusters: at most this many components (paper code: 20).
        min_points_per_cluster: fewer clusters when there are fewer than this many points per cluster (40).
        strength: the prior's pseudo-counts m = n0 (1: worth about one sample, as in the paper's code).
        seed: random state of the mixture's k-means initialisation.
    """

    def __init__(self, max_clusters: int = 20, min_points_per_cluster: int = 40, strength: float = 1.0, seed: int = 0):
        self.max_clusters, self.min_points = max_clusters, min_points_per_cluster
        self.strength, self.seed = strength, seed
        self.gmm = None

    def update(self, points: np.ndarray) -> None:
        """Fit the mixture to points [P, D] (all transitions of the recent trajectories)."""
        from sklearn.mixture import GaussianMixture  # imported when GPS runs, not when reverie is imported

        k = int(max(2, min(self.max_clusters, len(points) // self.min_points)))
        self.gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, random_state=self.seed, max_iter=100)
        self.gmm.fit(points)

    def moments(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The prior at each time step: points [T, N, D] -> mu0 [T, D], Phi [T, D, D].

        The cluster weights at t are the posterior responsibilities averaged over t's N points; mu0 and Phi are the
        mean and covariance of the mixture re-weighted that way (moment matching).
        """
        steps, n, d = points.shape
        weights = self.gmm.predict_proba(points.reshape(-1, d)).reshape(steps, n, -1).mean(1)  # [T, K]
        mu0 = weights @ self.gmm.means_  # [T, D]
        spread = self.gmm.means_[None] - mu0[:, None]  # [T, K, D]
        outer = self.gmm.covariances_[None] + spread[..., :, None] * spread[..., None, :]  # [T, K, D, D]
        return mu0, np.einsum("tk,tkij->tij", weights, outer)


def fit_dynamics(x: np.ndarray, u: np.ndarray, prior: GMMPrior | None = None) -> LinearGaussianDynamics:
    """Fit the per-time-step dynamics of one condition: x [N, T, dX], u [N, T, dU] -> LinearGaussianDynamics.

    Without a prior the fit is plain least squares (it needs N > dX + dU to be well posed).
    """
    n, _, dx = x.shape
    du = u.shape[2]
    points = np.concatenate([x[:, :-1], u[:, :-1], x[:, 1:]], -1).transpose(1, 0, 2)  # [T-1, N, D]
    mean = points.mean(1)  # [T-1, D]
    centred = points - mean[:, None]
    sigma = np.einsum("tni,tnj->tij", centred, centred) / n  # biased empirical covariance [T-1, D, D]
    if prior is not None:
        mu0, phi = prior.moments(points)
        m = n0 = prior.strength
        gap = mean - mu0
        sigma = (n * sigma + m * phi + (n * m / (n + m)) * gap[:, :, None] * gap[:, None, :]) / (n + n0)
    sigma = 0.5 * (sigma + sigma.transpose(0, 2, 1))
    xu = slice(0, dx + du)
    sigma[:, xu, xu] += SIGMA_REG * np.eye(dx + du)
    # condition the joint Gaussian on (x, u): F = Sigma_{x',xu} Sigma_{xu,xu}^{-1}
    F = np.linalg.solve(sigma[:, xu, xu], sigma[:, xu, dx + du :]).transpose(0, 2, 1)  # [T-1, dX, dX+dU]
    f = mean[:, dx + du :] - np.einsum("tij,tj->ti", F, mean[:, xu])
    cov = sigma[:, dx + du :, dx + du :] - F @ sigma[:, xu, xu] @ F.transpose(0, 2, 1)
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    x0 = x[:, 0]
    x0_cov = np.diag(np.maximum(x0.var(0), 1e-6))  # the spread of start states, floored (paper code: 1e-6)
    return LinearGaussianDynamics(F, f, cov, x0.mean(0), x0_cov)
