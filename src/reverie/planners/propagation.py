"""Scoring action sequences by propagating state particles through a learned ensemble (PETS,
Chua et al. 2018, section 4.2). Each candidate sequence is followed by ``num_particles`` particles:

- ``ts1``: every particle picks a new random ensemble member at every step;
- ``ts-inf``: every particle keeps one member for the whole horizon;
- ``expectation``: members fixed as in ts-inf, but each step takes the predicted mean (no sampling);
- ``moment-matching``: ts1 steps, after which a sequence's particles are replaced by draws from the
  Gaussian (per-dimension mean and variance) fitted to them.

A sequence's score is the mean over its particles of the summed rewards; a particle's rewards stop
after the step it terminates on. The stepping itself (members, sampling, rewards, terminations) is
``models.model_env.ModelEnv``; this module only lays particles out and sums their rewards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from reverie.errors import UserError
from reverie.models.model_env import ModelEnv

PROPAGATIONS = ("ts1", "ts-inf", "expectation", "moment-matching")
# ModelEnv's member assignment for each scheme (moment matching adds its Gaussian fit on top)
MEMBERS = {"ts1": "random", "ts-inf": "fixed", "expectation": "fixed", "moment-matching": "random"}


def check_particles(propagation: str, num_particles: int, ensemble_size: int) -> None:
    """Raise UserError for an unknown scheme or particles that do not split evenly over the members."""
    if propagation not in PROPAGATIONS:
        raise UserError(f"unknown propagation '{propagation}'; known: {', '.join(PROPAGATIONS)}")
    if propagation == "moment-matching" and num_particles < 2:
        raise UserError("moment-matching fits a Gaussian to each sequence's particles: num_particles must be >= 2")
    if num_particles < 1 or num_particles % ensemble_size:
        raise UserError(
            f"num_particles ({num_particles}) must be a positive multiple of ensemble_size ({ensemble_size})"
        )


def moment_matching(num_particles: int) -> Callable[[Tensor, torch.Generator], Tensor]:
    """next_obs [P * pop, obs_dim] -> draws from the per-dimension Gaussian fitted to each sequence's P
    particles (rows particle-major: particle k of sequence i at row k * pop + i)."""

    def resample(next_obs: Tensor, generator: torch.Generator) -> Tensor:
        grouped = next_obs.view(num_particles, -1, next_obs.shape[-1])  # [P, pop, obs_dim]
        mean, std = grouped.mean(dim=0, keepdim=True), grouped.std(dim=0, keepdim=True)
        noise = torch.randn(grouped.shape, generator=generator, device=next_obs.device)
        return (mean + std * noise).view(next_obs.shape)

    return resample


@torch.no_grad()
def score_sequences(
    model,
    obs: Tensor,
    actions: Tensor,
    num_particles: int,
    propagation: str,
    *,
    generator: torch.Generator,
    reward_fn: Callable | None = None,
    termination_fn: Callable | None = None,
    n_discrete: int | None = None,
    reward_model=None,
) -> Tensor:
    """Predicted return of each action sequence, ``[pop]``.

    model: a ``DynamicsModel`` (or ``SimulatorModel``); obs ``[obs_dim]``, the current real state;
    actions ``[pop, horizon, act_dim]`` or ``[pop, horizon]`` (discrete). reward_fn / termination_fn:
    ``(obs, act, next_obs) -> [N]``; None means ``reward_model`` (a ``models.reward_model.RewardModel``) or, without
    one, the model's learned head. A learned termination is a probability p_t: a particle's reward at step t counts
    with its survival prod_{tau < t} (1 - p_tau), the expected return (a known one is 0/1: rewards stop after it).
    """
    pop, horizon = actions.shape[:2]
    n = pop * num_particles
    # particle-major rows: particle k of sequence i sits at row k * pop + i; ModelEnv's "fixed" blocks of
    # n / E consecutive rows then give each sequence P / E particles on every member under ts-inf
    env = ModelEnv(
        model, reward_fn, termination_fn, n_discrete,
        members=MEMBERS[propagation], sample=propagation != "expectation",
        resample=moment_matching(num_particles) if propagation == "moment-matching" else None,
        reward_model=reward_model,
    )  # fmt: skip
    env.reset(obs.expand(n, -1))
    # a learned termination is a probability; a known one (or none) is 0/1, for which a boolean mask is cheaper
    learned_done = termination_fn is None and getattr(reward_model, "learn_termination", reward_model is not None)
    alive = torch.ones(n, device=obs.device, dtype=None if learned_done else torch.bool)  # survival before this step
    total = torch.zeros(n, device=obs.device)
    for t in range(horizon):
        act = actions[:, t].repeat(num_particles, *([1] * (actions.dim() - 2)))  # [N, act_dim] or [N]
        _, reward, p_done = env.step_prob(act, generator)
        # rewards count up to and including the terminating step; where() keeps a dead particle's NaN out
        if learned_done:
            total += torch.where(alive > 0, alive * reward, 0.0)
            alive = alive * (1.0 - p_done)
        else:
            total += torch.where(alive, reward, 0.0)
            alive &= p_done == 0
    returns = total.view(num_particles, pop).mean(dim=0)
    return torch.nan_to_num(returns, nan=-torch.inf)  # a diverged model's sequence is never chosen


@dataclass(frozen=True)
class ParticleScorer:
    """``score_sequences`` with its settings fixed: ``scorer(obs, actions, generator) -> [pop]``, what an
    MPC controller calls; ``num_particles`` is what it counts model evaluations by."""

    model: object
    propagation: str
    num_particles: int
    reward_fn: Callable | None = None
    termination_fn: Callable | None = None
    n_discrete: int | None = None
    reward_model: object = None

    def __call__(self, obs: Tensor, actions: Tensor, generator: torch.Generator) -> Tensor:
        return score_sequences(
            self.model, obs, actions, self.num_particles, self.propagation, generator=generator,
            reward_fn=self.reward_fn, termination_fn=self.termination_fn, n_discrete=self.n_discrete,
            reward_model=self.reward_model,
        )  # fmt: skip
