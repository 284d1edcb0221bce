"""The handle an algorithm reports to while it trains: budgets, episode records, metrics.jsonl,
TensorBoard, a progress bar with steps/s, and checkpoints that carry everything needed to resume."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from reverie.errors import UserError
from reverie.runner.buffer_chunks import drop_overwritten, restore_rows, write_new_rows
from reverie.runner.files import save_checkpoint

CHECKPOINT_FILE = "checkpoints/latest.npz"
BUFFER_FOLDER = "checkpoints/buffers"  # one folder of append-only chunks per buffer (runner/buffer_chunks.py)
MIN_CHECKPOINT_GAP_S = 1.0
# metrics.jsonl and TensorBoard are flushed at an episode's end once this long has passed since the last flush:
# live curves for every run (a PETS episode is seconds to minutes), and no write per millisecond-long episode
LIVE_FLUSH_S = 1.0


EVAL_SEED_BASE = 1_000_000_007  # evaluation episodes' env seeds lie far from every training episode's


class Evaluation(NamedTuple):
    """Evaluation of the learned policy during training (``--eval-every``): every ``every`` real steps,
    ``episodes`` episodes of the deterministic ``act`` on an env of its own, made by ``make_env()``."""

    every: int
    episodes: int
    make_env: object  # () -> gymnasium.Env


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
        evaluation: an ``Evaluation`` (the policy is evaluated when the algorithm asks ``evaluate``), or None.
    """

    def __init__(self, run_dir, seed, *, max_episodes, max_steps, env, checkpoint_every=20, progress=None,
                 restored=None, evaluation: Evaluation | None = None):  # fmt: skip
        self.run_dir = Path(run_dir)
        self.seed = int(seed)
        self.max_episodes, self.max_steps = max_episodes, max_steps
        self.env = env
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.progress = progress
        self.returns, self.lengths, self.successes = [], [], []
        self.env_steps, self.wall_before = 0, 0.0
        self.phase_name, self.warmup = "", None  # warmup: (description, what ends it) while warming up
        self.warmup_episodes = 0  # episodes before the first model or policy update
        self.evaluation, self._eval_env = evaluation, None
        self.eval_env_steps, self.eval_returns = [], []  # training env steps at each evaluation, its mean return
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
        self._last_flush = self._start

    # -- phases ---------------------------------------------------------------------------------------
    def phase(self, name: str, *, learning: bool, ends_when: str = "") -> None:
        """Say what the algorithm is doing now (shown on the progress line): ``learning=False`` is a warm-up
        before the first model or policy update (``ends_when`` says what ends it, for the warning a run that
        ends in its warm-up prints); the first ``learning=True`` phase fixes ``warmup_episodes``."""
        if learning and self.warmup is not None:
            self.warmup_episodes, self.warmup = len(self.lengths), None
        elif not learning and self.warmup is None and name != self.phase_name:
            self.warmup = (name, ends_when)
        if self.progress is not None and name != self.phase_name:
            self.progress.show(name)
        self.phase_name = name

    # -- budget ---------------------------------------------------------------------------------
    def finished(self) -> bool:
        return (self.max_episodes is not None and len(self.lengths) >= self.max_episodes) or self.out_of_steps()

    def out_of_steps(self) -> bool:
        return self.max_steps is not None and self.env_steps >= self.max_steps

    def steps_left(self) -> int | None:
        return None if self.max_steps is None else self.max_steps - self.env_steps

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
        if now - self._last_flush >= LIVE_FLUSH_S:
            self._metrics.flush()
            self._tb.flush()
            self._last_flush = now
        if self.progress is not None:
            if self.max_steps is None:
                self.progress.advance(1)
            phase = f"{self.phase_name}  " if self.phase_name else ""
            self.progress.show(f"{phase}{steps_per_s:,.0f} steps/s  return {episode_return:.3g}")

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, act, wrap=None) -> float | None:
        """If an evaluation is due (``--eval-every`` real steps since the last), run ``act`` (obs -> action, the
        deterministic policy) for the evaluation's episodes on the eval env, log ``eval/episode_return`` (their
        mean) at the current env step and return it; else None. Evaluation steps are not training steps.
        ``wrap`` (env -> env) is applied to the eval env once, e.g. the algorithm's ``ActionRepeat``."""
        plan = self.evaluation
        if plan is None or self.env_steps < (len(self.eval_returns) + 1) * plan.every:
            return None
        if self._eval_env is None:
            self._eval_env = plan.make_env() if wrap is None else wrap(plan.make_env())
        returns = []
        for k in range(plan.episodes):
            obs, _ = self._eval_env.reset(seed=(EVAL_SEED_BASE + self.seed * 1000 + k) % (2**31 - 1))
            total, ended = 0.0, False
            while not ended:
                obs, reward, terminated, truncated, _ = self._eval_env.step(act(obs))
                total, ended = total + float(reward), terminated or truncated
            returns.append(total)
        mean = float(np.mean(returns))
        self.eval_env_steps.append(self.env_steps)
        self.eval_returns.append(mean)
        row = {"episode": len(self.lengths), "env_steps": self.env_steps, "eval/episode_return": mean,
               "eval/episode_returns": returns}  # fmt: skip
        self._metrics.write(json.dumps(row) + "\n")
        self._tb.add_scalar("eval/episode_return", mean, self.env_steps)
        if self.progress is not None:
            self.progress.show(f"eval return {mean:.3g}")
        return mean

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
        """Write the run's state; a write that fails (a full disk) ends the run with one line, the last good
        checkpoint untouched (``latest.npz`` is replaced only by a complete new file), so resume continues from it."""
        try:
            self._write_checkpoint(arrays, buffers)
        except OSError as error:
            raise UserError(
                f"cannot write a checkpoint in {self.run_dir}: {error.strerror or error}; the last good checkpoint is "
                f"kept, and 'reverie resume {self.run_dir}' continues from it once the disk has room"
            ) from None

    def _write_checkpoint(self, arrays: dict[str, np.ndarray], buffers: dict | None) -> None:
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
            "warmup": [self.phase_name, self.warmup, self.warmup_episodes],
            "eval": [self.eval_env_steps, self.eval_returns],
            "metrics_bytes": self._metrics.tell(),
            "env_state": _env_state(self.env),
            "buffer_rows": self._buffer_rows,
        }
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, arrays, meta)
        self.checkpoint_bytes += (self.run_dir / CHECKPOINT_FILE).stat().st_size
        for name, buffer in (buffers or {}).items():
            drop_overwritten(self._buffer_folder(name), self._buffer_rows[name], buffer.capacity)
        self._last_ckpt_time, self._last_ckpt_episode = time.perf_counter(), len(self.lengths)

    def artifact_path(self, name: str) -> Path:
        return self.run_dir / name

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
        if "eval" in meta:
            self.eval_env_steps, self.eval_returns = (list(v) for v in meta["eval"])
        if "warmup" in meta:
            self.phase_name, warmup, self.warmup_episodes = meta["warmup"]
            self.warmup = tuple(warmup) if warmup is not None else None
        self._buffer_rows = {name: int(rows) for name, rows in meta.get("buffer_rows", {}).items()}
        with open(metrics_path, "a") as handle:  # drop rows logged after the checkpoint
            handle.truncate(int(meta["metrics_bytes"]))
        if meta.get("env_state") is not None:
            self.env.unwrapped.load_state_dict(meta["env_state"])

    # -- end ----------------------------------------------------------------------------------------
    def warmup_warning(self) -> str | None:
        """One line when the budget ended before the first model or policy update, else None."""
        if self.warmup is None:
            return None
        name, ends_when = self.warmup
        until = f" (it ends after {ends_when})" if ends_when else ""
        return (f"warning: the budget ended in the {name}{until}: nothing was learned yet; "
                "give more --episodes or --steps")  # fmt: skip

    def wall_s(self) -> float:
        return self.wall_before + time.perf_counter() - self._start

    def close(self) -> None:
        self._metrics.close()
        self._tb.close()
        if self._eval_env is not None:
            self._eval_env.close()


def _env_state(env):
    if env is None:
        return None
    getter = getattr(env.unwrapped, "state_dict", None)
    return getter() if callable(getter) else None


def _tensorboard_writer(log_dir: Path, purge_step):
    from reverie.runner.tensorboard import ScalarWriter  # imported when a run starts, not with the package

    return ScalarWriter(log_dir, purge_step=purge_step)
