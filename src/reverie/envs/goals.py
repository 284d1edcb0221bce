"""Goal success for Gymnasium envs that reach a goal but do not say so.

reverie's goal envs put ``info["is_success"]`` in the last step of an episode, which the runner records as
``summary.json``'s ``episode_success``. Gymnasium's mountain cars end an episode early (``terminated``) only when
the car reaches the flag, so for them that flag is the success: their ``envs.tasks`` records name
``TerminationIsSuccess`` as their success rule, and ``runner.make_env`` applies it.
"""

from __future__ import annotations

import gymnasium as gym


class TerminationIsSuccess(gym.Wrapper):
    """Adds ``info["is_success"] = terminated`` to the last step of each episode (a truncated one failed)."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and "is_success" not in info:
            info = {**info, "is_success": bool(terminated)}
        return obs, reward, terminated, truncated, info
