"""PILCO's controllers: a linear map and an RBF network, each with exact moments at a Gaussian input.

Both return the *unsquashed* control u; the caller bounds it with ``moments.sin_squash``. ``moments(m, S)`` follows
the convention of ``reverie.models.moments``: mean [F], covariance [F, F] and V [D, F] with cov(x, u) = S @ V.
``moment_fn()`` returns ``moments`` with the parameter-only work done once, for a rollout's many steps.
``__call__(x [B, D]) -> u [B, F]`` evaluates the controller at deterministic states (to act in the real env).
"""

from __future__ import annotations

import torch
from torch import nn

from reverie.models.gp import se_kernel, stable_cholesky
from reverie.models.gp_moments import gp_moments
from reverie.models.moments import linear_moments


class LinearController(nn.Module):
    """u = W x + b. W starts small and random so the first rollout's gradient is informative."""

    def __init__(self, in_dim: int, out_dim: int, generator: torch.Generator):
        super().__init__()
        self.weight = nn.Parameter(0.1 * torch.randn(out_dim, in_dim, generator=generator, dtype=torch.float64))
        self.bias = nn.Parameter(torch.zeros(out_dim, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias

    def moments(self, m: torch.Tensor, S: torch.Tensor):
        return linear_moments(m, S, self.weight, self.bias)

    def moment_fn(self):
        """``moments`` for one rollout (nothing to precompute for a linear map)."""
        return self.moments


class RBFController(nn.Module):
    """u_f = sum_i beta_fi k(c_i, x): the posterior mean of a GP with pseudo-inputs c (the centres) and
    pseudo-targets t, beta = (K_cc + sn2 I)^-1 t (PILCO). Learned: centres, targets, length-scales.

    Parametrising by pseudo-targets rather than by beta keeps the output's scale near the targets' however
    close two centres move. sf2 = 1 and sn = 0.01 are fixed, as in PILCO.
    """

    NOISE_STD = 0.01

    def __init__(self, in_dim: int, out_dim: int, num_centres: int, mean: torch.Tensor, cov: torch.Tensor,
                 generator: torch.Generator, *, length_scales: torch.Tensor | None = None):  # fmt: skip
        super().__init__()
        # centres drawn from the start distribution of the controller's input: where the first rollout begins
        chol = torch.linalg.cholesky(cov + 1e-9 * torch.eye(in_dim, dtype=torch.float64))
        noise = torch.randn(num_centres, in_dim, generator=generator, dtype=torch.float64)
        self.centres = nn.Parameter(mean + noise @ chol.T)
        self.targets = nn.Parameter(0.1 * torch.randn(num_centres, out_dim, generator=generator, dtype=torch.float64))
        ell = torch.ones(in_dim, dtype=torch.float64) if length_scales is None else length_scales.double()
        self.log_ell = nn.Parameter(torch.log(ell))
        self.out_dim = out_dim

    def _beta(self):
        """ell [F, D], sf2 [F], beta [F, n] of the pseudo-training set (all outputs share the length-scales)."""
        ell = torch.exp(self.log_ell).expand(self.out_dim, -1)
        sf2 = torch.ones(self.out_dim, dtype=torch.float64)
        n = self.centres.shape[0]
        K = se_kernel(self.centres, self.centres, ell[:1], sf2[:1])[0] + self.NOISE_STD**2 * torch.eye(n)
        L = stable_cholesky(K, "RBF controller's kernel")
        beta = torch.cholesky_solve(self.targets, L).T  # [F, n]
        return ell, sf2, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ell, sf2, beta = self._beta()
        k = se_kernel(x, self.centres, ell[:1], sf2[:1])[0]  # [B, n]
        return k @ beta.T

    def moments(self, m: torch.Tensor, S: torch.Tensor):
        return self.moment_fn()(m, S)

    def moment_fn(self):
        """``moments`` with beta solved once: a rollout calls it at every step with the same parameters."""
        ell, sf2, beta = self._beta()
        return lambda m, S: gp_moments(m, S, self.centres, beta, ell, sf2, iK=None)
