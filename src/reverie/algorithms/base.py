"""What every algorithm shares: typed configs built from ``key=value`` strings, and the run protocol.

An algorithm module exposes ``NAME``, a ``Config`` dataclass and
``train(env, config, run) -> dict``; ``run`` is the runner's handle (see ``Run`` below).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Protocol

import numpy as np

from reverie.errors import UserError


def _parse_value(key: str, text: Any, kind: type, choices) -> Any:
    if not isinstance(text, str):
        value = text
    elif kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise UserError(f"config key '{key}' expects true or false, got '{text}'")
        value = lowered in ("true", "1", "yes")
    else:
        try:
            value = kind(text)
        except ValueError:
            raise UserError(f"config key '{key}' expects {kind.__name__}, got '{text}'") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise UserError(f"config key '{key}' expects {kind.__name__}, got {value!r}")
    if choices and value not in choices:
        raise UserError(f"config key '{key}' must be one of {', '.join(map(str, choices))}, got '{value}'")
    return value


def build_config(config_cls: type, overrides: dict[str, Any]):
    """Return ``config_cls`` with ``overrides`` (strings or values) applied and checked.

    Unknown keys, values of the wrong type and values outside a field's ``choices`` metadata raise
    ``UserError``; each Config's ``__post_init__`` checks ranges.
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    values = {}
    for key, text in overrides.items():
        if key not in fields:
            raise UserError(f"unknown config key '{key}' for this algorithm; known keys: {', '.join(fields)}")
        values[key] = _parse_value(key, text, hints[key], fields[key].metadata.get("choices"))
    try:
        return config_cls(**values)
    except ValueError as error:
        raise UserError(str(error)) from None


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ValueError unless ``low <= value <= high``."""
    if not (low <= value <= high):
        raise ValueError(f"config key '{name}' must lie in [{low}, {high}], got {value}")


def finite(value, what: str, dtype=np.float64) -> np.ndarray:
    """``value`` as an array of ``dtype``; a UserError (one line, no traceback) when the env returned NaN or inf."""
    array = np.asarray(value, dtype=dtype)
    if not np.isfinite(array).all():
        raise UserError(f"the env returned a non-finite {what}: {array}")
    return array


class Run(Protocol):
    """The runner's handle an algorithm reports to (implemented by ``reverie.runner.run.RunHandle``)."""

    seed: int

    def finished(self) -> bool:
        """Whether the episode or step budget is spent."""

    def out_of_steps(self) -> bool:
        """Whether the step budget is spent (checked after every real step)."""

    def episode_seed(self) -> int:
        """Seed for the next ``env.reset``; a function of the run seed and episode index."""

    def count_step(self, reward: float) -> None:
        """Record one real environment step."""

    def end_episode(self, episode_return: float, length: int, success: bool | None, metrics: dict) -> None:
        """Record a finished episode and its metrics (logged to metrics.jsonl and TensorBoard)."""

    def checkpoint_due(self) -> bool:
        """Whether a checkpoint should be written now (called at episode boundaries)."""

    def save_checkpoint(self, arrays: dict[str, np.ndarray]) -> None:
        """Write the algorithm's state with the runner's own, atomically."""

    def restored_arrays(self) -> dict[str, np.ndarray] | None:
        """The algorithm state of the checkpoint this run resumes from, or None on a fresh run."""
