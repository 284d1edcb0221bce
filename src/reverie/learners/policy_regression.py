"""A Gaussian neural-network policy trained by precision-weighted regression onto teacher controllers.

Guided Policy Search's supervised step (Levine et al. 2016, eq. for the S-step; Montgomery & Levine 2016): the
global policy pi(u|o) = N(mu_theta(o), Sigma) is fitted to time-varying linear-Gaussian teachers
p_i(u|x) = N(K x + k, C) at the states the teachers visited, minimising

    sum_{i,t} (mu_theta(o_it) - (K_t x_it + k_t))^T C_t^{-1} (mu_theta(o_it) - (K_t x_it + k_t))

(where a teacher is sure, its precision is large, and the network must follow it closely) and setting
Sigma = (mean_{i,t} C_t^{-1})^{-1}, the covariance that minimises the KL to the teachers in closed form (diagonal,
as in the GPS code). Observations are standardised with statistics frozen at the first fit.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn


class GaussianMLPPolicy(nn.Module):
    """mu_theta: a ReLU MLP on standardised observations; ``variance`` [dU] is the diagonal of Sigma."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 64, layers: int = 2):
        super().__init__()
        sizes = [obs_dim] + [hidden] * layers
        body = []
        for size_in, size_out in itertools.pairwise(sizes):
            body += [nn.Linear(size_in, size_out), nn.ReLU()]
        self.net = nn.Sequential(*body, nn.Linear(sizes[-1], act_dim))
        self.register_buffer("obs_mean", torch.zeros(obs_dim, dtype=torch.float64))
        self.register_buffer("obs_scale", torch.ones(obs_dim, dtype=torch.float64))
        self.register_buffer("variance", torch.ones(act_dim, dtype=torch.float64))
        self.register_buffer("normalised", torch.zeros((), dtype=torch.bool))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Mean action [..., dU] of observations [..., dX] (float32 or float64; returns float32)."""
        return self.net(((obs - self.obs_mean) / self.obs_scale).float())

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Mean action for one observation or a batch, in NumPy (float64)."""
        with torch.no_grad():
            return self(torch.as_tensor(np.asarray(obs, np.float64))).double().numpy()


def fit_to_teachers(
    policy: GaussianMLPPolicy,
    obs: np.ndarray,
    target: np.ndarray,
    precision: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    generator: torch.Generator,
) -> float:
    """Precision-weighted regression: obs [P, dX], target [P, dU] teacher means, precision [P, dU, dU].

    Runs ``epochs`` passes of Adam over shuffled minibatches, then sets ``policy.variance``; returns the last epoch's
    mean weighted loss.
    """
    if not bool(policy.normalised):  # freeze the input standardisation at the first fit (as the GPS code does)
        policy.obs_mean.copy_(torch.as_tensor(obs.mean(0)))
        policy.obs_scale.copy_(torch.as_tensor(np.maximum(obs.std(0), 1e-3)))
        policy.normalised.fill_(True)
    # standardise once, outside the loop: the minibatch steps are small and their overhead counts
    inputs = ((torch.as_tensor(obs, dtype=torch.float64) - policy.obs_mean) / policy.obs_scale).float()
    goals = torch.as_tensor(target, dtype=torch.float32)
    weights = torch.as_tensor(precision, dtype=torch.float32)
    optimiser = torch.optim.Adam(policy.net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    loss_sum = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            gap = (policy.net(inputs[rows]) - goals[rows]).unsqueeze(-1)  # [B, dU, 1]
            loss = (gap.transpose(-1, -2) @ weights[rows] @ gap).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_sum += loss.item() * len(rows)
    policy.variance.copy_(torch.as_tensor(1.0 / np.diagonal(precision.mean(0))))
    return loss_sum / len(inputs)


def linearise(policy: GaussianMLPPolicy, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local linear fit of the mean around sampled observations: obs [..., N, dX] -> K [..., dU, dX], k [..., dU].

    K is the network's Jacobian averaged over the N samples and k = mean(mu(o) - K_i o) (first-order Taylor
    expansion at each sample, averaged), which is what the C-step of mirror-descent GPS needs at each time step.
    """
    flat = torch.as_tensor(obs.reshape(-1, obs.shape[-1]), dtype=torch.float64)
    jacobian = torch.func.vmap(torch.func.jacrev(lambda o: policy(o).double()))(flat)  # [P, dU, dX]
    with torch.no_grad():
        offset = policy(flat).double() - torch.einsum("pij,pj->pi", jacobian, flat)
    jacobian = jacobian.detach().numpy().reshape(*obs.shape[:-1], *jacobian.shape[1:])
    offset = offset.numpy().reshape(*obs.shape[:-1], -1)
    return jacobian.mean(-3), offset.mean(-2)
