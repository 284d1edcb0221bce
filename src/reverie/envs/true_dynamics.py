"""True dynamics of known envs, batched in torch, for planning with a perfect model (PETS ``dynamics=simulator``).

Each function maps ``(obs [..., obs_dim], act [..., act_dim])`` to ``next_obs [..., obs_dim]`` in ``obs``'s dtype,
computed in float64 as the env does, and is the env's own step written again; ``envs.tasks`` says which env has one
(``task_info(env_id).true_step()``), and ``models.simulator.SimulatorModel`` puts it behind the model interface.
"""

from __future__ import annotations

import torch

from reverie.envs.cartpole import FORCE_MAG, SWINGUP_SUBSTEPS, cartpole_step_torch


def cartpole_step(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """reverie/CartPoleContinuous-v0: obs = state (x, x_dot, theta, theta_dot); one Euler step of the clipped force."""
    force = FORCE_MAG * act[..., 0].clamp(-1.0, 1.0)
    return cartpole_step_torch(obs.double(), force.double()).to(obs.dtype)


def swingup_step(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """reverie/CartPoleSwingUp-v0: obs (x, x_dot, cos, sin, theta_dot); SWINGUP_SUBSTEPS Euler steps of one force."""
    x, x_dot, cos, sin, theta_dot = obs.double().unbind(-1)
    state = torch.stack([x, x_dot, torch.atan2(sin, cos), theta_dot], -1)
    force = FORCE_MAG * act[..., 0].double().clamp(-1, 1)
    for _ in range(SWINGUP_SUBSTEPS):
        state = cartpole_step_torch(state, force)
    nx, nx_dot, ntheta, ntheta_dot = state.unbind(-1)
    return torch.stack([nx, nx_dot, torch.cos(ntheta), torch.sin(ntheta), ntheta_dot], -1).to(obs.dtype)


def pendulum_v1_step(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Gymnasium's Pendulum-v1: g = 10, m = l = 1, dt = 0.05, torque clipped to 2, speed to 8; obs (cos, sin, dot)."""
    cos, sin, theta_dot = obs.double().unbind(-1)
    theta = torch.atan2(sin, cos)
    torque = act[..., 0].double().clamp(-2.0, 2.0)
    new_dot = (theta_dot + (3 * 10.0 / 2 * torch.sin(theta) + 3.0 * torque) * 0.05).clamp(-8.0, 8.0)
    new_theta = theta + new_dot * 0.05
    return torch.stack([torch.cos(new_theta), torch.sin(new_theta), new_dot], -1).to(obs.dtype)
