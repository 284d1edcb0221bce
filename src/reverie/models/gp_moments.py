"""Exact moment matching of GP predictions at a Gaussian input (Deisenroth's PhD thesis; PILCO paper, section 2.2).

E independent GPs with squared-exponential ARD kernels k_a(x, x') = sf2_a exp(-(x - x')^T Lambda_a^-1 (x - x') / 2)
share the training inputs X [n, D]. For a test input x ~ N(m, S) this computes, in closed form, the mean and
covariance of the prediction and the input-output covariance, either for the full GP predictive distribution
(``iK`` given: the posterior variance of each latent function is added) or for the posterior mean alone (``iK``
None: PILCO's RBF controller, a deterministic function).

Memory: the E x E output covariance needs, for each output pair (a, b), an n x n matrix Q_ab. Q_ab is
exp(row term + column term + a rank-D cross term), so it is built from [n, D] factors and never as a
[n, n, D] tensor; only the E(E+1)/2 distinct pairs are formed (O(E^2 n^2) memory, reused scratch). Under autograd
the forward pass also forms the [n, D + 2] gradient factors of those pairs (``_PairTerms``, a hand-written
backward), so a 40-step rollout keeps O(E^2 n D) per step and no n x n tensor from one step to the next.
"""

from __future__ import annotations

import functools

import torch


class _PairTerms(torch.autograd.Function):
    """The n x n part of the output covariance for P output pairs (the first E pairs are the diagonal ones).

    With L_p = exp(U_p Wt_p) [n, n] (Wt [P, D+2, n]: contiguous, the fast layout for bmm), returns
    beta_a^T L_p beta_b [P] and tr(iK_a L_aa) [E] (empty without iK).
    Both outputs are linear in L, so their gradients with respect to U and Wt are fixed [n, D+2] matrices times the
    incoming scalars: the forward pass forms them while L is at hand, and a rollout under autograd keeps no n x n
    tensor between steps (nor recomputes one in the backward pass).
    """

    @staticmethod
    def forward(ctx, U, Wt, beta_a, beta_b, iK):
        L = torch.bmm(U, Wt, out=_workspace("L", (U.shape[0], U.shape[1], Wt.shape[2]), U.dtype)).exp_()  # [P, n, n]
        LK = iK * L[: iK.shape[0]] if iK is not None else None  # [E, n, n]
        trace = LK.sum((-1, -2)) if iK is not None else U.new_zeros(0)
        ctx.jacobians = None
        if not (U.requires_grad or Wt.requires_grad or beta_a.requires_grad or beta_b.requires_grad):
            # row-vector products (beta^T L): far faster in bmm than matrix-vector ones at this shape
            return (torch.bmm(beta_a[:, None, :], L).squeeze(1) * beta_b).sum(-1), trace
        # d quad / d(U Wt) = L * beta_a beta_b^T, so d quad / dU = beta_a * (L (beta_b * Wt^T)) and
        # d quad / dWt = (beta_a * U)^T L * beta_b; d trace / dU = (iK * L) Wt^T, d trace / dWt = U^T (iK * L).
        # Each is (skinny) x (n x n), bmm's faster layout here. U's last column and Wt's row D are ones, so the
        # same products give beta_a^T L and L beta_b (the quad and the gradients with respect to beta).
        aUL = torch.bmm((U * beta_a[:, :, None]).transpose(1, 2), L)  # [P, D+2, n]
        bWL = torch.bmm(Wt * beta_b[:, None, :], L.transpose(1, 2))  # [P, D+2, n]
        D = U.shape[2] - 2
        bL, Lb = aUL[:, D + 1], bWL[:, D]  # beta_a^T L, L beta_b: [P, n]
        KU = KW = None
        if iK is not None:
            KU = torch.bmm(Wt[: iK.shape[0]], LK.transpose(1, 2)).transpose(1, 2)
            KW = torch.bmm(U[: iK.shape[0]].transpose(1, 2), LK)
        ctx.jacobians = (bWL.transpose(1, 2) * beta_a[:, :, None], aUL * beta_b[:, None, :], Lb, bL, KU, KW)
        return (bL * beta_b).sum(-1), trace

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_quad, grad_trace):
        JU, JW, Lb, bL, KU, KW = ctx.jacobians
        grad_U, grad_Wt = grad_quad[:, None, None] * JU, grad_quad[:, None, None] * JW
        if KU is not None:
            E = KU.shape[0]
            grad_U[:E] += grad_trace[:, None, None] * KU
            grad_Wt[:E] += grad_trace[:, None, None] * KW
        # the dynamics GP's beta is data, the controller's is learned
        grad_beta_a = grad_quad[:, None] * Lb if ctx.needs_input_grad[2] else None
        grad_beta_b = grad_quad[:, None] * bL if ctx.needs_input_grad[3] else None
        return grad_U, grad_Wt, grad_beta_a, grad_beta_b, None


_WORKSPACE: dict = {}


def _workspace(slot: str, shape: tuple, dtype) -> torch.Tensor:
    """A reusable scratch tensor of ``shape`` (grown on demand, never shrunk): the n x n matrices of every call
    live in the same memory. Safe because each use ends before the next begins (rollouts are sequential)."""
    size = shape[0] * shape[1] * shape[2]
    buf = _WORKSPACE.get((slot, dtype))
    if buf is None or buf.numel() < size:
        buf = _WORKSPACE[(slot, dtype)] = torch.empty(size, dtype=dtype)
    return buf[:size].view(shape)


