"""Scoring action sequences by propagating state particles through a learned ensemble (PETS,
Chua et al. 2018, section 4.2). Each candidate sequence is followed by ``num_particles`` particles:

- ``ts1``: every particle picks a new random ensemble member at every step;
- ``ts-inf``: every particle keeps one member for the whole horizon;
- ``expectation``: members fixed as in ts-inf, but each step takes the predicted mean (no sampling);
- ``moment-matching``: ts1 steps, after which a sequence's particles are replaced by draws from the
  Gaussian (per-dimension mean and variance) fitted to them.

A sequence's score is the mean over its particles of the summed rewards; a particle's rewards stop
after the step it terminates on.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from reverie.errors import UserError
from reverie.models.dynamics import DynamicsModel
from reverie.models.training import encode_actions

PROPAGATIONS = ("ts1", "ts-inf", "expectation", "moment-matching")


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


@torch.no_grad()
def score_sequences(
    model: DynamicsModel,
    obs: torch.Tensor,
    actions: torch.Tensor,
    num_particles: int,
    propagation: str,
    reward_fn: Callable | None,
    termination_fn: Callable | None,
    generator: torch.Generator,
    n_discrete: int | None = None,
) -> torch.Tensor:
    """Predicted return of each action sequence.

    obs [obs_dim] (the current real state); actions [pop, horizon, act_dim] or [pop, horizon] (discrete).
    reward_fn / termination_fn: ``(obs, act, next_obs) -> [N]``; None means the model's learned head.
    Returns [pop].
    """
    pop, horizon = actions.shape[:2]
    members = model.ensemble_size
    n = pop * num_particles
    per_member = n // members
    # particle-major rows: particle k of sequence i sits at row k * pop + i, and row r is evaluated by
    # member r // per_member, so under ts-inf each sequence gets P / E particles on every member
    state = obs.float().expand(n, -1).clone()  # [N, obs_dim]
    alive = torch.ones(n, dtype=torch.bool)
    total = torch.zeros(n)
    sample = propagation != "expectation"
    for t in range(horizon):
        act = actions[:, t].repeat(num_particles, *([1] * (actions.dim() - 2)))  # [N, act_dim] or [N]
        encoded = encode_actions(act, n_discrete)
        order = torch.randperm(n, generator=generator) if propagation in ("ts1", "moment-matching") else None
        x_obs, x_act = (state, encoded) if order is None else (state[order], encoded[order])
        next_obs, reward, terminated = model.predict(
            x_obs.view(members, per_member, -1), x_act.view(members, per_member, -1), sample, generator
        )
        next_obs = next_obs.reshape(n, -1)
        if order is not None:  # put rows back in particle order
            inverse = torch.empty_like(order)
            inverse[order] = torch.arange(n)
            next_obs = next_obs[inverse]
            reward = None if reward is None else reward.reshape(n)[inverse]
            terminated = None if terminated is None else terminated.reshape(n)[inverse]
        if propagation == "moment-matching":
            grouped = next_obs.view(num_particles, pop, -1)
            mean, std = grouped.mean(dim=0, keepdim=True), grouped.std(dim=0, keepdim=True)
            noise = torch.randn(grouped.shape, generator=generator)
            next_obs = (mean + std * noise).view(n, -1)
        step_reward = reward_fn(state, act, next_obs) if reward_fn is not None else reward.reshape(n)
        done = termination_fn(state, act, next_obs) if termination_fn is not None else terminated
        if step_reward.shape != (n,) or (done is not None and done.reshape(-1).shape != (n,)):
            shapes = f"reward {tuple(step_reward.shape)}" + (
                "" if done is None else f", termination {tuple(done.shape)}"
            )
            raise UserError(f"the reward/termination functions must return [{n}] for {n} particles; got {shapes}")
        total += torch.where(alive, step_reward.float(), torch.zeros(()))
        if done is not None:
            alive &= ~done.reshape(n)
        state = next_obs
    returns = total.view(num_particles, pop).mean(dim=0)
    return torch.nan_to_num(returns, nan=-torch.inf)  # a diverged model's sequence is never chosen
