"""``reverie bench buffer``: what a checkpoint of a large pixel buffer costs.

A ring of 100,000 frames of 3x64x64 uint8 (1.2 GB) is checkpointed once through the runner's chunked path;
then 1,000 frames are added and it is checkpointed again, a few times. The second checkpoint should write
about the new data (goal: at most twice its bytes), where rewriting the whole buffer, as every checkpoint did
before chunks, writes all 1.2 GB; both are timed in the same run, on the same disk, with fsync.

The buffer holds frames only (obs, act, reward, terminated, truncated): a ``next_obs`` field would store every
frame twice (2.4 GB) for nothing, since a frame's successor is the next row of its episode. Sequence buffers
(PlaNet, Dreamer) will read it that way; the float transition buffers of PETS keep ``next_obs``, which costs
little there.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reverie.bench.checks import check
from reverie.data.replay import ReplayBuffer
from reverie.runner.files import load_checkpoint, save_checkpoint
from reverie.runner.progress import RunProgress
from reverie.runner.run import CHECKPOINT_FILE, RunHandle

FRAME = (3, 64, 64)
FIELDS = {
    "obs": (FRAME, np.uint8),
    "act": ((2,), np.float32),
    "reward": ((), np.float32),
    "terminated": ((), np.bool_),
    "truncated": ((), np.bool_),
}


def frames(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """n random rows of FIELDS; episodes of 1,000 frames (so a checkpoint holds whole and partial ones)."""
    return {
        "obs": rng.integers(0, 256, (n, *FRAME), dtype=np.uint8),
        "act": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "reward": rng.standard_normal(n).astype(np.float32),
        "terminated": np.zeros(n, bool),
        "truncated": np.arange(1, n + 1) % 1000 == 0,
    }


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """Run the suite; ``runs`` is the number of 1,000-frame checkpoints timed (5; 3 with ``quick``), ``quick`` uses
    a 10,000-frame buffer and 100-frame additions."""
    size, new = (10_000, 100) if quick else (100_000, 1_000)
    repeats = runs or (3 if quick else 5)
    scratch = Path(tempfile.mkdtemp(prefix="reverie-bench-buffer-"))
    try:
        with RunProgress("buffer", 4, "parts", enabled=show) as progress:
            return _run(size, new, repeats, scratch, progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(size: int, new: int, repeats: int, scratch: Path, progress) -> dict:
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(FIELDS, capacity=size)
    progress.show(f"filling {size:,} frames")
    for _ in range(size // 1000 or 1):
        buffer.add_batch(**frames(rng, min(1000, size)))
    (scratch / "checkpoints").mkdir(parents=True)
    run = RunHandle(scratch, 0, max_episodes=None, max_steps=None, env=None)
    progress.advance(1)
    progress.show("first checkpoint (every row)")
    started = time.perf_counter()
    run.save_checkpoint({}, buffers={"data": buffer})
    first_s, first_bytes = time.perf_counter() - started, run.checkpoint_bytes
    progress.advance(1)
    new_bytes = sum(np.dtype(dtype).itemsize * int(np.prod(shape)) for shape, dtype in FIELDS.values()) * new
    walls, written = [], []
    for i in range(repeats):
        progress.show(f"checkpoint after {new:,} new frames ({i + 1}/{repeats})")
        buffer.add_batch(**frames(rng, new))  # the ring wraps: the oldest frames are overwritten
        started = time.perf_counter()
        run.save_checkpoint({}, buffers={"data": buffer})
        walls.append(time.perf_counter() - started)
        written.append(run.checkpoint_bytes)
    run.close()
    progress.advance(1)
    progress.show("a full rewrite, and a restore")
    everything = buffer.to_arrays(prefix="buffer.")  # the ring in time order (a copy, made before the clock starts)
    started = time.perf_counter()
    save_checkpoint(scratch / "full.npz", everything, {})  # what each checkpoint cost before chunks
    full_s, full_bytes = time.perf_counter() - started, (scratch / "full.npz").stat().st_size
    del everything
    restored = ReplayBuffer(FIELDS, capacity=size)
    started = time.perf_counter()
    RunHandle(
        scratch, 0, max_episodes=None, max_steps=None, env=None, restored=load_checkpoint(scratch / CHECKPOINT_FILE)
    ).restored_buffer("data", restored)
    restore_s = time.perf_counter() - started
    same = restored.inserted == buffer.inserted and all(np.array_equal(restored[k], buffer[k]) for k in FIELDS)
    progress.advance(1)

    ratio = statistics.median(written) / new_bytes
    wall = statistics.median(walls)
    checks = [
        check(f"checkpoint after {new:,} new frames: bytes written / new bytes", ratio, "<= 2", ratio <= 2),
        check("that checkpoint's wall / a full rewrite's", wall / full_s, "<= 0.1", wall / full_s <= 0.1),
        check("restored buffer equals the saved one (1 = yes)", float(same), "= 1", same),
    ]
    timing = {
        f"first checkpoint ({size:,} frames), s": round(first_s, 3),
        "first checkpoint, MB written": round(first_bytes / 1e6, 2),
        f"checkpoint after {new:,} new frames, median s": round(wall, 4),
        f"checkpoint after {new:,} new frames, s each": [round(w, 4) for w in walls],
        "that checkpoint, MB written (median)": round(statistics.median(written) / 1e6, 3),
        "the new frames, MB": round(new_bytes / 1e6, 3),
        "full rewrite, s": round(full_s, 3),
        "full rewrite, MB written": round(full_bytes / 1e6, 2),
        "restore from chunks, s": round(restore_s, 3),
        "interpreter": sys.version.split()[0],
        "load average after (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()],
    }
    runs = {"frames": size, "new frames": new, "repeats": repeats}
    return {"suite": "buffer", "runs": runs, "checks": checks, "curves": {}, "timing": timing}
