"""One real episode under the run: a checked reset, checked steps counted into the budget, the end reported.

Every algorithm's loop over real experience is the same bookkeeping around its own lines, so it is written
once here and each ``train`` shows only what its paper says:

    episode = Episode(env, run, observation=finite_observation)
    while episode.running:
        action = ...                                   # the algorithm's choice
        obs = episode.step(action)                     # checked, counted (an action repeat counts every step)
        ...                                            # the algorithm's use of the transition
    if not episode.finish(metrics, checkpoint=lambda: (arrays, buffers)):
        break                                          # the step budget ended mid-episode: not an episode
"""

from __future__ import annotations

import math

import numpy as np

from reverie.algorithms.base import finite
from reverie.errors import UserError


def finite_observation(obs) -> np.ndarray:
    """A Box observation as float32, refused (one line) when not finite."""
    return finite(obs, "observation", np.float32)


class Episode:
    """One episode of ``env`` for ``run``.

    Args:
        env: the Gymnasium env (an ``ActionRepeat``-wrapped one counts each underlying step).
        run: the runner's handle (``algorithms.base.Run``).
        observation: checks and converts each observation (e.g. ``finite_observation``, or a tabular state
            check); it raises UserError on a bad one.
        options: ``env.reset`` options (e.g. a GPS target).
    """

    def __init__(self, env, run, observation, *, options=None):
        self.env, self.run, self._check = env, run, observation
        obs, self.info = env.reset(seed=run.episode_seed(), options=options)
        self.obs = observation(obs)
        self.episode_return, self.length, self.reward = 0.0, 0, 0.0
        self.terminated = self.truncated = False

    @property
    def ended(self) -> bool:
        """Whether the env ended the episode (terminated or truncated)."""
        return self.terminated or self.truncated

    @property
    def running(self) -> bool:
        """Whether another step may be taken: the episode has not ended and the step budget is not spent."""
        return not self.ended and not self.run.out_of_steps()

    def step(self, action):
        """Take ``action``; returns the checked next observation (also kept as ``obs``; the step's reward, flags
        and info are ``reward``, ``terminated``, ``truncated``, ``info``)."""
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        for real_reward in info.get("step_rewards", (reward,)):  # an action repeat: every real step counts
            real_reward = float(real_reward)
            if not math.isfinite(real_reward):
                raise UserError(f"the env returned a non-finite reward ({real_reward}) at step {self.length + 1}")
            self.run.count_step(real_reward)
            self.episode_return += real_reward
        self.length += int(info.get("repeat_steps", 1))
        self.obs, self.reward, self.info = self._check(next_obs), float(reward), info
        self.terminated, self.truncated = bool(terminated), bool(truncated)
        return self.obs

    def finish(self, metrics: dict, checkpoint=None) -> bool:
        """Report the ended episode with ``metrics`` and, when one is due, write the checkpoint that
        ``checkpoint()`` returns (arrays, or (arrays, buffers)). False, reporting nothing, when the step budget
        ended the episode first (a partial episode is not an episode)."""
        if not self.ended:
            return False
        self.run.end_episode(self.episode_return, self.length, self.info.get("is_success"), metrics)
        if checkpoint is not None and self.run.checkpoint_due():
            state = checkpoint()
            arrays, buffers = state if isinstance(state, tuple) else (state, None)
            self.run.save_checkpoint(arrays, buffers=buffers)
        return True
