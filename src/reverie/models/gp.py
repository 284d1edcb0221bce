"""Gaussian-process dynamics: one GP per output dimension, squared-exponential ARD kernel (PILCO's model).

``GPModel.fit(X [n, D], Y [n, E])`` learns E independent GPs y_a = f_a(x) + eps, f_a ~ GP(0, k_a),
k_a(x, x') = sf2_a exp(-(x - x')^T diag(ell_a)^-2 (x - x') / 2), eps ~ N(0, sn2_a), by maximising the log marginal
likelihood (L-BFGS) with priors that keep it well posed on small data sets:

- a floor on the noise std (``noise_floor``) and a soft barrier on the signal-to-noise ratio sf / sn (as PILCO's
  "hypCurb"): a noiseless fit of a few dozen points is otherwise a likely optimum and an ill-conditioned kernel;
- a Gamma(2, rate) prior on each length-scale in units of that input's standard deviation (mode at one std),
  which stops length-scales collapsing onto the data points or running off to infinity.

Above ``max_points`` training points a subset is kept ("recent": the newest points, where the current policy
goes; "fps": farthest-point sampling in length-scale units, which covers the visited region evenly).
A Cholesky factorisation that fails is retried with growing jitter, with a warning saying so.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import torch

from reverie.models.gp_moments import gp_moments

log = logging.getLogger(__name__)
DTYPE = torch.float64  # Cholesky of smooth kernels loses float32 entirely
SNR_CURB = 500.0  # sf / sn ratio beyond which the barrier bites (PILCO's value)


def stable_cholesky(K: torch.Tensor, what: str = "GP kernel") -> torch.Tensor:
    """Cholesky factor of K [..., n, n]; on failure retry with jitter 1e-9, 1e-8, ... times the mean diagonal."""
    L, info = torch.linalg.cholesky_ex(K)
    if not bool((info > 0).any()):
        return L
    scale = torch.diagonal(K, dim1=-2, dim2=-1).mean().detach()
    eye = torch.eye(K.shape[-1], dtype=K.dtype)
    for power in range(-9, 0):
        jitter = float(scale) * 10.0**power
        L, info = torch.linalg.cholesky_ex(K + jitter * eye)
        if not bool((info > 0).any()):
            message = f"Cholesky of the {what} failed; recovered with jitter {jitter:.3g} on the diagonal"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
            return L
    raise np.linalg.LinAlgError(f"Cholesky of the {what} failed even with jitter {jitter:.3g}")


def se_kernel(A: torch.Tensor, B: torch.Tensor, ell: torch.Tensor, sf2: torch.Tensor) -> torch.Tensor:
    """k(A, B) for E kernels: A [n, D], B [p, D], ell [E, D], sf2 [E] -> [E, n, p]."""
    a, b = A[None] / ell[:, None, :], B[None] / ell[:, None, :]
    sq = (a * a).sum(-1)[:, :, None] + (b * b).sum(-1)[:, None, :] - 2 * a @ b.transpose(1, 2)
    return sf2[:, None, None] * torch.exp(-sq.clamp_min(0) / 2)


def farthest_points(X: np.ndarray, count: int, scale: np.ndarray) -> np.ndarray:
    """Indices of ``count`` rows of X [n, D] chosen greedily farthest apart in units of ``scale`` [D]; starts
    from the newest row (the newest data matter most to the next rollout)."""
    Z = X / scale
    chosen = [len(Z) - 1]
    dist = ((Z - Z[-1]) ** 2).sum(1)
    for _ in range(count - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = np.minimum(dist, ((Z - Z[nxt]) ** 2).sum(1))
    return np.sort(np.array(chosen))


class GPModel:
    """E independent SE-ARD GPs on shared inputs. After ``fit``: X [n, D], beta [E, n], iK [E, n, n], hypers."""

    def __init__(self, in_dim: int, out_dim: int, max_points: int = 350, subset: str = "recent",
                 noise_floor: float = 1e-3, iterations: int = 100):  # fmt: skip
        self.in_dim, self.out_dim = in_dim, out_dim
        self.max_points, self.subset = max_points, subset
        self.noise_floor, self.iterations = noise_floor, iterations
        self.log_ell = self.log_sf = self.log_sn = None  # hyperparameters ([E, D], [E], [E]); None before a fit

    @property
    def ell(self) -> torch.Tensor:
        return torch.exp(self.log_ell)

    @property
    def sf2(self) -> torch.Tensor:
        return torch.exp(2 * self.log_sf)

    @property
    def sn2(self) -> torch.Tensor:
        return (self.noise_floor + torch.exp(self.log_sn)) ** 2

    def fit(self, X: np.ndarray, Y: np.ndarray) -> dict:
        """Learn the hyperparameters on X [n, D] -> Y [n, E] (warm-started from the last fit), then cache the
        posterior. Returns model metrics."""
        if len(X) > self.max_points:
            if self.subset == "fps":
                scale = self.ell.mean(0).numpy() if self.log_ell is not None else X.std(0) + 1e-6
                keep = farthest_points(X, self.max_points, scale)
            else:
                keep = np.arange(len(X) - self.max_points, len(X))
            X, Y = X[keep], Y[keep]
        X, Y = torch.as_tensor(X, dtype=DTYPE), torch.as_tensor(Y, dtype=DTYPE)
        x_std = X.std(0).clamp_min(1e-3)  # [D]; the length-scale prior's unit
        if self.log_ell is None:  # PILCO's initialisation: ell = input std, sf = target std, sn = sf / 10
            y_std = Y.std(0).clamp_min(1e-3)
            self.log_ell = torch.log(x_std).expand(self.out_dim, -1).clone()
            self.log_sf = torch.log(y_std)
            self.log_sn = torch.log((y_std / 10 - self.noise_floor).clamp_min(self.noise_floor / 10))
        params = [p.detach().clone().requires_grad_(True) for p in (self.log_ell, self.log_sf, self.log_sn)]
        optimizer = torch.optim.LBFGS(params, max_iter=self.iterations, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            loss = self._neg_log_posterior(X, Y, x_std, *params)
            loss.backward()
            return loss

        try:
            optimizer.step(closure)
        except np.linalg.LinAlgError:  # a line-search probe left the stable region: keep the last good point
            pass
        if all(bool(torch.isfinite(p).all()) for p in params):
            self.log_ell, self.log_sf, self.log_sn = (p.detach() for p in params)
        self._cache(X, Y)
        with torch.no_grad():
            nlp = float(self._neg_log_posterior(X, Y, x_std, self.log_ell, self.log_sf, self.log_sn))
        return {
            "model/points": len(X),
            "model/neg_log_posterior_per_point": nlp / (len(X) * self.out_dim),
            "model/noise_std": float(torch.sqrt(self.sn2).mean()),
            "model/signal_std": float(torch.exp(self.log_sf).mean()),
        }

    def _neg_log_posterior(self, X, Y, x_std, log_ell, log_sf, log_sn) -> torch.Tensor:
        """-log p(Y | X, theta) - log p(theta), summed over the E outputs."""
        n = X.shape[0]
        sn = self.noise_floor + torch.exp(log_sn)
        K = se_kernel(X, X, torch.exp(log_ell), torch.exp(2 * log_sf)) + (sn**2)[:, None, None] * torch.eye(n)
        L = stable_cholesky(K)
        alpha = torch.cholesky_solve(Y.T[:, :, None], L)  # [E, n, 1]
        nll = 0.5 * (Y.T[:, :, None] * alpha).sum() + torch.log(torch.diagonal(L, dim1=1, dim2=2)).sum()
        nll = nll + 0.5 * n * self.out_dim * math.log(2 * math.pi)
        # Gamma(shape 2, rate 1) on ell / std: -log p = -log(r) + r (+ const), mode r = 1
        r = torch.exp(log_ell) / x_std
        prior = (r - torch.log(r)).sum()
        # soft barrier on log(sf / sn) beyond log(SNR_CURB) (p = 30: flat inside, a wall outside)
        prior = prior + ((log_sf - torch.log(sn)) / math.log(SNR_CURB)).pow(30).sum()
        return nll + prior

    def _cache(self, X: torch.Tensor, Y: torch.Tensor) -> None:
        """Posterior quantities for prediction: beta = K^-1 y and K^-1, per output."""
        n = X.shape[0]
        K = se_kernel(X, X, self.ell, self.sf2) + self.sn2[:, None, None] * torch.eye(n, dtype=DTYPE)
        L = stable_cholesky(K)
        self.X = X
        self.iK = torch.cholesky_inverse(L)  # [E, n, n]
        self.beta = torch.cholesky_solve(Y.T[:, :, None], L).squeeze(-1)  # [E, n]

    def predict(self, x: torch.Tensor):
        """Posterior mean [B, E] and latent variance [B, E] at deterministic inputs x [B, D]."""
        k = se_kernel(x, self.X, self.ell, self.sf2)  # [E, B, n]
        mean = (k @ self.beta[:, :, None]).squeeze(-1).T
        var = self.sf2[:, None] - ((k @ self.iK) * k).sum(-1)
        return mean, var.T.clamp_min(0)

    def moments(self, m: torch.Tensor, S: torch.Tensor, noise: bool = False):
        """Moment-matched prediction at x ~ N(m [D], S [D, D]): M [E], C [E, E], V [D, E] (see gp_moments).

        ``noise``: add the observation noise sn2 to C (the distribution of a new noisy observation of y)."""
        M, C, V = gp_moments(m, S, self.X, self.beta, self.ell, self.sf2, iK=self.iK)
        return M, (C + torch.diag(self.sn2)) if noise else C, V

    def hyper_arrays(self) -> dict[str, np.ndarray]:
        """The hyperparameters as numpy arrays (for checkpoints; the data are the caller's)."""
        if self.log_ell is None:
            return {}
        return {"gp.log_ell": self.log_ell.numpy(), "gp.log_sf": self.log_sf.numpy(), "gp.log_sn": self.log_sn.numpy()}

    def load_hyper_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        if "gp.log_ell" in arrays:
            names = ("log_ell", "log_sf", "log_sn")
            self.log_ell, self.log_sf, self.log_sn = (torch.as_tensor(arrays[f"gp.{k}"]) for k in names)
