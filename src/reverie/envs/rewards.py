"""Known reward and termination functions, in torch, for planning in a learned model without a learned reward head.

Every function maps ``(obs, act, next_obs)`` with shapes ``[..., obs_dim]``, ``[..., act_dim]``, ``[..., obs_dim]``
to ``[...]``: a float reward (in ``next_obs``'s dtype) or a bool ``terminated``. Look them up by Gymnasium id with
``task_info(env_id).reward_fn()`` / ``.termination_fn()`` (``envs.tasks``); ``None`` means unknown, and the caller
learns a reward head.
An env that never terminates gets an all-False termination function, not ``None``.

Each function was written from the env's source (Gymnasium 1.x, v5 MuJoCo) and is checked step by step against the
real env in ``tests/test_continuous_envs.py``. All are exact (up to float32 rounding) except HalfCheetah-v5's, which
is the usual model-based-RL approximation (see ``half_cheetah_reward``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from reverie.envs import pendulum, pilco_cartpole
from reverie.envs.cartpole import HALF_LENGTH, SWINGUP_LENGTH_SCALE, SWINGUP_TARGET, THETA_THRESHOLD, X_THRESHOLD
from reverie.envs.point_mass import GOAL as POINT_GOAL
from reverie.envs.point_mass import GOAL_RADIUS, REST_SPEED

Fn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def never_terminates(obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """All False, [...]: for envs that only end by the time limit."""
    return torch.zeros(next_obs.shape[:-1], dtype=torch.bool, device=next_obs.device)


# -- reverie cart-poles (src/reverie/envs/cartpole.py) --------------------------------------------------------------
def cartpole_reward(obs, act, next_obs):
    """+1 on every step, the terminating one included (what ``CartPoleContinuous.step`` and Gymnasium's CartPole-v1
    return: v1 pays 1.0 on the step the pole falls too, 0 only on steps taken after the episode ended)."""
    return next_obs.new_ones(next_obs.shape[:-1])


def cartpole_termination(obs, act, next_obs):
    """The cart leaves |x| <= 2.4 or the pole leaves |theta| <= 12 degrees, after the step (Gymnasium's CartPole-v1
    has the same thresholds, ``12 * 2 * pi / 360``, tested on its float64 state, here on the float32 observation)."""
    return (next_obs[..., 0].abs() > X_THRESHOLD) | (next_obs[..., 2].abs() > THETA_THRESHOLD)


def swingup_reward(obs, act, next_obs):
    """exp(-d^2 / 0.6^2), d = distance of the pole tip after the step from the upright target; obs carries cos/sin."""
    x, cos, sin = next_obs[..., 0], next_obs[..., 2], next_obs[..., 3]
    tip_x, tip_y = x + 2 * HALF_LENGTH * sin, 2 * HALF_LENGTH * cos
    d2 = (tip_x - SWINGUP_TARGET[0]) ** 2 + (tip_y - SWINGUP_TARGET[1]) ** 2
    return torch.exp(-d2 / SWINGUP_LENGTH_SCALE**2)


# -- PILCO's swing-ups (src/reverie/envs/pilco_cartpole.py, pendulum.py): minus the saturating cost ------------------
def pilco_cartpole_reward(obs, act, next_obs):
    """exp(-d^2 / (2 * 0.25^2)) - 1, d = distance of the tip (x + l sin th, -l cos th) from the upright tip (0, l)."""
    x, theta, length = next_obs[..., 0], next_obs[..., 2], pilco_cartpole.POLE_LENGTH
    d2 = (x + length * torch.sin(theta)) ** 2 + (length * (torch.cos(theta) + 1)) ** 2
    return torch.exp(-d2 / (2 * pilco_cartpole.COST_WIDTH**2)) - 1


def pendulum_swingup_reward(obs, act, next_obs):
    """exp(-d^2 / (2 * 0.5^2)) - 1, d = distance of the tip (l sin th, -l cos th) from the upright tip (0, l)."""
    theta = next_obs[..., 0]
    d2 = pendulum.LENGTH**2 * (torch.sin(theta) ** 2 + (torch.cos(theta) + 1) ** 2)
    return torch.exp(-d2 / (2 * pendulum.COST_WIDTH**2)) - 1


# -- reverie point mass (src/reverie/envs/point_mass.py) -------------------------------------------------------------
def point_mass_reward(obs, act, next_obs):
    """-|x' - 1|."""
    return -(next_obs[..., 0] - POINT_GOAL).abs()


