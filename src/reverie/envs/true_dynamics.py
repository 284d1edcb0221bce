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


# -- Gymnasium classic control with Discrete actions: ``act`` is the one-hot [..., n] that ``models.dynamics.
# encode_actions`` makes of an index (what ``ModelEnv`` hands a model), so a planner's model and this step agree
def cartpole_v1_step(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Gymnasium's CartPole-v1: action 1 pushes right with +10 N, action 0 left with -10 N; one Euler step of 0.02 s.

    obs [..., 4] (x, x_dot, theta, theta_dot), act [..., 2] one-hot -> [..., 4]. The physics and constants of
    Gymnasium's ``CartPoleEnv`` are those of reverie's continuous cart-pole (``envs.cartpole``: gravity 9.8, masses
    1.0 and 0.1, half-length 0.5, tau 0.02, the same Florian equations and explicit Euler), so both share
    ``cartpole_step_torch``; ``tests/test_tasks.py`` checks the step against ``gym.make("CartPole-v1")``.
    """
    force = torch.where(act[..., 1] > 0.5, FORCE_MAG, -FORCE_MAG).double()
    return cartpole_step_torch(obs.double(), force).to(obs.dtype)


# Gymnasium's AcrobotEnv ("book" dynamics, Sutton & Barto 1998): two unit links and masses, centres of mass at the
# links' middles, unit moments of inertia, g = 9.8, dt = 0.2 s, torques (-1, 0, +1) on the second joint
_ACROBOT_TORQUES = (-1.0, 0.0, 1.0)
_ACROBOT_MAX_VEL = (4 * torch.pi, 9 * torch.pi)


def _acrobot_derivatives(state: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
    """d/dt (theta1, theta2, dtheta1, dtheta2) [..., 4] under ``torque`` [...], AcrobotEnv._dsdt with its constants
    (m1 = m2 = l1 = 1, lc1 = lc2 = 0.5, I1 = I2 = 1)."""
    theta1, theta2, dtheta1, dtheta2 = state.unbind(-1)
    m1, m2, l1, lc1, lc2, inertia, g = 1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 9.8
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * torch.cos(theta2)) + inertia + inertia
    d2 = m2 * (lc2**2 + l1 * lc2 * torch.cos(theta2)) + inertia
    phi2 = m2 * lc2 * g * torch.cos(theta1 + theta2 - torch.pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * dtheta2**2 * torch.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * torch.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * torch.cos(theta1 - torch.pi / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * torch.sin(theta2) - phi2) / (
        m2 * lc2**2 + inertia - d2**2 / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return torch.stack([dtheta1, dtheta2, ddtheta1, ddtheta2], -1)


def acrobot_v1_step(obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
    """Gymnasium's Acrobot-v1: one RK4 step of 0.2 s with torque (-1, 0, +1)[action], velocities clipped to 4 pi and
    9 pi. obs [..., 6] (cos th1, sin th1, cos th2, sin th2, dth1, dth2), act [..., 3] one-hot -> [..., 6].

    The angles come back from the observed cos/sin by atan2; the env wraps its angles to [-pi, pi], which the
    observation's cos/sin cannot see, so no wrap is needed here.
    """
    cos1, sin1, cos2, sin2, dtheta1, dtheta2 = obs.double().unbind(-1)
    state = torch.stack([torch.atan2(sin1, cos1), torch.atan2(sin2, cos2), dtheta1, dtheta2], -1)
    torque = act.double() @ torch.tensor(_ACROBOT_TORQUES, dtype=torch.float64, device=act.device)
    dt = 0.2
    # Gymnasium's rk4 over the times [0, dt]: a single classical Runge-Kutta step (the torque is held constant)
    k1 = _acrobot_derivatives(state, torque)
    k2 = _acrobot_derivatives(state + dt / 2 * k1, torque)
    k3 = _acrobot_derivatives(state + dt / 2 * k2, torque)
    k4 = _acrobot_derivatives(state + dt * k3, torque)
    theta1, theta2, dtheta1, dtheta2 = (state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)).unbind(-1)
    dtheta1 = dtheta1.clamp(-_ACROBOT_MAX_VEL[0], _ACROBOT_MAX_VEL[0])
    dtheta2 = dtheta2.clamp(-_ACROBOT_MAX_VEL[1], _ACROBOT_MAX_VEL[1])
    next_obs = [torch.cos(theta1), torch.sin(theta1), torch.cos(theta2), torch.sin(theta2), dtheta1, dtheta2]
    return torch.stack(next_obs, -1).to(obs.dtype)
