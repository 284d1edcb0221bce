"""Incremental buffer checkpoints: each checkpoint appends one chunk file holding only the rows added since
the last one, so a checkpoint of a large buffer costs the new data, not a rewrite of everything.

A buffer named ``name`` lives in ``checkpoints/buffers/<name>/chunk_<first>_<stop>.npz`` (insertion numbers
``[first, stop)``, zero-padded so names sort in time order). Each chunk is written atomically *before* the
main checkpoint, whose meta records ``committed`` (rows that count). A crash between the two leaves a chunk
past ``committed``: restore ignores it and deletes it. A chunk whose rows a ring has entirely overwritten is
deleted once the meta that no longer needs it is written.

The buffer is duck-typed (numpy only here, so the run loop stays torch-free): ``inserted``, ``capacity``,
``rows_since(first)``, ``clear(inserted)`` and ``add_batch(**columns)``, as ``reverie.data.replay.ReplayBuffer``.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np

from reverie.errors import UserError

CHUNK_NAME = re.compile(r"chunk_(\d+)_(\d+)\.npz")


def chunk_files(folder: Path) -> list[tuple[int, int, Path]]:
    """The chunks in ``folder`` as (first, stop, path), oldest first."""
    found = []
    for path in Path(folder).glob("chunk_*.npz"):
        match = CHUNK_NAME.fullmatch(path.name)
        if match:
            found.append((int(match[1]), int(match[2]), path))
    return sorted(found)


def write_new_rows(folder: Path, buffer, committed: int) -> tuple[int, int]:
    """Append the rows added since ``committed`` as one chunk; returns (rows now committed, bytes written)."""
    if buffer.inserted == committed:
        return committed, 0
    folder.mkdir(parents=True, exist_ok=True)
    first, columns = buffer.rows_since(committed)
    path = folder / f"chunk_{first:012d}_{buffer.inserted:012d}.npz"
    tmp = folder / f".{path.name}.tmp"
    with open(tmp, "wb") as handle:  # uncompressed: writing costs the bytes of the rows and a small zip header
        np.savez(handle, **columns)
        handle.flush()
        os.fsync(handle.fileno())
        written = handle.tell()
    os.replace(tmp, path)
    return buffer.inserted, written


def drop_overwritten(folder: Path, committed: int, capacity: int | None) -> None:
    """Delete chunks that a ring of ``capacity`` has entirely overwritten (call after the meta is written)."""
    if capacity is None:
        return
    for _, stop, path in chunk_files(folder):
        if stop <= committed - capacity:
            path.unlink(missing_ok=True)


def restore_rows(folder: Path, buffer, committed: int) -> None:
    """Refill ``buffer`` with rows ``[committed - capacity, committed)`` (all of them without a capacity) from
    the chunks, and delete chunks written after ``committed`` (a checkpoint that crashed before its meta)."""
    first_live = 0 if buffer.capacity is None else max(0, committed - buffer.capacity)
    buffer.clear(first_live)
    position = first_live
    for first, stop, path in chunk_files(folder):
        if first >= committed:
            path.unlink(missing_ok=True)
            continue
        if stop <= position:  # rows a ring no longer holds
            continue
        if first > position:
            raise UserError(f"buffer checkpoint in {folder} is missing rows {position}..{first - 1}")
        try:
            with np.load(path, allow_pickle=False) as data:
                columns = {name: data[name][position - first : min(stop, committed) - first] for name in data.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            raise UserError(f"buffer chunk {path} is corrupt or unreadable") from None
        try:
            buffer.add_batch(**columns)
        except ValueError:  # other fields or shapes than the buffer it is restored into
            raise UserError(f"buffer chunk {path} does not fit this run's buffer") from None
        position = min(stop, committed)
    if position != committed:
        raise UserError(f"buffer checkpoint in {folder} holds rows up to {position}, its meta says {committed}")
