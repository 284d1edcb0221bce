"""The replay buffer (ring wrap, any field shape and dtype, sampling, to_arrays/load_arrays) and the runner's
incremental buffer checkpoints (append-only chunks, restore, a crash between a chunk and its meta)."""

import numpy as np
import pytest
import torch

from reverie.data.replay import ReplayBuffer, transition_fields
from reverie.errors import UserError
from reverie.runner.files import load_checkpoint
from reverie.runner.run import BUFFER_FOLDER, CHECKPOINT_FILE, RunHandle

FRAMES = {"obs": ((3, 4, 5), np.uint8), "reward": ((), np.float32), "truncated": ((), np.bool_)}


def frame_rows(first, n):
    """Rows first..first+n-1 of FRAMES whose values are their insertion numbers (every 5th ends an episode)."""
    g = np.arange(first, first + n)
    obs = np.broadcast_to((g % 256).astype(np.uint8)[:, None, None, None], (n, 3, 4, 5))
    return {"obs": obs, "reward": g.astype(np.float32), "truncated": (g + 1) % 5 == 0}


def test_any_shape_and_dtype_and_positional_or_named_add():
    buffer = ReplayBuffer(FRAMES)
    buffer.add(np.full((3, 4, 5), 7, np.uint8), 1.5, False)
    buffer.add(obs=np.full((3, 4, 5), 255, np.uint8), truncated=True, reward=-2.0)
    assert buffer["obs"].shape == (2, 3, 4, 5) and buffer["obs"].dtype == np.uint8
    assert buffer["obs"][1].min() == 255 and list(buffer["reward"]) == [1.5, -2.0]
    assert buffer.episodes() == [slice(0, 2)]
    with pytest.raises(ValueError):
        buffer.add_batch(obs=np.zeros((1, 3, 4, 5)), reward=np.zeros(1))  # a field missing


def test_growing_buffer_keeps_every_row_across_doublings():
    buffer = ReplayBuffer(FRAMES)
    for start in range(0, 3000, 700):
        buffer.add_batch(**frame_rows(start, 700))
    assert len(buffer) == buffer.inserted == 3500 and buffer.first == 0
    assert np.array_equal(buffer["reward"], np.arange(3500, dtype=np.float32))


def test_ring_keeps_the_last_capacity_rows_in_time_order():
    buffer = ReplayBuffer(FRAMES, capacity=7)
    buffer.add_batch(**frame_rows(0, 5))
    buffer.add_batch(**frame_rows(5, 4))  # wraps: rows 2..8 live
    assert len(buffer) == 7 and buffer.inserted == 9 and buffer.first == 2
    assert list(buffer["reward"]) == list(range(2, 9))
    assert (buffer["obs"][:, 0, 0, 0] == np.arange(2, 9)).all()
    # rows 4 and 9 end episodes; the first live range (rows 2..4) lost its start, so only 5..9 would count,
    # and 5..8 is not finished yet
    assert buffer.episodes() == []
    buffer.add_batch(**frame_rows(9, 1))
    assert buffer.episodes() == [slice(2, 7)]  # rows 5..9, indexed from the oldest live row (3)
    buffer.add_batch(**frame_rows(10, 20))  # more than the capacity at once: only the last 7 survive
    assert list(buffer["reward"]) == list(range(23, 30)) and buffer.inserted == 30


def test_sample_is_a_function_of_the_generator_and_draws_only_live_rows():
    buffer = ReplayBuffer(FRAMES, capacity=50)
    buffer.add_batch(**frame_rows(0, 80))
    one = buffer.sample(64, torch.Generator().manual_seed(3))
    two = buffer.sample(64, torch.Generator().manual_seed(3))
    assert all(torch.equal(one[k], two[k]) for k in FRAMES)
    assert one["obs"].shape == (64, 3, 4, 5) and one["obs"].dtype == torch.uint8
    assert one["reward"].min() >= 30 and one["reward"].max() < 80
    assert torch.equal(one["obs"][:, 0, 0, 0].float(), one["reward"] % 256)  # fields of one row stay together


def test_to_arrays_load_arrays_round_trip_keeps_ring_layout():
    buffer = ReplayBuffer(FRAMES, capacity=7)
    buffer.add_batch(**frame_rows(0, 12))
    copy = ReplayBuffer(FRAMES, capacity=7)
    copy.load_arrays(buffer.to_arrays(prefix="data."), prefix="data.")
    assert copy.inserted == 12 and all(np.array_equal(copy[k], buffer[k]) for k in FRAMES)
    for b in (buffer, copy):
        b.add_batch(**frame_rows(12, 3))
    assert all(np.array_equal(copy[k], buffer[k]) for k in FRAMES)


def test_transition_fields_match_what_fit_reads():
    fields = transition_fields((4,), np.float32, (), np.int64)
    assert fields["act"] == ((), np.int64) and fields["next_obs"] == ((4,), np.float32)


