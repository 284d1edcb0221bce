"""A learned transition model for Box-observation envs: an ensemble predicting normalised state
*differences* (and, when the env's reward or termination is not known, those too), with input and
target normalisation fitted to the data it trains on.
"""

from __future__ import annotations

import torch
from torch import nn

from reverie.models.ensemble import GaussianEnsemble, Normalizer


def encode_actions(act: torch.Tensor, n_discrete: int | None) -> torch.Tensor:
    """Box actions pass through; Discrete actions [...] become one-hot [..., n] float32."""
    if n_discrete is None:
        return act
    return torch.nn.functional.one_hot(act.long(), n_discrete).float()


class DynamicsModel(nn.Module):
    """f(s, a) -> (s', r, terminated) as an ensemble.

    Args:
        obs_dim: observation size.
        act_dim: size of the encoded action (action dim for Box, number of actions for Discrete one-hot).
        learn_reward, learn_termination: add an output for the reward / a 0-1 termination target.
        ensemble_size, hidden_size, num_layers, probabilistic: the ensemble's shape (see GaussianEnsemble).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        learn_reward: bool = False,
        learn_termination: bool = False,
        *,
        ensemble_size: int = 5,
        hidden_size: int = 200,
        num_layers: int = 3,
        probabilistic: bool = True,
    ):
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.learn_reward, self.learn_termination = learn_reward, learn_termination
        out_dim = obs_dim + int(learn_reward) + int(learn_termination)
        self.ensemble = GaussianEnsemble(
            obs_dim + act_dim, out_dim, ensemble_size, hidden_size, num_layers, probabilistic
        )
        self.input_normalizer = Normalizer(obs_dim + act_dim)
        self.target_normalizer = Normalizer(out_dim)
        self.register_buffer("elite_mask", torch.ones(ensemble_size, dtype=torch.bool))  # fixed size: checkpointable

    @property
    def elites(self) -> torch.Tensor:
        """Indices [num_elites] of the members with the best validation error at the last fit."""
        return self.elite_mask.nonzero().flatten()

    @property
    def ensemble_size(self) -> int:
        return self.ensemble.ensemble_size

    def make_inputs(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """[..., obs_dim], [..., act_dim] -> [..., obs_dim + act_dim] (not normalised)."""
        return torch.cat([obs, act], dim=-1)

    def make_targets(self, obs, next_obs, reward, terminated) -> torch.Tensor:
        """Training targets [N, out_dim]: s' - s, then reward and termination where learned."""
        parts = [next_obs - obs]
        if self.learn_reward:
            parts.append(reward.unsqueeze(-1))
        if self.learn_termination:
            parts.append(terminated.float().unsqueeze(-1))
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def predict(self, obs, act, sample: bool = True, generator: torch.Generator | None = None, members=None):
        """One step for every member (or, with ``members`` (indices [M]), for those: E below is then M).

        obs [E, B, obs_dim], act [E, B, act_dim] -> next_obs [E, B, obs_dim], reward [E, B] or None,
        terminated [E, B] bool or None. With ``sample``, a probabilistic model draws from its Gaussian;
        otherwise it returns the mean.
        """
        mean, logvar = self.ensemble(self.input_normalizer.normalize(self.make_inputs(obs, act)), members)
        out = mean
        if sample and logvar is not None:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            out = mean + torch.exp(0.5 * logvar) * noise
        out = self.target_normalizer.denormalize(out)
        next_obs = obs + out[..., : self.obs_dim]
        column = self.obs_dim
        reward = terminated = None
        if self.learn_reward:
            reward = out[..., column]
            column += 1
        if self.learn_termination:
            terminated = out[..., column] > 0.5
        return next_obs, reward, terminated
