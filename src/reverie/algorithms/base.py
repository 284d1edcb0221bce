"""What every algorithm shares: config range checks, a finite-value check, and the run protocol (configs are
built from ``key=value`` strings by ``reverie.config.build_config``).

An algorithm module exposes ``NAME``, a ``Config`` dataclass and
``train(env, config, run) -> dict``; ``run`` is the runner's handle (see ``Run`` below).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

from reverie.config import check_range
from reverie.errors import UserError

__all__ = ["Preset", "Run", "TinyRun", "check_range", "finite"]


class TinyRun(NamedTuple):
    """The smallest run of an algorithm that still exercises all of it, for the registry-wide contract test
    (tests/test_contract.py): every algorithm module declares one as ``TINY``."""

    env_id: str
    overrides: dict
    episodes: int = 3  # the straight run
    split_at: int = 2  # the interrupted run stops here (a checkpoint) and is resumed to ``episodes``


class Preset(NamedTuple):
    """Named settings of an algorithm (``--preset NAME``): overrides applied under the user's ``--set`` keys."""

    summary: str  # one line for `reverie list ALGO`
    overrides: dict
    tiny: TinyRun | None = None  # the contract test's run, for a preset registered as an algorithm of its own


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

    def steps_left(self) -> int | None:
        """Real env steps the budget still allows; None without a step budget (``envs.wrappers.ActionRepeat``)."""

    def episode_seed(self) -> int:
        """Seed for the next ``env.reset``; a function of the run seed and episode index."""

    def count_step(self, reward: float) -> None:
        """Record one real environment step."""

    def end_episode(self, episode_return: float, length: int, success: bool | None, metrics: dict) -> None:
        """Record a finished episode and its metrics (logged to metrics.jsonl and TensorBoard)."""

    def phase(self, name: str, *, learning: bool, ends_when: str = "") -> None:
        """Say what the algorithm does now ("random warm-up", "planning"), shown on the progress line. A phase
        with ``learning=False`` before the first update is the warm-up: ``summary.json`` counts its episodes
        (``warmup_episodes``), and a run whose budget ends in it warns in one line (``ends_when`` says when
        it would have ended)."""

    def evaluate(self, act, wrap=None) -> float | None:
        """Evaluate the deterministic policy ``act`` (obs -> action) if ``--eval-every`` steps have passed since
        the last evaluation (on the runner's own env and seeds, wrapped once by ``wrap`` if given; logged as
        ``eval/episode_return``); returns the mean return, or None when none was due. Policy-learning algorithms
        call it at episode ends."""

    def checkpoint_due(self) -> bool:
        """Whether a checkpoint should be written now (called at episode boundaries)."""

    def save_checkpoint(self, arrays: dict[str, np.ndarray], buffers: dict | None = None) -> None:
        """Write the algorithm's state with the runner's own, atomically.

        ``buffers`` maps a name to a ``reverie.data.replay.ReplayBuffer``; only the rows each gained since the
        last checkpoint are written (an append-only chunk), so checkpointing a large buffer stays cheap."""

    def artifact_path(self, name: str):
        """A path ``name`` inside the run directory for the algorithm's own files (a cached dataset, image strips);
        what is written there stays with the run and is found again on resume."""

    def restored_arrays(self) -> dict[str, np.ndarray] | None:
        """The algorithm state of the checkpoint this run resumes from, or None on a fresh run."""

    def restored_buffer(self, name: str, buffer) -> bool:
        """Refill ``buffer`` (constructed as in the saved run) with buffer ``name``'s rows as of the checkpoint
        this run resumes from; False (``buffer`` untouched) on a fresh run. A checkpoint without that buffer, or
        chunks that do not fit it, raise UserError."""
