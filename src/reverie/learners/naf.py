"""Normalized advantage functions (Gu, Lillicrap, Sutskever & Levine 2016, "Continuous Deep Q-Learning with
Model-based Acceleration", Algorithm 1): Q-learning for continuous actions, made possible by a Q-function whose
maximum over actions is known in closed form.

    Q(s, a) = V(s) + A(s, a),   A(s, a) = -1/2 (a - mu(s))^T P(s) (a - mu(s)),   P(s) = L(s) L(s)^T

L is lower-triangular with an exponentiated (so positive) diagonal, hence P is positive definite, A <= 0 with
equality at a = mu(s): mu is the greedy policy and V the value, and no actor network is needed. One network
outputs V, mu (tanh, in [-1, 1] action units) and L's entries. The update (Algorithm 1's inner loop):

    for each gradient step:
        y_i = r_i + gamma (1 - terminated_i) V'(s'_i)          (V' of the slowly moving target network)
        theta <- theta - lr grad 1/2 mean_i (Q(s_i, a_i | theta) - y_i)^2
        theta' <- tau theta + (1 - tau) theta'

Actions inside the learner are in [-1, 1]; ``act`` and ``update`` take and give the env's own Box actions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from reverie.config import check_range
from reverie.learners.nets import ActionScale, EnsembleMLP, adam, soft_update
from reverie.packing import pack, unpack


@dataclass
class NAFConfig:
    """NAF's settings. Defaults: the paper's two 200-unit layers and Adam; lr, tau, batch and exploration were
    measured on Pendulum-v1 (docs/algorithms/naf.md)."""

    lr: float = 1e-3  # Adam step size
    gamma: float = 0.99  # discount
    tau: float = 0.001  # target-network smoothing per update (the paper's; 0.005 collapsed on Pendulum-v1)
    batch_size: int = 128  # transitions per gradient step
    hidden_size: int = 200  # width of the network's hidden layers
    num_layers: int = 2  # hidden layers of the network (V, mu and L share them)
    exploration_noise: float = 0.3  # std of the Gaussian added to mu(s) when collecting data, in [-1, 1] units
    # weight of mean(pre-tanh mu^2) in the loss: keeps tanh out of its flat tails, where mu stops learning
    saturation_penalty: float = 1e-3
    # where Q rises all the way to a bound, a vertex held inside the box (1) let P collapse to 0 on Pendulum-v1
    vertex_range: float = 3.0  # mu = vertex_range tanh(u), unit actions: the vertex may lie past the bounds (acts clip)

    def __post_init__(self):
        check_range("lr", self.lr, 1e-12, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0)
        for name in ("batch_size", "hidden_size", "num_layers"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("exploration_noise", self.exploration_noise, 0.0, 10.0)
        check_range("saturation_penalty", self.saturation_penalty, 0.0, 1e3)
        check_range("vertex_range", self.vertex_range, 1.0, 100.0)


# -- the Q-function and its target (pure functions) ---------------------------------------------------
def naf_advantage(action: Tensor, mu: Tensor, L: Tensor) -> Tensor:
    """A(s, a) = -1/2 (a - mu)^T L L^T (a - mu) = -1/2 ||L^T (a - mu)||^2.

    action, mu [B, A]; L [B, A, A] lower-triangular -> [B], at most 0 and 0 exactly at a = mu."""
    projected = torch.einsum("bji,bj->bi", L, action - mu)  # L^T (a - mu): [B, A]
    return -0.5 * projected.pow(2).sum(dim=-1)


def box_max_value(value: Tensor, mu: Tensor, L: Tensor) -> Tensor:
    """max over the action box [-1, 1]^A of Q = V + A: V itself where mu lies inside it, V + A(clip(mu)) where mu
    lies past a bound (the clipped vertex is the box's maximum for one action dimension, and close to it for
    more); value [B], mu [B, A], L [B, A, A] -> [B]."""
    return value + naf_advantage(mu.clamp(-1.0, 1.0), mu, L)


def naf_target(reward: Tensor, terminated: Tensor, next_value: Tensor, gamma: float) -> Tensor:
    """y = r + gamma (1 - terminated) V'(s'); reward, terminated, next_value [B] -> [B]. V' = max_a Q'(s', a) in
    closed form; a truncated row (a time limit) is not terminated, so it bootstraps."""
    return reward + gamma * (1.0 - terminated.float()) * next_value


def naf_loss(q: Tensor, target: Tensor, pre_tanh_mu: Tensor, saturation_penalty: float) -> Tensor:
    """1/2 mean_B (Q(s, a) - y)^2 + c mean_B ||u||^2, mu = tanh(u); q [B], target [B] (no gradient), pre_tanh_mu
    [B, A] -> scalar.

    The penalty (not in the paper) guards against a deadlock measured on Pendulum-v1: where the best action lies at
    a bound, u grows without limit and tanh saturates; the fitted parabola's vertex then cannot move (its gradient
    carries tanh'(u) ~ 0), so where the best action later flips, the least-squares fit of a parabola pinned at the
    wrong bound is flat, P -> 0, and mu's gradient P (a - mu) vanishes for good."""
    return 0.5 * (q - target.detach()).pow(2).mean() + saturation_penalty * pre_tanh_mu.pow(2).sum(-1).mean()


class NAFNetwork(nn.Module):
    """obs [B, obs_dim] -> V [B], mu [B, A] in [-1, 1], L [B, A, A] (lower-triangular, positive diagonal)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], vertex_range: float = 1.0):
        super().__init__()
        self.act_dim, self.vertex_range = act_dim, vertex_range
        rows, cols = torch.tril_indices(act_dim, act_dim)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.net = EnsembleMLP(1, obs_dim, 1 + act_dim + len(rows), hidden)  # V, mu and L's entries: shared layers

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        value, pre_tanh_mu, L = self.heads(obs)
        return value, self.vertex_range * torch.tanh(pre_tanh_mu), L

    def heads(self, obs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``forward``, with mu before its tanh: V [B], u [B, A] (mu = vertex_range tanh(u)), L [B, A, A]."""
        out = self.net(obs)[0]
        value, pre_tanh_mu, entries = out[:, 0], out[:, 1 : 1 + self.act_dim], out[:, 1 + self.act_dim :]
        entries = torch.where(self.rows == self.cols, entries.exp(), entries)  # exp on the diagonal: P is definite
        L = entries.new_zeros(len(obs), self.act_dim, self.act_dim)
        L[:, self.rows, self.cols] = entries
        return value, pre_tanh_mu, L

    def q(self, obs: Tensor, unit_act: Tensor) -> Tensor:
        """Q(s, a) = V(s) + A(s, a): obs [B, obs_dim], unit_act [B, A] in [-1, 1] -> [B]."""
        value, mu, L = self(obs)
        return value + naf_advantage(unit_act, mu, L)


class NAF:
    """A NAF learner for observations [obs_dim] and Box actions in [low, high] (``NAFConfig``)."""

    def __init__(self, obs_dim: int, low, high, config: NAFConfig):
        self.config, self.scale = config, ActionScale(low, high)
        hidden = (config.hidden_size,) * config.num_layers
        self.network = NAFNetwork(obs_dim, len(self.scale.low), hidden, config.vertex_range)
        self.target = copy.deepcopy(self.network).requires_grad_(False)
        self.optimizer = adam(self.network.parameters(), config.lr)
        self.updates = 0

    @torch.no_grad()
    def act(self, obs: np.ndarray, generator: torch.Generator | None, deterministic: bool = False) -> np.ndarray:
        """The env action for one observation [obs_dim] (or [B, obs_dim]): mu(s) = argmax_a Q(s, a), plus clipped
        Gaussian exploration noise unless ``deterministic``."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        _, mu, _ = self.network(obs_t.reshape(-1, obs_t.shape[-1]))
        unit = mu.clamp(-1.0, 1.0)  # the best action in the box (mu itself may lie past a bound)
        if not deterministic and self.config.exploration_noise > 0:
            noise = torch.randn(unit.shape, generator=generator) * self.config.exploration_noise
            unit = (unit + noise).clamp(-1.0, 1.0)
        return self.scale.to_env(unit).reshape(*obs_t.shape[:-1], -1).numpy()

    def update(self, batch: dict[str, Tensor], generator: torch.Generator | None = None) -> dict[str, float]:
        """One Q-learning step on ``batch`` (env actions, rewards, terminated) and one soft target update."""
        with torch.no_grad():
            next_value = box_max_value(*self.target(batch["next_obs"].float()))
            target = naf_target(batch["reward"].float(), batch["terminated"], next_value, self.config.gamma)
        value, pre_tanh_mu, L = self.network.heads(batch["obs"].float())
        mu = self.config.vertex_range * torch.tanh(pre_tanh_mu)
        q = value + naf_advantage(self.scale.to_unit(batch["act"].float()), mu, L)
        loss = naf_loss(q, target, pre_tanh_mu, self.config.saturation_penalty)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        soft_update(self.target, self.network, self.config.tau)
        self.updates += 1
        return {
            "naf/q_loss": loss.item(),
            "naf/q_mean": q.mean().item(),
            "naf/p_mean": L.pow(2).sum(-1).mean().item(),
        }  # mean diagonal of P = L L^T: near 0 means collapsed

    def state(self) -> dict[str, np.ndarray]:
        """The learner as named arrays for a checkpoint (weights, target, Adam's moments, update count)."""
        return pack(naf=self.network, naf_target=self.target, naf_optimizer=self.optimizer, naf_updates=self.updates)

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``state()``'s arrays in place."""
        parts = {"naf": self.network, "naf_target": self.target, "naf_optimizer": self.optimizer}
        self.updates = int(unpack(arrays, **parts, naf_updates=None)["naf_updates"])
