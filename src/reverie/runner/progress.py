"""A rich progress bar for long work: a run's steps/s and last return, a suite's current experiment."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RunProgress:
    """Progress over a run's budget (episodes or steps); a no-op when ``enabled`` is false."""

    def __init__(self, description: str, total: int, unit: str, done: int = 0, enabled: bool = True):
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, completed=done, detail="")

    def __enter__(self):
        self._progress.start()
        return self

    def __exit__(self, *exc):
        self._progress.stop()

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)

    def show(self, detail: str) -> None:
        """Replace the text after the counts, e.g. '12,000 steps/s  return 0.9'."""
        self._progress.update(self._task, detail=detail)
