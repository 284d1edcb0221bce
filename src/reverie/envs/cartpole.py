"""Continuous-action cart-pole tasks on Gymnasium's CartPole physics, for model-based control (PETS and friends).

The physics are Gymnasium's ``CartPoleEnv`` (Florian 2007, "Correct equations for the dynamics of the cart-pole
system", with the pole's friction dropped), integrated with explicit Euler at ``TAU = 0.02`` s. The action is a
force in ``[-1, 1]`` times ``FORCE_MAG = 10`` N (clipped, not rejected, as Gymnasium's Pendulum does). ``theta``
is the pole's angle from upright, positive clockwise.

- ``CartPoleContinuous``: balance from near upright; +1 per step, the terminating step included (as Gymnasium's
  CartPole); ends when ``|x| > 2.4`` or ``|theta| > 12 degrees``. With ``max_episode_steps=200`` this is the task of
  mbrl-lib's PETS tutorial, whose per-trial returns (41, 55, 116, 186, 200) are directly comparable.
- ``CartPoleSwingUp``: start hanging down, swing up and balance; reward ``exp(-d^2 / 0.6^2)`` with ``d`` the pole
  tip's distance from the upright target (the cost shape of Chua et al. 2018, PETS); never terminates. The track is
  unbounded: the cart is not clipped or stopped, since a drifting cart already loses the reward. One step holds the
  force for ``SWINGUP_SUBSTEPS = 2`` Euler steps (0.04 s), as PETS's MuJoCo cart-pole (timestep 0.02, frame skip 2):
  200 steps are 8 s, and a 10 N cart needs several pumps and about 1.2 s of look-ahead (30 steps) to swing up.
"""

from __future__ import annotations

import math
from typing import ClassVar

import gymnasium as gym
import numpy as np

GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSCART + MASSPOLE
HALF_LENGTH = 0.5  # half the pole's length; the pole is 1.0 long
POLEMASS_LENGTH = MASSPOLE * HALF_LENGTH
FORCE_MAG = 10.0
TAU = 0.02

X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360  # 0.2094 rad, Gymnasium's exact expression
SWINGUP_TARGET = (0.0, 2 * HALF_LENGTH)  # pole tip when upright with the cart at x = 0
SWINGUP_LENGTH_SCALE = 0.6
SWINGUP_SUBSTEPS = 2  # Euler steps of TAU per env step: dt = 0.04 s, PETS's frame skip


def cartpole_step(state: np.ndarray, force: float) -> np.ndarray:
    """One Euler step of the cart-pole. state: [4] float64 (x, x_dot, theta, theta_dot); force in newtons -> [4]."""
    x, x_dot, theta, theta_dot = state
    cos, sin = math.cos(theta), math.sin(theta)
    # Florian's equations: the pole's angular acceleration first, then the cart's, which reacts to it.
    temp = (force + POLEMASS_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASSPOLE * cos**2 / TOTAL_MASS))
    x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    # Explicit Euler: positions advance with the *old* velocities (Gymnasium's default "euler" integrator).
    return np.array([x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc])


def cartpole_step_torch(state, force):
    """``cartpole_step`` batched in torch, for planning with the true simulator as the model.

    state [..., 4] (x, x_dot, theta, theta_dot); force [...] in newtons -> [..., 4].
    """
    import torch

    x, x_dot, theta, theta_dot = state.unbind(-1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (HALF_LENGTH * (4.0 / 3.0 - MASSPOLE * cos**2 / TOTAL_MASS))
    x_acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    return torch.stack([x + TAU * x_dot, x_dot + TAU * x_acc, theta + TAU * theta_dot, theta_dot + TAU * theta_acc], -1)


class _CartPoleBase(gym.Env):
    """Shared state handling: the subclasses choose the start state, observation, reward and termination."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None):
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.render_mode = render_mode
        self.state = np.zeros(4)

    # subclasses define _initial_state() -> [4] and _obs() -> observation

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self._initial_state()
        return self._obs(), {}

    substeps = 1  # Euler steps of TAU per env step, the force held throughout

    def _advance(self, action) -> np.ndarray:
        """Apply ``action`` (shape [1]) for one step; returns the new observation."""
        u = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        for _ in range(self.substeps):
            self.state = cartpole_step(self.state, FORCE_MAG * u)
        return self._obs()


class CartPoleContinuous(_CartPoleBase):
    """Balance the pole with a continuous force. obs: [4] float32 (x, x_dot, theta, theta_dot); action: [1]."""

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode)
        # Twice the failure thresholds, as Gymnasium, so a terminating observation still lies in the space.
        high = np.array([2 * X_THRESHOLD, np.inf, 2 * THETA_THRESHOLD, np.inf], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def _initial_state(self) -> np.ndarray:
        return self.np_random.uniform(-0.05, 0.05, size=4)

    def _obs(self) -> np.ndarray:
        return self.state.astype(np.float32)

    def step(self, action):
        obs = self._advance(action)
        # Decided on the float32 observation, so a termination function fed observations agrees to the bit.
        terminated = bool(abs(obs[0]) > X_THRESHOLD or abs(obs[2]) > THETA_THRESHOLD)
        return obs, 1.0, terminated, False, {}


class CartPoleSwingUp(_CartPoleBase):
    """Swing the pole up from hanging down. obs: [5] float32 (x, x_dot, cos theta, sin theta, theta_dot); action: [1].

    ``theta`` is left unwrapped internally; the observation's cos/sin make it continuous for a learned model.
    """

    substeps = SWINGUP_SUBSTEPS

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode)
        high = np.array([np.inf, np.inf, 1.0, 1.0, np.inf], dtype=np.float32)
        self.observation_space = gym.spaces.Box(-high, high, dtype=np.float32)

    def _initial_state(self) -> np.ndarray:
        return np.array([0.0, 0.0, math.pi, 0.0]) + self.np_random.uniform(-0.05, 0.05, size=4)

    def _obs(self) -> np.ndarray:
        x, x_dot, theta, theta_dot = self.state
        return np.array([x, x_dot, math.cos(theta), math.sin(theta), theta_dot], dtype=np.float32)

    def reward(self) -> float:
        """exp(-d^2 / l^2), d = distance of the pole tip (x + 2L sin theta, 2L cos theta) from (0, 2L)."""
        x, _, theta, _ = self.state
        tip_x, tip_y = x + 2 * HALF_LENGTH * math.sin(theta), 2 * HALF_LENGTH * math.cos(theta)
        d2 = (tip_x - SWINGUP_TARGET[0]) ** 2 + (tip_y - SWINGUP_TARGET[1]) ** 2
        return math.exp(-d2 / SWINGUP_LENGTH_SCALE**2)

    def step(self, action):
        obs = self._advance(action)
        return obs, self.reward(), False, False, {}