def gp_moments(m, S, X, beta, ell, sf2, *, iK=None):
    """Moments of f(x) [E] for x ~ N(m [D], S [D, D]) under E GPs on inputs X [n, D].

    beta [E, n] = K_a^-1 y_a; ell [E, D] length-scales; sf2 [E] signal variances; iK [E, n, n] = K_a^-1 or None.
    Returns M [E], C [E, E] (latent: without observation noise) and V [D, E] with cov(x, f) = S @ V.
    """
    E, D = ell.shape
    eye = torch.eye(D, dtype=m.dtype)
    inp = X - m  # [n, D]
    il = 1 / ell  # [E, D]
    iN = inp[None] * il[:, None, :]  # [E, n, D]  (X - m) Lambda^-1/2
    # mean: q_ai = sf2_a |B_a|^-1/2 exp(-iN_ai^T B_a^-1 iN_ai / 2), B_a = Lambda^-1/2 S Lambda^-1/2 + I
    B = il[:, :, None] * S[None] * il[:, None, :] + eye  # [E, D, D], symmetric positive definite
    chol_B = torch.linalg.cholesky(B)  # one factorisation for the solve and the determinant
    t = torch.cholesky_solve(iN.transpose(1, 2), chol_B).transpose(1, 2)  # [E, n, D] = iN B^-1
    lb = torch.exp(-(iN * t).sum(-1) / 2) * beta  # [E, n]
    c = sf2 / chol_B.diagonal(dim1=-2, dim2=-1).prod(-1)  # [E]: sf2 |B|^-1/2
    M = c * lb.sum(-1)
    # S^-1 cov(x, f_a) = (S + Lambda_a)^-1 sum_i beta_ai q_ai (x_i - m) = sum_i Lambda^-1/2 t_ai lb_ai c_a
    V = ((t * il[:, None, :]) * lb[:, :, None]).sum(1).T * c  # [D, E]

    # covariance: for each pair (a, b), R = S (Lambda_a^-1 + Lambda_b^-1) + I and
    # E[f_a f_b] = |R|^-1/2 beta_a^T Q_ab beta_b  (+ sf2_a - |R|^-1/2 tr(K_a^-1 Q_aa) on the diagonal with iK)
    pa, pb, where = _pairs(E)
    ii = iN * il[:, None, :]  # [E, n, D]  (X - m) Lambda^-1
    k = torch.log(sf2)[:, None] - (iN * iN).sum(-1) / 2  # [E, n]
    # R = S Lambda_ab + I with Lambda_ab = Lambda_a^-1 + Lambda_b^-1 = s^2 (diagonal) is s^-1 T s for the symmetric
    # positive definite T = s S s + I, so R^-1 S = s^-1 T^-1 s S (symmetric) and |R| = |T|: one Cholesky of T
    s = torch.sqrt(il[pa] ** 2 + il[pb] ** 2)  # [P, D]
    chol_T = torch.linalg.cholesky(s[:, :, None] * S[None] * s[:, None, :] + eye)  # [P, D, D]
    Q = torch.cholesky_solve(s[:, :, None] * S[None], chol_T) / (2 * s[:, :, None])  # [P, D, D]
    # exponent of Q_ab: z_ai^T Q z_ai + k_ai (rows) + z_bj^T Q z_bj + k_bj (columns) + 2 z_ai^T Q z_bj,
    # written as one product U W^T of [n, D + 2] factors so the n x n matrix is formed once, by one bmm
    ii_a, ii_b = ii[pa], ii[pb]
    iiQ = ii_a @ Q  # [P, n, D]
    row = (iiQ * ii_a).sum(-1) + k[pa]  # [P, n]
    col = ((ii_b @ Q) * ii_b).sum(-1) + k[pb]
    ones = torch.ones_like(row)[:, :, None]
    U = torch.cat([2 * iiQ, row[:, :, None], ones], -1)
    Wt = torch.cat([ii_b, ones, col[:, :, None]], -1).transpose(1, 2).contiguous()
    quad, trace = _PairTerms.apply(U, Wt, beta[pa], beta[pb], iK)
    inv_sqrt_det = 1 / chol_T.diagonal(dim1=-2, dim2=-1).prod(-1)  # [P]: |R|^-1/2
    second = inv_sqrt_det * quad
    if iK is not None:
        second = torch.cat([second[:E] + sf2 - inv_sqrt_det[:E] * trace, second[E:]])
    C = second[where] - M[:, None] * M[None, :]  # [E, E]: where[a, b] is the pair index of (a, b) or (b, a)
    return M, (C + C.T) / 2, V


@functools.lru_cache(maxsize=16)
def _pairs(E: int):
    """Diagonal pairs first (the variance terms need them), then a < b: E(E+1)/2 pairs as two index tensors,
    and where [E, E]: the pair index of (a, b), the same for (b, a)."""
    upper = torch.triu_indices(E, E, offset=1)
    pa = torch.cat([torch.arange(E), upper[0]])
    pb = torch.cat([torch.arange(E), upper[1]])
    where = torch.empty(E, E, dtype=torch.long)
    where[pa, pb] = where[pb, pa] = torch.arange(len(pa))
    return pa, pb, where