def point_mass_termination(obs, act, next_obs):
    """At rest on the goal: |x' - 1| < 0.05 and |v'| < 0.1."""
    return ((next_obs[..., 0] - POINT_GOAL).abs() < GOAL_RADIUS) & (next_obs[..., 1].abs() < REST_SPEED)


# -- Gymnasium classic control ---------------------------------------------------------------------------------------
def pendulum_reward(obs, act, next_obs):
    """Pendulum-v1: -(theta^2 + 0.1 theta_dot^2 + 0.001 u^2) on the state *before* the step and the torque clipped to
    [-2, 2]; theta in [-pi, pi] from atan2 of the observed (cos, sin), which equals Gymnasium's angle_normalize."""
    theta = torch.atan2(obs[..., 1], obs[..., 0])
    torque = act[..., 0].clamp(-2.0, 2.0)
    return -(theta**2 + 0.1 * obs[..., 2] ** 2 + 0.001 * torque**2).to(next_obs.dtype)


def acrobot_termination(obs, act, next_obs):
    """Acrobot-v1: the free end above the bar, -cos(th1) - cos(th1 + th2) > 1 after the step; obs (cos th1, sin th1,
    cos th2, sin th2, dth1, dth2), and cos(th1 + th2) = cos th1 cos th2 - sin th1 sin th2."""
    cos1, sin1, cos2, sin2 = next_obs[..., 0], next_obs[..., 1], next_obs[..., 2], next_obs[..., 3]
    return -cos1 - (cos1 * cos2 - sin1 * sin2) > 1.0


def acrobot_reward(obs, act, next_obs):
    """Acrobot-v1: -1 on every step and **0 on the terminating one** (the env returns ``-1.0 if not terminated``)."""
    return acrobot_termination(obs, act, next_obs).to(next_obs.dtype) - 1.0


def mountain_car_termination(obs, act, next_obs):
    """MountainCarContinuous-v0: position >= 0.45 and velocity >= 0, both *after* the step."""
    return (next_obs[..., 0] >= 0.45) & (next_obs[..., 1] >= 0.0)


def mountain_car_reward(obs, act, next_obs):
    """100 on reaching the goal, minus 0.1 a^2 on the *unclipped* action (the physics clip it, the cost does not)."""
    goal = mountain_car_termination(obs, act, next_obs).to(next_obs.dtype)
    return 100.0 * goal - 0.1 * act[..., 0].to(next_obs.dtype) ** 2


# -- Gymnasium MuJoCo v5 (optional extra) ----------------------------------------------------------------------------
def inverted_pendulum_termination(obs, act, next_obs):
    """InvertedPendulum-v5: obs = (cart x, pole angle, their velocities); ends when |angle| > 0.2 or obs not finite."""
    return ~torch.isfinite(next_obs).all(dim=-1) | (next_obs[..., 1].abs() > 0.2)


def inverted_pendulum_reward(obs, act, next_obs):
    """1 while alive and **0 on the terminating step**: v5 returns ``int(not terminated)``, unlike CartPole."""
    return (~inverted_pendulum_termination(obs, act, next_obs)).to(next_obs.dtype)


def reacher_reward(obs, act, next_obs):
    """Reacher-v5: -|fingertip - target| - |a|^2 after the step. The distance is obs[8:10]: the env's 3-D distance has
    a zero z part (fingertip and target both sit at z = 0.01). The control weight is 1 in v5's code (its docs say
    0.1); the action is not clipped in the cost."""
    dist = torch.linalg.vector_norm(next_obs[..., 8:10], dim=-1)
    return -dist - (act**2).sum(dim=-1).to(next_obs.dtype)


def half_cheetah_reward(obs, act, next_obs):
    """HalfCheetah-v5, **approximate**: next_obs[8] (root x-velocity at the end of the step) - 0.1 |a|^2.

    The env rewards (x_after - x_before) / dt, the *mean* velocity over its 5 physics substeps, and x itself is not
    observed, so the exact reward is not a function of (obs, act, next_obs). The end-of-step velocity is the standard
    stand-in (mbrl-lib, MBPO's static functions); the control cost is exact.
    """
    return next_obs[..., 8] - 0.1 * (act**2).sum(dim=-1).to(next_obs.dtype)
