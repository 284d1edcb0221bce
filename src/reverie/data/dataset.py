"""What a model trainer reads from stored experience: a few named arrays and episode boundaries, not the
internals of whichever buffer holds them."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class TransitionData(Protocol):
    """N transitions in time order (``reverie.data.replay.ReplayBuffer`` is one).

    ``models.training.fit`` reads the fields ``obs`` [N, obs_dim], ``act`` [N, act_dim] or [N] (discrete),
    ``next_obs`` [N, obs_dim], ``reward`` [N] and ``terminated`` [N].
    """

    def __len__(self) -> int:
        """N, the number of transitions."""

    def __getitem__(self, field: str) -> np.ndarray:
        """One field of all N transitions, oldest first: [N, *shape]."""

    def episodes(self) -> list[slice]:
        """Index ranges of the finished episodes, oldest first."""
