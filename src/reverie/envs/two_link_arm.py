"""A planar two-link arm that reaches a target with its tip, under torque control (a cheap NumPy reacher).

Two uniform rods (mass 1 kg, length 0.5 m each) hinge at the base and the elbow; the arm lies in the horizontal plane,
so there is no gravity and holding still costs no torque. Joint friction is viscous (``DAMPING``). The manipulator
equation M(q) q'' + c(q, q') + b q' = tau is integrated by semi-implicit Euler, two substeps of 0.025 s per env step
(dt = 0.05 s; velocities first, then angles with the new velocities). Actions are clipped to [-1, 1] and scaled to
torques of up to 3 N m.

State (q1, q2, q1', q2'); observation (q1, q2, q1', q2', tip_x - target_x, tip_y - target_y); the cost is
``reverie.envs.reaching.reaching_cost``. The arm starts at rest, elbow bent, with its tip at (0, 0.45) (each angle
within 0.1 rad of that pose). All targets lie on the arc of radius 0.8 about the base: training targets at 40, 70,
110 and 140 degrees, held-out targets between them at 55, 80, 100 and 125 degrees.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from reverie.envs.reaching import ReachingEnv, polar_targets

LENGTH, MASS, DAMPING = 0.5, 1.0, 0.5
INERTIA = MASS * LENGTH**2 / 12  # a uniform rod about its centre
START = np.array([0.4668, 2.2081, 0.0, 0.0])  # elbow bent, tip at (0, 0.45): every target is a reach outwards
SUBSTEPS, DT = 2, 0.025


def tip(state: np.ndarray) -> np.ndarray:
    """Tip position: state [..., >=2] (q1, q2, ...) -> [..., 2]."""
    q1, q12 = state[..., 0], state[..., 0] + state[..., 1]
    return LENGTH * np.stack([np.cos(q1) + np.cos(q12), np.sin(q1) + np.sin(q12)], -1)


def arm_step(state: np.ndarray, torque: np.ndarray) -> np.ndarray:
    """One env step (``SUBSTEPS`` semi-implicit Euler substeps): state [4], torque [2] -> [4]."""
    q, dq = state[:2].copy(), state[2:].copy()
    centre = LENGTH / 2
    for _ in range(SUBSTEPS):
        cos2, sin2 = np.cos(q[1]), np.sin(q[1])
        m22 = INERTIA + MASS * centre**2
        m12 = m22 + MASS * LENGTH * centre * cos2
        m11 = 2 * INERTIA + MASS * centre**2 + MASS * (LENGTH**2 + centre**2 + 2 * LENGTH * centre * cos2)
        h = MASS * LENGTH * centre * sin2  # Coriolis and centrifugal coupling
        bias = np.array([-h * (2 * dq[0] * dq[1] + dq[1] ** 2), h * dq[0] ** 2]) + DAMPING * dq
        ddq = np.linalg.solve(np.array([[m11, m12], [m12, m22]]), torque - bias)
        dq = dq + DT * ddq
        q = q + DT * dq
    return np.concatenate([q, dq])


class TwoLinkArm(ReachingEnv):
    """Reach a target with the tip of a planar two-link arm (see the module docstring)."""

    STATE_DIM, GEAR = 4, 3.0  # actions in [-1, 1] are torques of up to 3 N m
    ACTION_WEIGHT = 0.01
    START_NOISE = 0.1  # radians: starts that vary let one policy tell the target's role from the arm's pose
    TRAIN_TARGETS: ClassVar[np.ndarray] = polar_targets(0.8, np.array([40, 70, 110, 140]))
    HELDOUT_TARGETS: ClassVar[np.ndarray] = polar_targets(0.8, np.array([55, 80, 100, 125]))

    def _start(self, noise: np.ndarray) -> np.ndarray:
        return START + np.concatenate([noise[:2], np.zeros(2)])

    def _point(self, state: np.ndarray) -> np.ndarray:
        return tip(state)

    def _physics(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        return arm_step(state, action)
