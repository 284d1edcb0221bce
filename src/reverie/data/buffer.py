"""A growing buffer of real transitions ``(obs, act, next_obs, reward, terminated, truncated)``.

Arrays, not objects, so a checkpoint stores it as plain ``.npz`` entries.
"""

from __future__ import annotations

import itertools

import numpy as np

FIELDS = ("obs", "act", "next_obs", "reward", "terminated", "truncated")


class TransitionBuffer:
    """Transitions of a Box-observation env; actions are float vectors or (discrete) integers.

    Args:
        obs_dim: observation size.
        act_shape: ``(act_dim,)`` for Box actions, ``()`` for Discrete ones.
        act_dtype: float32 for Box, int64 for Discrete.
        capacity: initial room; doubles when full.
    """

    def __init__(self, obs_dim: int, act_shape: tuple, act_dtype=np.float32, capacity: int = 1024):
        self.size = 0
        self.episode_starts = [0]  # index where each episode begins (for open-loop error and splits)
        self._arrays = {
            "obs": np.zeros((capacity, obs_dim), np.float32),
            "act": np.zeros((capacity, *act_shape), act_dtype),
            "next_obs": np.zeros((capacity, obs_dim), np.float32),
            "reward": np.zeros(capacity, np.float32),
            "terminated": np.zeros(capacity, bool),
            "truncated": np.zeros(capacity, bool),
        }

    def __len__(self) -> int:
        return self.size

    def add(self, obs, act, next_obs, reward, terminated, truncated) -> None:
        """Append one transition; an episode ends when terminated or truncated."""
        if self.size == len(self._arrays["obs"]):
            self._arrays = {k: np.concatenate([v, np.zeros_like(v)]) for k, v in self._arrays.items()}
        for name, value in zip(FIELDS, (obs, act, next_obs, reward, terminated, truncated), strict=True):
            self._arrays[name][self.size] = value
        self.size += 1
        if terminated or truncated:
            self.episode_starts.append(self.size)

    def __getitem__(self, name: str) -> np.ndarray:
        """The filled part of one field, e.g. ``buffer["obs"]`` -> [size, obs_dim]."""
        return self._arrays[name][: self.size]

    def episodes(self) -> list[slice]:
        """Index ranges of the finished episodes, oldest first."""
        starts = self.episode_starts
        return [slice(a, b) for a, b in itertools.pairwise(starts) if b > a]

    def to_arrays(self, prefix: str = "buffer.") -> dict[str, np.ndarray]:
        out = {prefix + k: self[k] for k in FIELDS}
        out[prefix + "episode_starts"] = np.asarray(self.episode_starts, np.int64)
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "buffer.") -> None:
        """Restore from ``to_arrays`` output (shapes and dtypes must match this buffer's)."""
        size = len(arrays[prefix + "obs"])
        capacity = max(size, 1)
        self._arrays = {}
        for name in FIELDS:
            loaded = arrays[prefix + name]
            room = np.zeros((capacity, *loaded.shape[1:]), loaded.dtype)
            room[:size] = loaded
            self._arrays[name] = room
        self.size = size
        self.episode_starts = [int(i) for i in arrays[prefix + "episode_starts"]]
