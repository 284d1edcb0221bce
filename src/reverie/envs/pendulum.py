"""PILCO's pendulum swing-up (Deisenroth's PhD thesis, 2010): a rod on a motor, hanging down, swung up and held.

State and observation: [theta, theta_dot] float64, theta unwrapped, 0 hanging down, pi upright. A uniform rod
(m = 1 kg, l = 1 m, friction b = 0.01) driven by a torque of up to 2.5 N m (the action in [-1, 1] times 2.5):
gravity's largest torque is m g l / 2 = 4.9 N m, so the motor cannot lift the rod directly and a swing-up needs
at least one pump.
Time step 0.1 s with the torque held constant (zero-order hold) and RK4 sub-steps, as PILCO's ODE45 run.

Reward: minus PILCO's saturating cost, 1 - exp(-d^2 / (2 * 0.5^2)) with d the tip's distance from the upright
tip. ``info["is_success"]``: the tip stayed within 0.2 m of the target (11.5 degrees) over the last second
(10 steps); read at the episode's last step it says whether the pendulum ended up and held.
"""

from __future__ import annotations

import math
from typing import ClassVar

import gymnasium as gym
import numpy as np

MASS, LENGTH, FRICTION, GRAVITY = 1.0, 1.0, 0.01, 9.82
MAX_TORQUE = 2.5
DT, SUBSTEPS = 0.1, 10
COST_WIDTH = 0.5
SUCCESS_RADIUS, HOLD_STEPS = 0.2, 10
START_STD = 0.1


def rk4(deriv, state: np.ndarray, u: float, dt: float, substeps: int) -> np.ndarray:
    """Integrate ds/dt = deriv(s, u) over dt with u held fixed, in ``substeps`` classical RK4 steps."""
    h = dt / substeps
    for _ in range(substeps):
        k1 = deriv(state, u)
        k2 = deriv(state + h / 2 * k1, u)
        k3 = deriv(state + h / 2 * k2, u)
        k4 = deriv(state + h * k3, u)
        state = state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return state


def pendulum_deriv(state: np.ndarray, torque: float) -> np.ndarray:
    """d/dt [theta, theta_dot] of a rod about its end: I = m l^2 / 3, gravity acts at l / 2."""
    theta, theta_dot = state
    acc = (torque - FRICTION * theta_dot - MASS * GRAVITY * LENGTH * math.sin(theta) / 2) / (MASS * LENGTH**2 / 3)
    return np.array([theta_dot, acc])


class PendulumSwingUp(gym.Env):
    """Swing the pendulum up (``start="down"``) or only balance it (``start="up"``). obs [2]; action [1]."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, start: str = "down", render_mode: str | None = None):
        if start not in ("down", "up"):
            raise ValueError(f"start must be 'down' or 'up', got {start!r}")
        self.start_angle = 0.0 if start == "down" else math.pi
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.render_mode = render_mode
        self.state = np.zeros(2)
        self.near = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = np.array([self.start_angle, 0.0]) + START_STD * self.np_random.standard_normal(2)
        self.near = 0
        return self.state.copy(), {}

    def tip_distance(self) -> float:
        """Distance of the tip (l sin theta, -l cos theta) from the upright tip (0, l)."""
        theta = self.state[0]
        return LENGTH * math.hypot(math.sin(theta), math.cos(theta) + 1)

    def step(self, action):
        torque = MAX_TORQUE * float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.state = rk4(pendulum_deriv, self.state, torque, DT, SUBSTEPS)
        d = self.tip_distance()
        self.near = self.near + 1 if d < SUCCESS_RADIUS else 0
        reward = math.exp(-(d**2) / (2 * COST_WIDTH**2)) - 1
        return self.state.copy(), reward, False, False, {"is_success": self.near >= HOLD_STEPS}