# ------------------------------------------------------------------------------------ chunked checkpoints


def run_handle(run_dir, restored=None):
    run_dir.mkdir(exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    return RunHandle(run_dir, 0, max_episodes=None, max_steps=None, env=None, restored=restored)


def chunks(run_dir, name="data"):
    return sorted(p.name for p in (run_dir / BUFFER_FOLDER / name).glob("chunk_*.npz"))


def test_each_checkpoint_writes_only_the_new_rows_and_restores_exactly(tmp_path):
    run = run_handle(tmp_path)
    buffer = ReplayBuffer(FRAMES)
    buffer.add_batch(**frame_rows(0, 100))
    run.save_checkpoint({}, buffers={"data": buffer})
    buffer.add_batch(**frame_rows(100, 10))
    run.save_checkpoint({}, buffers={"data": buffer})
    run.save_checkpoint({}, buffers={"data": buffer})  # nothing new: no chunk
    assert chunks(tmp_path) == ["chunk_000000000000_000000000100.npz", "chunk_000000000100_000000000110.npz"]
    restored = ReplayBuffer(FRAMES)
    assert run_handle(tmp_path, load_checkpoint(tmp_path / CHECKPOINT_FILE)).restored_buffer("data", restored)
    assert restored.inserted == 110 and all(np.array_equal(restored[k], buffer[k]) for k in FRAMES)
    assert not run_handle(tmp_path / "fresh").restored_buffer("data", ReplayBuffer(FRAMES))
    with pytest.raises(UserError, match="no buffer 'other'"):
        run_handle(tmp_path, load_checkpoint(tmp_path / CHECKPOINT_FILE)).restored_buffer("other", restored)


def test_a_crash_between_chunk_and_meta_loses_only_the_uncommitted_rows(tmp_path):
    run = run_handle(tmp_path)
    buffer = ReplayBuffer(FRAMES)
    buffer.add_batch(**frame_rows(0, 20))
    run.save_checkpoint({}, buffers={"data": buffer})
    committed = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    buffer.add_batch(**frame_rows(20, 5))
    run.save_checkpoint({}, buffers={"data": buffer})
    # the crash: the second chunk is on disk but latest.npz is still the first checkpoint's
    resumed_run = run_handle(tmp_path, committed)
    resumed = ReplayBuffer(FRAMES)
    assert resumed_run.restored_buffer("data", resumed)
    assert resumed.inserted == 20 and np.array_equal(resumed["reward"], np.arange(20, dtype=np.float32))
    assert chunks(tmp_path) == ["chunk_000000000000_000000000020.npz"]  # the orphan chunk is deleted
    resumed.add_batch(**frame_rows(20, 5))
    resumed_run.save_checkpoint({}, buffers={"data": resumed})
    again = ReplayBuffer(FRAMES)
    run_handle(tmp_path, load_checkpoint(tmp_path / CHECKPOINT_FILE)).restored_buffer("data", again)
    assert all(np.array_equal(again[k], buffer[k]) for k in FRAMES)


def test_a_wrapped_ring_restores_its_last_capacity_rows_and_drops_overwritten_chunks(tmp_path):
    run = run_handle(tmp_path)
    buffer = ReplayBuffer(FRAMES, capacity=30)
    for start in range(0, 100, 10):
        buffer.add_batch(**frame_rows(start, 10))
        run.save_checkpoint({}, buffers={"data": buffer})
    # rows 70..99 are live: the chunks of rows 0..69 are gone
    assert chunks(tmp_path) == [f"chunk_{a:012d}_{a + 10:012d}.npz" for a in (70, 80, 90)]
    restored = ReplayBuffer(FRAMES, capacity=30)
    run_handle(tmp_path, load_checkpoint(tmp_path / CHECKPOINT_FILE)).restored_buffer("data", restored)
    assert restored.inserted == 100 and all(np.array_equal(restored[k], buffer[k]) for k in FRAMES)
    g = torch.Generator()
    assert torch.equal(restored.sample(20, g.manual_seed(1))["reward"], buffer.sample(20, g.manual_seed(1))["reward"])


def test_bench_buffer_measures_a_small_buffer(monkeypatch, tmp_path):
    from reverie.bench import SUITES
    from reverie.bench import buffer as bench
    from reverie.runner.progress import RunProgress

    assert "buffer" in SUITES
    monkeypatch.setattr(bench, "FRAME", (3, 8, 8))
    monkeypatch.setitem(bench.FIELDS, "obs", ((3, 8, 8), np.uint8))
    with RunProgress("buffer", 4, "parts", enabled=False) as progress:
        results = bench._run(2000, 100, 2, tmp_path, progress)
    checks = {row["name"]: row for row in results["checks"]}
    assert checks["restored buffer equals the saved one (1 = yes)"]["passed"]
    assert 1.0 <= checks["checkpoint after 100 new frames: bytes written / new bytes"]["value"] <= 2 * 2  # tiny rows
