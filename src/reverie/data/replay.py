"""A replay buffer of real transitions: named fields of any shape and dtype, a ring when given a capacity.

Rows are numbered by insertion (row ``g`` is the ``g``-th ever added); a ring of capacity C keeps rows
``[inserted - C, inserted)``, stored at slot ``g % C``. Arrays, not objects, so checkpoints store it as plain
``.npz`` entries, and the runner can write only the rows added since its last checkpoint (``rows_since``).
"""

from __future__ import annotations

import numpy as np
import torch

# the fields of a transition buffer as PETS stores it; a row whose terminated or truncated is true ends an episode
EPISODE_END_FIELDS = ("terminated", "truncated")


def transition_fields(obs_shape: tuple, obs_dtype, act_shape: tuple, act_dtype) -> dict[str, tuple]:
    """``{name: (shape, dtype)}`` of (obs, act, next_obs, reward, terminated, truncated) rows."""
    return {
        "obs": (tuple(obs_shape), obs_dtype),
        "act": (tuple(act_shape), act_dtype),
        "next_obs": (tuple(obs_shape), obs_dtype),
        "reward": ((), np.float32),
        "terminated": ((), np.bool_),
        "truncated": ((), np.bool_),
    }


class ReplayBuffer:
    """Rows of named fields; implements ``reverie.data.dataset.TransitionData``.

    Args:
        fields: ``{name: (shape, dtype)}``; a row of field ``name`` is an array of that shape and dtype
            (e.g. ``{"obs": ((3, 64, 64), np.uint8), "reward": ((), np.float32)}``).
        capacity: the most rows kept (a ring: the oldest are overwritten), or None to grow without bound
            (storage doubles when full).
        episode_end: fields whose true value ends an episode (those of them that are present).
    """

    def __init__(self, fields: dict[str, tuple], capacity: int | None = None, episode_end=EPISODE_END_FIELDS):
        if capacity is not None and capacity < 1:
            raise ValueError(f"capacity must be at least 1 or None; got {capacity}")
        self.fields = {name: (tuple(shape), np.dtype(dtype)) for name, (shape, dtype) in fields.items()}
        self.capacity = capacity
        self.episode_end = tuple(name for name in episode_end if name in self.fields)
        self.inserted = 0  # rows ever added (a ring's live rows are the last len(self) of them)
        self._size = 0
        self._storage = self._allocate(capacity or 1024)

    def _allocate(self, rows: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((rows, *shape), dtype) for name, (shape, dtype) in self.fields.items()}

    def __len__(self) -> int:
        """The live rows: all rows added, or the last ``capacity`` of them."""
        return self._size

    @property
    def first(self) -> int:
        """Insertion number of the oldest live row."""
        return self.inserted - self._size

    # -- adding -------------------------------------------------------------------------------------
    def add(self, *values, **named) -> None:
        """Append one row, given positionally in field order or by name (every field, once)."""
        if len(values) > len(self.fields):
            raise ValueError(f"add takes at most {len(self.fields)} values ({list(self.fields)}); got {len(values)}")
        row = dict(zip(self.fields, values, strict=False)) | named
        self.add_batch(**{name: np.asarray(value)[None] for name, value in row.items()})

    def add_batch(self, **columns) -> None:
        """Append n rows: ``columns[name]`` is [n, *shape] for every field (cast to the field's dtype)."""
        if set(columns) != set(self.fields):
            raise ValueError(f"add needs exactly the fields {list(self.fields)}; got {list(columns)}")
        n = len(next(iter(columns.values())))
        if self.capacity is not None and n > self.capacity:  # only the last `capacity` rows would survive
            columns = {name: np.asarray(value)[-self.capacity :] for name, value in columns.items()}
            self.inserted, n = self.inserted + n - self.capacity, self.capacity
        if self.capacity is None:
            self._grow_to(self._size + n)
            slots = np.arange(self._size, self._size + n)
        else:
            slots = np.arange(self.inserted, self.inserted + n) % self.capacity
        for name, value in columns.items():
            self._storage[name][slots] = value
        self.inserted += n
        self._size = n + self._size if self.capacity is None else min(self._size + n, self.capacity)

    def _grow_to(self, rows: int) -> None:
        room = len(next(iter(self._storage.values())))
        if rows <= room:
            return
        while room < rows:
            room *= 2
        grown = self._allocate(room)
        for name, old in self._storage.items():
            grown[name][: self._size] = old[: self._size]
        self._storage = grown

    def clear(self, inserted: int = 0) -> None:
        """Drop every row; the next row added is insertion number ``inserted`` (a restore's first live row)."""
        if self.capacity is None and inserted != 0:
            raise ValueError("a growing buffer keeps every row, so its first row is number 0")
        self.inserted, self._size = int(inserted), 0

    # -- reading ------------------------------------------------------------------------------------
    def _slots(self, first: int, stop: int) -> slice | np.ndarray:
        """Storage slots of insertion numbers [first, stop) (a slice, so no copy, unless a ring wraps)."""
        if self.capacity is None:
            return slice(first, stop)
        start = first % self.capacity
        if start + (stop - first) <= self.capacity:
            return slice(start, start + stop - first)
        return np.arange(first, stop) % self.capacity

    def __getitem__(self, name: str) -> np.ndarray:
        """The live rows of one field, oldest first: [len, *shape] (a view unless the ring has wrapped)."""
        return self._storage[name][self._slots(self.first, self.inserted)]

    def rows_since(self, first: int) -> tuple[int, dict[str, np.ndarray]]:
        """The live rows from insertion number ``first`` on: (number of the first returned row, {name: [n, ...]}).

        Rows before ``first`` that a ring has overwritten are skipped, so the returned number may be larger."""
        first = max(first, self.first)
        slots = self._slots(first, self.inserted)
        return first, {name: array[slots] for name, array in self._storage.items()}

    def episodes(self) -> list[slice]:
        """Index ranges (into ``self[name]``) of the finished episodes, oldest first.

        An episode ends at a row whose ``episode_end`` field is true. In a ring that has overwritten rows the
        first live range may have lost its start, so it is left out."""
        if not self.episode_end:
            return []
        ends = np.zeros(len(self), bool)
        for name in self.episode_end:
            ends |= self[name].astype(bool)
        stops = np.flatnonzero(ends) + 1
        starts = np.concatenate([[0], stops])[:-1]
        ranges = [slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
        return ranges[1:] if self.first > 0 and ranges else ranges

    def sample(self, batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """``batch_size`` live rows drawn uniformly with replacement: {name: tensor [batch_size, *shape]}."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer")
        index = torch.randint(len(self), (batch_size,), generator=generator).numpy() + self.first
        slots = index % self.capacity if self.capacity is not None else index
        return {name: torch.as_tensor(array[slots]) for name, array in self._storage.items()}

    # -- checkpoints --------------------------------------------------------------------------------
    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """The live rows by field (``prefix + name``: [len, *shape]) and ``prefix + "inserted"`` (a scalar)."""
        out = {prefix + name: self[name] for name in self.fields}
        out[prefix + "inserted"] = np.array(self.inserted, np.int64)
        return out

    def load_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        """Replace the contents with ``to_arrays`` output (fields must match; rows beyond a ring's capacity
        keep only the newest)."""
        inserted = int(arrays[prefix + "inserted"])
        columns = {name: arrays[prefix + name] for name in self.fields}
        rows = len(next(iter(columns.values())))
        self.clear(inserted - rows)
        self.add_batch(**columns)
