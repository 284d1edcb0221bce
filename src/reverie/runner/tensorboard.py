"""TensorBoard scalars written with the ``tensorboard`` package's own record writer and event protos.

A run logs only scalars, so it needs neither torch's ``SummaryWriter`` nor the 1-2 s it takes to import torch,
and it writes them synchronously, in the caller's thread: an event file has no writer thread to start and join,
and ``flush`` puts everything logged so far on disk (each episode's end, so curves are live). The events are
those ``SummaryWriter.add_scalar`` writes (``Summary.Value.simple_value``), so TensorBoard reads them the same way.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

_FILE_NUMBERS = itertools.count()  # two writers of one process in one second still get distinct files


class ScalarWriter:
    """Scalars for one run directory's ``tb/``; with ``purge_step``, TensorBoard hides events logged earlier at
    steps >= purge_step (a resumed run replays them)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None):
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.record_writer import RecordWriter

        self._event, self._summary = Event, Summary
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILE_NUMBERS)}"
        self._records = RecordWriter(open(Path(log_dir) / name, "wb"))
        self._write(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if purge_step is not None:  # as SummaryWriter does: a session restart at the step hides later events
            self._write(Event(step=purge_step, file_version="brain.Event:2"))
            self._write(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))])
        self._write(self._event(summary=summary, step=int(step), wall_time=time.time()))

    def flush(self) -> None:
        self._records.flush()

    def close(self) -> None:
        self._records.close()

    def _write(self, event) -> None:
        self._records.write(event.SerializeToString())
