"""The handle an algorithm reports to while it trains: budgets, episode records, metrics.jsonl,
TensorBoard, a progress bar with steps/s, and checkpoints that carry everything needed to resume."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from reverie.errors import UserError
from reverie.runner.buffer_chunks import drop_overwritten, restore_rows, write_new_rows
from reverie.runner.files import save_checkpoint

CHECKPOINT_FILE = "checkpoints/latest.npz"
BUFFER_FOLDER = "checkpoints/buffers"  # one folder of append-only chunks per buffer (runner/buffer_chunks.py)
MIN_CHECKPOINT_GAP_S = 1.0


class RunHandle:
    """Implements ``reverie.algorithms.base.Run`` for one seed in one run directory.

    Args:
        run_dir: the run directory (already holding config.json).
        seed: the run's seed.
        max_episodes, max_steps: the budget (None: unbounded; at least one is set).
        env: the environment, for its cross-episode ``state_dict`` if it has one (or None).
        checkpoint_every: episodes between checkpoints (one is also written every 30 s).
        progress: a ``reverie.runner.progress.RunProgress`` or None.
        restored: (arrays, meta) of the checkpoint to resume from, or None.
    """

    def __init__(self, run_dir, seed, max_episodes, max_steps, env, checkpoint_every=20, progress=None, restored=None):
        self.run_dir = Path(run_dir)
        self.seed = int(seed)
        self.max_episodes, self.max_steps = max_episodes, max_steps
        self.env = env
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.progress = progress
        self.returns, self.lengths, self.successes = [], [], []
        self.env_steps, self.wall_before = 0, 0.0
        self._restored_arrays = None
        self._buffer_rows = {}  # buffer name -> rows committed by the last checkpoint (written or restored)
        self.checkpoint_bytes = 0  # bytes the last save_checkpoint wrote (its chunks and latest.npz)
        metrics_path = self.run_dir / "metrics.jsonl"
        if restored is not None:
            self._restore(*restored, metrics_path)
        else:
            metrics_path.write_text("")
        self._metrics = open(metrics_path, "a")
        if restored is None:  # a fresh start (or a restart with no checkpoint): no stale curves or chunks
            shutil.rmtree(self.run_dir / "tb", ignore_errors=True)
            shutil.rmtree(self.run_dir / BUFFER_FOLDER, ignore_errors=True)
        # TensorBoard drops events at steps >= purge_step; the checkpoint includes the episode logged at env_steps
        self._tb = _tensorboard_writer(self.run_dir / "tb", purge_step=self.env_steps + 1 if restored else None)
        self._start = time.perf_counter()
        self._last_ckpt_time, self._last_ckpt_episode = self._start, len(self.lengths)
        self._episode_start_steps, self._episode_start_time = self.env_steps, self._start

    # -- budget ---------------------------------------------------------------------------------
    def finished(self) -> bool:
        return (self.max_episodes is not None and len(self.lengths) >= self.max_episodes) or self.out_of_steps()

    def out_of_steps(self) -> bool:
        return self.max_steps is not None and self.env_steps >= self.max_steps

    def episode_seed(self) -> int:
        # each episode's env seed depends only on (run seed, episode index): a resumed run replays it
        return (self.seed * 1_000_003 + len(self.lengths)) % (2**31 - 1)

    # -- records ----------------------------------------------------------------------------------
    def count_step(self, reward: float) -> None:
        self.env_steps += 1
        if self.progress is not None and self.max_steps is not None:
            self.progress.advance(1)

    def end_episode(self, episode_return: float, length: int, success, metrics: dict) -> None:
        self.returns.append(float(episode_return))
        self.lengths.append(int(length))
        if success is not None:
            self.successes.append(bool(success))
        now = time.perf_counter()
        steps_per_s = (self.env_steps - self._episode_start_steps) / max(now - self._episode_start_time, 1e-9)
        self._episode_start_steps, self._episode_start_time = self.env_steps, now
        row = {
            "episode": len(self.lengths),
            "env_steps": self.env_steps,
            "env/episode_return": float(episode_return),
            "env/episode_length": int(length),
            "time/steps_per_s": round(steps_per_s, 1),
            **metrics,
        }
        if success is not None:
            row["env/success"] = bool(success)
        self._metrics.write(json.dumps(row) + "\n")
        for key, value in row.items():
            if "/" in key and isinstance(value, (int, float)):
                self._tb.add_scalar(key, float(value), self.env_steps)
        if self.progress is not None:
            if self.max_steps is None:
                self.progress.advance(1)
            self.progress.show(f"{steps_per_s:,.0f} steps/s  return {episode_return:.3g}")

    # -- checkpoints ------------------------------------------------------------------------------
    def checkpoint_due(self) -> bool:
        # every checkpoint_every episodes, but at most once a second: in a fast run (a tabular episode takes
        # milliseconds) the files and fsyncs cost more than the work they protect; and at least every 30 s
        episodes_since = len(self.lengths) - self._last_ckpt_episode
        seconds_since = time.perf_counter() - self._last_ckpt_time
        return (
            episodes_since >= self.checkpoint_every and seconds_since >= MIN_CHECKPOINT_GAP_S
        ) or seconds_since > 30.0

    def save_checkpoint(self, arrays: dict[str, np.ndarray], buffers: dict | None = None) -> None:
        # a buffer's new rows go to a chunk first; the meta below commits them, so a crash in between is harmless
        self.checkpoint_bytes = 0
        for name, buffer in (buffers or {}).items():
            committed, written = write_new_rows(self._buffer_folder(name), buffer, self._buffer_rows.get(name, 0))
            self._buffer_rows[name] = committed
            self.checkpoint_bytes += written
        self._metrics.flush()
        self._tb.flush()
        meta = {
            "seed": self.seed,
            "env_steps": self.env_steps,
            "returns": self.returns,
            "lengths": self.lengths,
            "successes": self.successes,
            "wall_s": self.wall_s(),
            "metrics_bytes": self._metrics.tell(),
            "env_state": _env_state(self.env),
            "buffer_rows": self._buffer_rows,
        }
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, arrays, meta)
        self.checkpoint_bytes += (self.run_dir / CHECKPOINT_FILE).stat().st_size
        for name, buffer in (buffers or {}).items():
            drop_overwritten(self._buffer_folder(name), self._buffer_rows[name], buffer.capacity)
        self._last_ckpt_time, self._last_ckpt_episode = time.perf_counter(), len(self.lengths)

    def restored_arrays(self):
        return self._restored_arrays

    def restored_buffer(self, name: str, buffer) -> bool:
        if self._restored_arrays is None:
            return False
        if name not in self._buffer_rows:  # every save with this buffer records it, even with no rows yet
            raise UserError(f"the checkpoint holds no buffer '{name}' (written by another version of reverie?)")
        restore_rows(self._buffer_folder(name), buffer, self._buffer_rows[name])
        return True

    def _buffer_folder(self, name: str) -> Path:
        return self.run_dir / BUFFER_FOLDER / name

    def _restore(self, arrays, meta, metrics_path: Path) -> None:
        self._restored_arrays = arrays
        self.env_steps = int(meta["env_steps"])
        self.returns, self.lengths = list(meta["returns"]), list(meta["lengths"])
        self.successes = list(meta["successes"])
        self.wall_before = float(meta["wall_s"])
        self._buffer_rows = {name: int(rows) for name, rows in meta.get("buffer_rows", {}).items()}
        with open(metrics_path, "a") as handle:  # drop rows logged after the checkpoint
            handle.truncate(int(meta["metrics_bytes"]))
        if meta.get("env_state") is not None:
            self.env.unwrapped.load_state_dict(meta["env_state"])

    # -- end ----------------------------------------------------------------------------------------
    def wall_s(self) -> float:
        return self.wall_before + time.perf_counter() - self._start

    def close(self) -> None:
        self._metrics.close()
        self._tb.close()


def _env_state(env):
    if env is None:
        return None
    getter = getattr(env.unwrapped, "state_dict", None)
    return getter() if callable(getter) else None


def _tensorboard_writer(log_dir: Path, purge_step):
    from reverie.runner.tensorboard import ScalarWriter  # imported when a run starts, not with the package

    return ScalarWriter(log_dir, purge_step=purge_step)
