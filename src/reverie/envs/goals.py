"""Goal success for Gymnasium envs that reach a goal but do not say so.

reverie's goal envs put ``info["is_success"]`` in the last step of an episode, which the runner records as
``summary.json``'s ``episode_success``. Gymnasium's mountain cars end an episode early (``terminated``) only when
the car reaches the flag, so for them that flag is the success; ``with_goal_success`` adds it.
"""

from __future__ import annotations

import gymnasium as gym

GOAL_ON_TERMINATION = ("MountainCar-v0", "MountainCarContinuous-v0")  # terminated <=> the goal was reached


class TerminationIsSuccess(gym.Wrapper):
    """Adds ``info["is_success"] = terminated`` to the last step of each episode (a truncated one failed)."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and "is_success" not in info:
            info = {**info, "is_success": bool(terminated)}
        return obs, reward, terminated, truncated, info


def with_goal_success(env: gym.Env) -> gym.Env:
    """``env``, wrapped to report its goal when it is one of ``GOAL_ON_TERMINATION``; otherwise ``env`` itself."""
    return TerminationIsSuccess(env) if env.spec is not None and env.spec.id in GOAL_ON_TERMINATION else env
