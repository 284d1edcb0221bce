"""PILCO's cart-pole swing-up (Deisenroth & Rasmussen 2011): pole hanging down, swung up, balanced.

State and observation: [x, x_dot, theta, theta_dot] float64; theta unwrapped, 0 hanging down, pi upright.
Cart 0.5 kg, uniform pole 0.5 kg of length 0.5 m, friction 0.1 N s/m between cart and ground, g = 9.82; the force
on the cart is the action in [-1, 1] times 10 N (PILCO's limit; a normalised action space, as Gymnasium advises).
Time step 0.1 s with the force held constant (zero-order hold), integrated with RK4
sub-steps as PILCO's ODE45. 40 steps (4 s) per episode when registered.

Reward: minus PILCO's saturating cost 1 - exp(-d^2 / (2 * 0.25^2)), d the pole tip's distance from the tip of the
upright pole over x = 0. ``info["is_success"]``: the tip stayed within 0.1 m of that target for the last second.
"""

from __future__ import annotations

import math
from typing import ClassVar

import gymnasium as gym
import numpy as np

from reverie.envs.pendulum import rk4

CART_MASS, POLE_MASS, POLE_LENGTH, FRICTION, GRAVITY = 0.5, 0.5, 0.5, 0.1, 9.82
MAX_FORCE = 10.0
DT, SUBSTEPS = 0.1, 10
COST_WIDTH = 0.25
SUCCESS_RADIUS, HOLD_STEPS = 0.1, 10
START_STD = 0.1


def cartpole_deriv(state: np.ndarray, force: float) -> np.ndarray:
    """d/dt [x, x_dot, theta, theta_dot]: Lagrange's equations of a cart with a uniform rod (inertia m l^2 / 3
    about the pivot), with viscous friction on the cart only."""
    _, x_dot, theta, theta_dot = state
    m, M, L, g = POLE_MASS, CART_MASS, POLE_LENGTH, GRAVITY
    sin, cos = math.sin(theta), math.cos(theta)
    push = force - FRICTION * x_dot
    x_acc = (2 * m * L * theta_dot**2 * sin + 3 * m * g * sin * cos + 4 * push) / (4 * (M + m) - 3 * m * cos**2)
    theta_acc = -(3 * m * L * theta_dot**2 * sin * cos + 6 * (M + m) * g * sin + 6 * push * cos) / (
        4 * L * (M + m) - 3 * m * L * cos**2
    )
    return np.array([x_dot, x_acc, theta_dot, theta_acc])


class PilcoCartPole(gym.Env):
    """Cart-pole swing-up with PILCO's physics. obs [4]; action [1]: force / 10 N."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, render_mode: str | None = None):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.render_mode = render_mode
        self.state = np.zeros(4)
        self.near = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = START_STD * self.np_random.standard_normal(4)  # N(0, 0.1^2 I), PILCO's start distribution
        self.near = 0
        return self.state.copy(), {}

    def tip_distance(self) -> float:
        """Distance of the tip (x + l sin theta, -l cos theta) from the upright target (0, l)."""
        x, _, theta, _ = self.state
        return math.hypot(x + POLE_LENGTH * math.sin(theta), POLE_LENGTH * (math.cos(theta) + 1))

    def step(self, action):
        force = MAX_FORCE * float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.state = rk4(cartpole_deriv, self.state, force, DT, SUBSTEPS)
        d = self.tip_distance()
        self.near = self.near + 1 if d < SUCCESS_RADIUS else 0
        reward = math.exp(-(d**2) / (2 * COST_WIDTH**2)) - 1
        return self.state.copy(), reward, False, False, {"is_success": self.near >= HOLD_STEPS}
