"""Reaching tasks with a known quadratic cost, for trajectory optimisation and Guided Policy Search.

A reaching env moves a point (a mass, or an arm's tip) to a target in the plane. Its observation ends with the vector
``point - target``, so one policy can serve every target. The cost of a step is known in closed form and is the same
function that gives the reward (``reward = -cost(obs_before, action)``):

    cost(obs, act) = |point - target|^2 + w |act|^2      (the action as given, before clipping; w per env)

An episode lasts a fixed number of steps (the registered time limit) and never terminates; ``info["is_success"]``
says whether the point lies within ``SUCCESS_RADIUS`` of the target, and the runner reads it at the episode's end.

Targets ("conditions" in GPS): ``reset(options={"target": (x, y)})`` sets one; without it, one of ``TRAIN_TARGETS``
is drawn. ``HELDOUT_TARGETS`` lie between the training targets (the midpoints of the square's sides for the point
mass, angles between the training angles on the same arc for the arm), to test whether a policy generalises.
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

SUCCESS_RADIUS = 0.05


def polar_targets(radius: float, degrees: np.ndarray) -> np.ndarray:
    """Points on the arc of ``radius`` about the origin at ``degrees`` [k] -> [k, 2]."""
    angle = np.deg2rad(degrees)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1)


def reaching_cost(obs: np.ndarray, act: np.ndarray, action_weight: float) -> np.ndarray:
    """Per-step cost: obs [..., obs_dim] (its last two: point - target), act [..., 2] -> [...]."""
    offset = obs[..., -2:]
    return (offset**2).sum(-1) + action_weight * (act**2).sum(-1)


class ReachingEnv(gym.Env):
    """Shared reset/step plumbing; a subclass sets the spaces and implements ``_physics``, ``_start``, ``_point``."""

    metadata: ClassVar[dict] = {"render_modes": []}
    STATE_DIM: ClassVar[int]
    GEAR: ClassVar[float]  # force or torque per unit action; actions live in [-1, 1]
    ACTION_WEIGHT: ClassVar[float]  # w in the cost
    TRAIN_TARGETS: ClassVar[np.ndarray]
    HELDOUT_TARGETS: ClassVar[np.ndarray]
    SUCCESS_RADIUS: ClassVar[float] = SUCCESS_RADIUS
    START_NOISE = 0.01  # half-width of the uniform noise on the start position, so each condition is nearly fixed

    def __init__(self):
        # finite bounds far beyond any reachable state (Gymnasium warns about infinite ones)
        self.observation_space = gym.spaces.Box(-1e3, 1e3, shape=(self.STATE_DIM + 2,), dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self._state = self._start(np.zeros(self.STATE_DIM))
        self._target = self.TRAIN_TARGETS[0].copy()

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if options and options.get("target") is not None:
            target = np.asarray(options["target"], np.float64).reshape(-1)
            if target.shape != (2,) or not np.isfinite(target).all():
                raise ValueError(f"reset option 'target' must be two finite numbers, got {options['target']}")
            self._target = target
        else:
            self._target = self.TRAIN_TARGETS[self.np_random.integers(len(self.TRAIN_TARGETS))].copy()
        noise = self.np_random.uniform(-self.START_NOISE, self.START_NOISE, self.STATE_DIM)
        self._state = self._start(noise)
        return self._obs(), {}

    def step(self, action):
        action = np.asarray(action, np.float64).reshape(self.action_space.shape)
        cost = float(reaching_cost(self._obs().astype(np.float64), action, self.ACTION_WEIGHT))
        self._state = self._physics(self._state, self.GEAR * np.clip(action, -1.0, 1.0))
        obs = self._obs()
        success = bool(np.linalg.norm(self._point(self._state) - self._target) < self.SUCCESS_RADIUS)
        return obs, -cost, False, False, {"is_success": success}

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._state, self._point(self._state) - self._target]).astype(np.float32)


class PointMass2D(ReachingEnv):
    """A 2-D double integrator: state (px, py, vx, vy); action in [-1, 1]^2 times GEAR = 2 is the acceleration.

    Cost weight on actions: w = 0.01.

    Semi-implicit Euler with dt = 0.1: v' = v + dt a, p' = p + dt v'. Starts at rest at the origin. Observation
    (px, py, vx, vy, px - tx, py - ty). Training targets: the corners (+-0.5, +-0.5); held out: the side midpoints.
    """

    STATE_DIM, GEAR, ACTION_WEIGHT, DT = 4, 2.0, 0.01, 0.1
    TRAIN_TARGETS: ClassVar[np.ndarray] = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]])
    HELDOUT_TARGETS: ClassVar[np.ndarray] = np.array([[0.0, 0.5], [-0.5, 0.0], [0.0, -0.5], [0.5, 0.0]])

    def _start(self, noise: np.ndarray) -> np.ndarray:
        return np.concatenate([noise[:2], np.zeros(2)])

    def _point(self, state: np.ndarray) -> np.ndarray:
        return state[:2]

    def _physics(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        velocity = state[2:] + self.DT * action
        return np.concatenate([state[:2] + self.DT * velocity, velocity])
