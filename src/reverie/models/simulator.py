"""The true simulator of a known env behind the model interface, so any planner can run with a perfect
model: the upper bound that a learned model's return is measured against.

``SimulatorModel.predict`` has ``DynamicsModel.predict``'s signature and shapes (one "member"); rewards
and terminations come from the env's known functions, as with a learned model.
"""

from __future__ import annotations

import torch

from reverie.envs.cartpole import FORCE_MAG, SWINGUP_SUBSTEPS, cartpole_step_torch
from reverie.errors import UserError


def _cartpole(obs, act):
    force = FORCE_MAG * act[..., 0].clamp(-1.0, 1.0)
    return cartpole_step_torch(obs.double(), force.double()).to(obs.dtype)


def _swingup(obs, act):
    x, x_dot, cos, sin, theta_dot = obs.double().unbind(-1)
    state = torch.stack([x, x_dot, torch.atan2(sin, cos), theta_dot], -1)
    force = FORCE_MAG * act[..., 0].double().clamp(-1, 1)
    for _ in range(SWINGUP_SUBSTEPS):
        state = cartpole_step_torch(state, force)
    nx, nx_dot, ntheta, ntheta_dot = state.unbind(-1)
    return torch.stack([nx, nx_dot, torch.cos(ntheta), torch.sin(ntheta), ntheta_dot], -1).to(obs.dtype)


def _pendulum(obs, act):
    # Gymnasium's Pendulum-v1: g = 10, m = l = 1, dt = 0.05, torque clipped to 2, speed to 8
    cos, sin, theta_dot = obs.double().unbind(-1)
    theta = torch.atan2(sin, cos)
    torque = act[..., 0].double().clamp(-2.0, 2.0)
    new_dot = (theta_dot + (3 * 10.0 / 2 * torch.sin(theta) + 3.0 * torque) * 0.05).clamp(-8.0, 8.0)
    new_theta = theta + new_dot * 0.05
    return torch.stack([torch.cos(new_theta), torch.sin(new_theta), new_dot], -1).to(obs.dtype)


STEPS = {
    "reverie/CartPoleContinuous-v0": _cartpole,
    "reverie/CartPoleSwingUp-v0": _swingup,
    "Pendulum-v1": _pendulum,
}


class SimulatorModel:
    """A perfect, deterministic one-member "ensemble" for ``env_id`` (see ``STEPS``)."""

    ensemble_size = 1

    def __init__(self, env_id: str):
        if env_id not in STEPS:
            raise UserError(f"no true simulator for '{env_id}'; known: {', '.join(STEPS)}")
        self._step = STEPS[env_id]

    def predict(self, obs, act, sample: bool = True, generator=None):
        """obs [E, B, obs_dim], act [E, B, act_dim] -> (next_obs [E, B, obs_dim], None, None)."""
        return self._step(obs, act), None, None
