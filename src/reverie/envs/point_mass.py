"""A one-dimensional point mass that must come to rest on a goal: a small continuous task on which
model-based methods learn within a few episodes and random actions do not.

State (x, v); action a in [-1, 1]; v' = 0.9 v + 0.2 a (damped), x' = x + 0.1 v'. The episode starts at
x ~ U(-0.1, 0.1), v = 0, and ends with success once |x' - 1| < 0.05 and |v'| < 0.1, or after 60 steps.
Reward -|x' - 1| per step, so reaching the goal quickly is worth most.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

GOAL, GOAL_RADIUS, REST_SPEED = 1.0, 0.05, 0.1


class PointMass(gym.Env):
    """Drive a damped 1-D point mass from x = 0 to rest at x = 1."""

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(self):
        self.observation_space = gym.spaces.Box(np.array([-20, -3], np.float32), np.array([20, 3], np.float32))
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._state = np.zeros(2, np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state = np.array([self.np_random.uniform(-0.1, 0.1), 0.0], np.float32)
        return self._state.copy(), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action, np.float32).reshape(-1)[0], -1.0, 1.0))
        x, v = self._state
        v = np.float32(0.9 * v + 0.2 * a)
        x = np.float32(x + 0.1 * v)
        self._state = np.array([x, v], np.float32)
        success = bool(abs(x - GOAL) < GOAL_RADIUS and abs(v) < REST_SPEED)
        return self._state.copy(), float(-abs(x - GOAL)), success, False, {"is_success": success}
