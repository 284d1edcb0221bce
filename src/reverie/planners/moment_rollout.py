"""PILCO's analytic rollout: a Gaussian state distribution pushed through controller and GP model by exact moment
matching, scored by the expected saturating cost (Deisenroth & Rasmussen 2011).

One step, for x_t ~ N(m, S) (x = the observation vector, D dims, k of them angles):

1. z = [x, sin x_angles, cos x_angles]: append the trigonometric features (exact moments, ``trig_augment``);
2. u = pi(z_in) with z_in = z without the raw angles; a = c + r sin(u): the squashed, bounded control;
3. Delta = f(z_in, a) ~ moment-matched GP prediction of the state change;
4. x_{t+1} = x_t + Delta: m' = m + mu_D, S' = S + S_D + cov(x, Delta) + cov(x, Delta)^T.

Cross-covariances are carried through every stage (the ``V`` matrices of ``reverie.models.moments``), so the
joint Gaussian over [z, a] that the GP sees is the exact moment match, as in PILCO's ``propagate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reverie.models.moments import saturating_cost, sin_squash, trig_augment


@dataclass
class RolloutSpec:
    """What the rollout needs besides controller and model (all float64 tensors).

    angles: obs dims that are angles; low, high [F]: action bounds; target_z [Dz]: the cost's target in z;
    W [Dz, Dz] = Q / width^2: the cost's weight.
    """

    angles: list[int]
    low: torch.Tensor
    high: torch.Tensor
    target_z: torch.Tensor
    W: torch.Tensor

    def input_dims(self, obs_dim: int) -> list[int]:
        """Indices into z of the controller's / model's state input: the non-angle obs dims, then sin, cos."""
        plain = [d for d in range(obs_dim) if d not in self.angles]
        return plain + list(range(obs_dim, obs_dim + 2 * len(self.angles)))


def augment(m: torch.Tensor, S: torch.Tensor, angles: list[int]):
    """x ~ N(m [D], S [D, D]) -> joint moments of z = [x, sin, cos]: mean [Dz], covariance [Dz, Dz]."""
    if not angles:
        return m, S
    ma, Sa, Va = trig_augment(m, S, angles)
    C = S @ Va  # [D, 2k]
    return torch.cat([m, ma]), torch.cat([torch.cat([S, C], 1), torch.cat([C.T, Sa], 1)], 0)


def _joint(m, S, m_new, S_new, C):
    """Append y (m_new, S_new) with cov(old, y) = C to the Gaussian (m, S)."""
    return torch.cat([m, m_new]), torch.cat([torch.cat([S, C], 1), torch.cat([C.T, S_new], 1)], 0)


def expected_cost(m: torch.Tensor, S: torch.Tensor, spec: RolloutSpec) -> torch.Tensor:
    """E[saturating cost] of x ~ N(m [D], S [D, D]) -> []."""
    mz, Sz = augment(m, S, spec.angles)
    return saturating_cost(mz, Sz, spec.target_z, spec.W)


def step(m: torch.Tensor, S: torch.Tensor, policy, model, spec: RolloutSpec, augmented=None):
    """One moment-matched time step: (m [D], S [D, D]) -> (m', S'). ``policy``: a controller's ``moment_fn()``;
    ``augmented``: ``augment(m, S, spec.angles)`` when the caller has it already (the cost needed it too)."""
    D = m.shape[0]
    mz, Sz = augmented if augmented is not None else augment(m, S, spec.angles)
    idx = torch.as_tensor(spec.input_dims(D))
    # the controller sees z_in; cov(z, u) = cov(z, z_in) V_u, then the squash: cov(z, a) = cov(z, u) V_a
    mu, Su, Vu = policy(mz[idx], Sz[idx][:, idx])
    ma, Sa, Va = sin_squash(mu, Su, spec.low, spec.high)
    mj, Sj = _joint(mz, Sz, ma, Sa, Sz[:, idx] @ Vu @ Va)
    # the model sees [z_in, a]
    jdx = torch.cat([idx, torch.arange(mz.shape[0], mj.shape[0])])
    md, Sd, Vd = model.moments(mj[jdx], Sj[jdx][:, jdx])
    Cxd = Sj[:D][:, jdx] @ Vd  # cov(x, Delta) [D, D]
    S_next = S + Sd + Cxd + Cxd.T
    return m + md, (S_next + S_next.T) / 2


def rollout(m0: torch.Tensor, S0: torch.Tensor, controller, model, spec: RolloutSpec, horizon: int):
    """Expected costs [horizon] of x_1..x_H and the final (m, S), starting from x_0 ~ N(m0, S0)."""
    m, S, costs, policy = m0, S0, [], controller.moment_fn()
    augmented = augment(m, S, spec.angles)
    for _ in range(horizon):
        m, S = step(m, S, policy, model, spec, augmented)
        augmented = augment(m, S, spec.angles)  # for the cost now and for the next step
        costs.append(saturating_cost(*augmented, spec.target_z, spec.W))
    return torch.stack(costs), (m, S)
