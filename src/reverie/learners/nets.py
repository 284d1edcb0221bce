"""The networks of the actor-critic learners: Q ensembles (twin critics as one batched net), a tanh-Gaussian actor
(SAC), a deterministic tanh actor (TD3, DDPG), and the soft target update.

Twin critics are two members of one ensemble, so each layer is one ``baddbmm`` over ``[critics, batch, features]``
instead of one matrix product per critic. Weights start as PyTorch's ``nn.Linear`` does (uniform in
+-1/sqrt(fan_in)), the initialisation Stable-Baselines3 uses, so the two libraries start from the same family.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from reverie.models.ensemble import EnsembleLinear

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # the SAC paper's code and SB3 clamp the actor's log-std so


def _linear_init(layer: EnsembleLinear) -> EnsembleLinear:
    bound = 1.0 / math.sqrt(layer.weight.shape[1])
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound)
        layer.bias.uniform_(-bound, bound)
    return layer


class EnsembleMLP(nn.Module):
    """``members`` independent ReLU MLPs with hidden widths ``hidden``: x [members, B, in_dim] (or [B, in_dim],
    shared by all) -> [members, B, out_dim]."""

    def __init__(self, members: int, in_dim: int, out_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.members = members
        sizes = [in_dim, *hidden]
        body: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            body += [_linear_init(EnsembleLinear(members, fan_in, fan_out)), nn.ReLU()]
        self.net = nn.Sequential(*body, _linear_init(EnsembleLinear(members, sizes[-1], out_dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.expand(self.members, -1, -1)
        return self.net(x)


class QEnsemble(nn.Module):
    """``critics`` Q-functions Q_i(s, a): obs [B, obs_dim], act [B, act_dim] -> [critics, B]."""

    def __init__(self, obs_dim: int, act_dim: int, critics: int = 2, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.critics = critics
        self.net = EnsembleMLP(critics, obs_dim + act_dim, 1, hidden)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, act], dim=-1)).squeeze(-1)


class TanhGaussianActor(nn.Module):
    """SAC's policy: a = tanh(u), u ~ N(mu(s), sigma(s)^2), actions in [-1, 1]^act_dim."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.act_dim = act_dim
        self.net = EnsembleMLP(1, obs_dim, 2 * act_dim, hidden)

    def forward(self, obs: torch.Tensor, generator: torch.Generator | None, deterministic: bool = False):
        """obs [B, obs_dim] -> (actions [B, act_dim] in [-1, 1], log pi(a|s) [B]); deterministic gives tanh(mu)
        (log-probabilities then undefined: zeros). The log-probability includes tanh's change of variables,
        written as log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) so it stays finite where tanh saturates."""
        mean, log_std = self.net(obs)[0].chunk(2, dim=-1)
        if deterministic:
            return torch.tanh(mean), torch.zeros(obs.shape[0])
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        noise = torch.randn(mean.shape, generator=generator)
        pre_tanh = mean + log_std.exp() * noise
        gaussian = -0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
        squash = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
        return torch.tanh(pre_tanh), (gaussian - squash).sum(dim=-1)


class DeterministicActor(nn.Module):
    """TD3's and DDPG's policy: a = tanh(mu(s)) in [-1, 1]^act_dim; obs [B, obs_dim] -> [B, act_dim]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (256, 256)):
        super().__init__()
        self.net = EnsembleMLP(1, obs_dim, act_dim, hidden)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs)[0])


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """theta_target <- (1 - tau) theta_target + tau theta (Polyak averaging), every tensor in one fused call."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


def adam(parameters, lr: float) -> torch.optim.Adam:
    """Adam as the learners use it: torch's fused kernel, one call per step over all tensors (measured on one CPU
    thread: a SAC update of 256 rows 10% faster than with ``foreach``, benchmarks/results/model-free-quick)."""
    return torch.optim.Adam(parameters, lr=lr, fused=True)


class ActionScale:
    """Maps a Box's bounds to the actors' [-1, 1] and back: env = center + half_range * unit."""

    def __init__(self, low, high):
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.center, self.half_range = (self.high + self.low) / 2, (self.high - self.low) / 2

    def to_env(self, unit: torch.Tensor) -> torch.Tensor:
        return self.center + self.half_range * unit

    def to_unit(self, action: torch.Tensor) -> torch.Tensor:
        return ((action - self.center) / self.half_range).clamp(-1.0, 1.0)
