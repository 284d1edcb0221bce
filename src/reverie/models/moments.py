"""Exact moments of simple nonlinear maps of a Gaussian, for analytic (moment-matching) rollouts as in PILCO.

Every map takes an input ``x ~ N(m, S)`` and returns ``(M, C, V)``: the output's mean ``M``, its covariance ``C``
and ``V`` with ``cov(x, y) = S @ V`` (Deisenroth's "inverse-input times input-output covariance"). Keeping ``V``
instead of ``cov(x, y)`` lets a caller chain maps through any variable correlated with ``x``: for ``z`` jointly
Gaussian with ``x``, ``cov(z, y) = cov(z, x) @ V``, which is exact for every map here (Stein's lemma / linearity).

All functions are differentiable torch code; float64 is advised (the rollouts subtract close numbers).
"""

from __future__ import annotations

import torch


def _sin_cos_products(m: torch.Tensor, S: torch.Tensor):
    """E[sin a_i sin a_j], E[cos a_i cos a_j], E[sin a_i cos a_j] for a ~ N(m [k], S [k, k]); each [k, k].

    From products to sums: sin a sin b = (cos(a - b) - cos(a + b)) / 2 and so on, with
    E[cos(w^T a)] = exp(-w^T S w / 2) cos(w^T m) for w = e_i -+ e_j.
    """
    v = torch.diagonal(S)
    total = v[:, None] + v[None, :]
    e_minus = torch.exp(-(total - 2 * S) / 2)  # variance of a_i - a_j
    e_plus = torch.exp(-(total + 2 * S) / 2)  # variance of a_i + a_j
    diff, summ = m[:, None] - m[None, :], m[:, None] + m[None, :]
    ss = (e_minus * torch.cos(diff) - e_plus * torch.cos(summ)) / 2
    cc = (e_minus * torch.cos(diff) + e_plus * torch.cos(summ)) / 2
    sc = (e_plus * torch.sin(summ) + e_minus * torch.sin(diff)) / 2
    return ss, cc, sc


def trig_augment(m: torch.Tensor, S: torch.Tensor, angles: list[int]):
    """Moments of ``[sin x_angles, cos x_angles]`` for x ~ N(m [D], S [D, D]).

    Returns M [2k], C [2k, 2k] (sines first, then cosines) and V [D, 2k] with cov(x, out) = S @ V.
    """
    idx = torch.as_tensor(angles, dtype=torch.long)
    ma, Sa = m[idx], S[idx][:, idx]
    damp = torch.exp(-torch.diagonal(Sa) / 2)
    mean_sin, mean_cos = damp * torch.sin(ma), damp * torch.cos(ma)
    ss, cc, sc = _sin_cos_products(ma, Sa)
    C = torch.cat(
        [
            torch.cat([ss - mean_sin[:, None] * mean_sin, sc - mean_sin[:, None] * mean_cos], 1),
            torch.cat([sc.T - mean_cos[:, None] * mean_sin, cc - mean_cos[:, None] * mean_cos], 1),
        ],
        0,
    )
    # Stein: cov(x, sin a) = cov(x, a) E[cos a], cov(x, cos a) = -cov(x, a) E[sin a]; so V is sparse
    pick = torch.eye(m.shape[0], dtype=m.dtype)[:, idx]  # [D, k]: column j is the unit vector of angle j
    V = torch.cat([pick * mean_cos, -pick * mean_sin], 1)
    return torch.cat([mean_sin, mean_cos]), C, V


def sin_squash(m: torch.Tensor, S: torch.Tensor, low: torch.Tensor, high: torch.Tensor):
    """Moments of ``a = c + r sin(u)`` (c, r: centre and half-range of [low, high]) for u ~ N(m [F], S [F, F]).

    PILCO's squashing: bounded, smooth, and with exact moments (a clip has neither). Returns M [F], C [F, F],
    V [F, F] (diagonal) with cov(u, a) = S @ V.
    """
    centre, half = (high + low) / 2, (high - low) / 2
    damp = torch.exp(-torch.diagonal(S) / 2)
    mean_sin = damp * torch.sin(m)
    ss, _, _ = _sin_cos_products(m, S)
    C = half[:, None] * half[None, :] * (ss - mean_sin[:, None] * mean_sin[None, :])
    V = torch.diag(half * damp * torch.cos(m))
    return centre + half * mean_sin, C, V


def linear_moments(m: torch.Tensor, S: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """Moments of ``u = W x + b``; W [F, D], b [F]. Returns M [F], C [F, F], V = W^T [D, F]."""
    return weight @ m + bias, weight @ S @ weight.T, weight.T


def saturating_cost(m: torch.Tensor, S: torch.Tensor, target: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """E[1 - exp(-(x - z)^T W (x - z) / 2)] for x ~ N(m [D], S [D, D]), target z [D], weight W [D, D] -> [].

    Gaussian integral: 1 - det(I + S W)^(-1/2) exp(-(m - z)^T W (I + S W)^(-1) (m - z) / 2). The cost is bounded
    in [0, 1], so a wide state distribution far from the target costs ~1 no matter how wide: exploration-neutral
    far away, and it rewards certainty near the target (Deisenroth & Rasmussen 2011).
    """
    eye = torch.eye(m.shape[0], dtype=m.dtype)
    A = eye + S @ W
    diff = m - target
    quad = diff @ W @ torch.linalg.solve(A, diff)
    return 1 - torch.exp(-quad / 2 - torch.linalg.slogdet(A)[1] / 2)
