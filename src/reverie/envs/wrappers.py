"""Gymnasium wrappers that change how an agent meets an env, shared by the algorithms that need them."""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym


class ActionRepeat(gym.Wrapper):
    """Holds each action for ``repeat`` env steps: one step of the wrapper is one control decision.

    ``step(action)`` returns the last observation, the rewards summed, and the last step's terminated, truncated and
    info. It stops early when the episode ends, and after ``steps_left()`` steps when that is given and not None (a
    step budget: the wrapper never takes a step the budget does not allow, but always at least one). The info adds
    ``repeat_steps`` (the env steps taken, <= repeat) and ``step_rewards`` (their rewards in order), so a caller can
    count every real step and sum an episode's return step by step, exactly as without the wrapper.
    """

    def __init__(self, env: gym.Env, repeat: int, steps_left: Callable[[], int | None] | None = None):
        if int(repeat) != repeat or repeat < 1:
            raise ValueError(f"repeat must be a positive integer, not {repeat!r}")
        super().__init__(env)
        self.repeat = int(repeat)
        self._steps_left = steps_left

    def step(self, action):
        left = None if self._steps_left is None else self._steps_left()
        limit = self.repeat if left is None else max(1, min(self.repeat, left))
        rewards = []
        for _ in range(limit):
            obs, reward, terminated, truncated, info = self.env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        total = 0.0
        for reward in rewards:  # in step order, as a per-step loop sums them
            total += float(reward)
        return obs, total, terminated, truncated, {**info, "repeat_steps": len(rewards), "step_rewards": rewards}
