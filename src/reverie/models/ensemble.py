"""Neural transition models: an ensemble of (probabilistic) MLPs evaluated as one batched computation.

Members are stacked along a leading ensemble axis, so every layer is one ``torch.baddbmm`` over
``[ensemble, batch, features]`` and there is no Python loop over members (Chua et al. 2018, PETS).
A probabilistic member outputs a Gaussian's mean and log-variance; the log-variance is soft-bounded
between learned limits so it can neither explode nor collapse on data it has not seen.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn import functional as F


class EnsembleLinear(nn.Module):
    """``ensemble_size`` independent linear layers: [E, B, in_dim] -> [E, B, out_dim]."""

    def __init__(self, ensemble_size: int, in_dim: int, out_dim: int):
        super().__init__()
        # normal with std 1 / (2 sqrt(fan_in)) truncated at two standard deviations: the PETS initialisation
        std = 1.0 / (2.0 * in_dim**0.5)
        weight = torch.empty(ensemble_size, in_dim, out_dim)
        self.weight = nn.Parameter(nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std))
        self.bias = nn.Parameter(torch.zeros(ensemble_size, 1, out_dim))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """x [E, B, in_dim] -> [E, B, out_dim]; with ``members`` (indices [M]), x [M, B, in_dim] through those."""
        if members is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias[members], x, self.weight[members])


class GaussianEnsemble(nn.Module):
    """An ensemble of MLPs with SiLU ("swish") activations.

    Args:
        in_dim, out_dim: input and output sizes of each member.
        ensemble_size: number of members E.
        hidden_size, num_layers: width and number of hidden layers.
        probabilistic: output a Gaussian (mean, log-variance) instead of a point prediction.
    """

    def __init__(self, in_dim, out_dim, ensemble_size=5, hidden_size=200, num_layers=3, probabilistic=True):
        super().__init__()
        self.ensemble_size, self.out_dim, self.probabilistic = ensemble_size, out_dim, probabilistic
        sizes = [in_dim] + [hidden_size] * num_layers
        layers = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            layers += [EnsembleLinear(ensemble_size, fan_in, fan_out), nn.SiLU()]
        layers.append(EnsembleLinear(ensemble_size, sizes[-1], out_dim * (2 if probabilistic else 1)))
        self.net = nn.Sequential(*layers)
        if probabilistic:
            self.max_logvar = nn.Parameter(torch.full((1, 1, out_dim), 0.5))
            self.min_logvar = nn.Parameter(torch.full((1, 1, out_dim), -10.0))

    def flops_per_row(self) -> int:
        """Floating-point operations of the matrix products for one input row through one member (2 per
        multiply-add; activations and the variance bounds, a few per unit, are left out)."""
        return sum(2 * layer.weight.shape[1] * layer.weight.shape[2] for layer in self.net if hasattr(layer, "weight"))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [E, B, in_dim] -> mean [E, B, out_dim], log-variance [E, B, out_dim] (None if deterministic); with
        ``members`` (indices [M]) x is [M, B, in_dim] and only those members run."""
        out = x
        for layer in self.net:
            out = layer(out, members) if isinstance(layer, EnsembleLinear) else layer(out)
        if not self.probabilistic:
            return out, None
        mean, logvar = out.split(self.out_dim, dim=-1)
        logvar = self.max_logvar - F.softplus(self.max_logvar - logvar)
        logvar = self.min_logvar + F.softplus(logvar - self.min_logvar)
        return mean, logvar

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss summed over members: Gaussian negative log-likelihood (without the constant) plus
        a small pull on the log-variance limits, or mean squared error for a deterministic ensemble."""
        mean, logvar = self(x)
        if logvar is None:
            return F.mse_loss(mean, target, reduction="none").mean(dim=(1, 2)).sum()
        nll = ((mean - target) ** 2 * torch.exp(-logvar) + logvar).mean(dim=(1, 2)).sum()
        return nll + 0.01 * (self.max_logvar.sum() - self.min_logvar.sum())

    @torch.no_grad()
    def scores(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-member validation scores [E]: mean squared error and Gaussian NLL (with the 0.5 log 2 pi)."""
        mean, logvar = self(x)
        mse = ((mean - target) ** 2).mean(dim=(1, 2))
        if logvar is None:
            return {"mse": mse, "nll": mse}
        nll = 0.5 * ((mean - target) ** 2 * torch.exp(-logvar) + logvar + 1.8378770664093453).mean(dim=(1, 2))
        return {"mse": mse, "nll": nll}


class Normalizer(nn.Module):
    """Per-feature standardisation fitted to data; stored with the model's weights."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, data: torch.Tensor) -> None:
        """data [N, dim]: a constant feature keeps std 1, so it is not blown up."""
        self.mean.copy_(data.mean(dim=0))
        std = data.std(dim=0) if len(data) > 1 else torch.ones_like(self.std)
        self.std.copy_(torch.where(std < 1e-6, torch.ones_like(std), std))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
