"""Progress of long work: a run's steps/s and last return, a fan-out's seeds, a suite's current experiment.

Three modes, chosen once per bar: on a terminal, one rich line on stderr that always fits the terminal's width
(the counts and times are never cut; the description, detail and bar give way, in that order); when stdout is
not a terminal (CI logs, ``| tee``), a plain line on stdout every ``LINE_EVERY_S`` seconds and one at the end;
``enabled=False`` (``--quiet``, seed workers) shows nothing.
"""

from __future__ import annotations

import sys
import time

LINE_EVERY_S = 10.0  # plain-line mode: how often a line is written


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "-:--:--"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _clip(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    return "" if room <= 0 else text[: room - 1] + "…"


def format_line(description, completed, total, unit, *, detail, elapsed, remaining, width: int | None) -> str:
    """One progress line of at most ``width - 1`` characters (None: no limit), e.g.
    ``dyna-q reverie/DynaMaze-v0 seed 0 ━━━━━━━━╺───── 20/50 episodes  1,234 steps/s  return 1  0:00:01 eta 0:00:02``.

    The counts and both times are always whole, and the terminal's last column stays free so the line never
    wraps. The rest of the room goes, in this order, to the first 12 characters of the description, the
    detail, the description up to 32 characters, a bar of 5 to 20 characters, and the rest of the description.
    """
    counts = f"{completed:,.0f}/{total:,.0f} {unit}"
    times = f"{_clock(elapsed)} eta {_clock(remaining)}"
    room = 10**6 if width is None else width - 1
    room -= len(counts) + len(times) + 2  # the two spaces before the times

    def take(wanted: int) -> int:  # characters granted out of ``wanted``, counting a separating space
        nonlocal room
        granted = max(0, min(wanted, room - 1))
        room -= granted + 1 if granted else 0
        return granted

    shown = take(min(len(description), 12))
    # +1: its second leading space; a detail cut below 8 characters says nothing, so it is left out
    detail = _clip(detail, take(len(detail) + 1) - 1) if detail and room > 9 else ""
    shown += take(min(len(description), 32) - shown) if shown else 0
    bar_width = take(20) if room >= 6 else 0
    shown += take(len(description) - shown) if shown else 0
    bar = ""
    if bar_width:
        filled = round(bar_width * min(max(completed / total, 0.0), 1.0)) if total else 0
        bar = "━" * filled + ("╺" if filled < bar_width else "") + "─" * max(bar_width - filled - 1, 0)
    parts = [_clip(description, shown), bar, counts, f" {detail}" if detail else "", f" {times}"]
    return " ".join(part for part in parts if part)


class RunProgress:
    """Progress over a run's budget (episodes or steps), a fan-out's seeds or a suite's experiments.

    Args:
        description: what is progressing, e.g. 'dyna-q reverie/DynaMaze-v0 seed 0'.
        total, unit: the budget, e.g. 50 and 'episodes'.
        done: progress already made (a resumed run).
        enabled: False shows nothing.
        interactive: True draws the rich line, False writes plain lines; None: a terminal decides (stdout's).
    """

    def __init__(self, description, total, unit, done=0, enabled=True, *, interactive=None, console=None):
        if interactive is None:
            interactive = sys.stdout.isatty()
        self.mode = "off" if not enabled else ("bar" if interactive else "lines")
        self.description, self.total, self.unit = description, total, unit
        self.completed, self.detail = done, ""
        self._done_at_start, self._started = done, time.monotonic()
        self._last_line = self._started
        self._progress = None
        if self.mode == "bar":
            self._progress = _rich_progress(self, console)
            self._task = self._progress.add_task(description, total=total, completed=done)

    def __enter__(self):
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
        elif self.mode == "lines":
            self._write_line()

    def advance(self, amount: int) -> None:
        self.completed += amount
        if self._progress is not None:
            self._progress.advance(self._task, amount)
        self._maybe_line()

    def show(self, detail: str) -> None:
        """Replace the text after the counts, e.g. '12,000 steps/s  return 0.9'."""
        self.detail = detail
        self._maybe_line()

    def line(self, width: int | None) -> str:
        """The current progress as one line that fits ``width`` columns."""
        elapsed = time.monotonic() - self._started
        made = self.completed - self._done_at_start
        remaining = (self.total - self.completed) * elapsed / made if made > 0 else None
        return format_line(self.description, self.completed, self.total, self.unit, detail=self.detail,
                           elapsed=elapsed, remaining=remaining, width=width)  # fmt: skip

    def _maybe_line(self) -> None:
        if self.mode == "lines" and time.monotonic() - self._last_line >= LINE_EVERY_S:
            self._write_line()

    def _write_line(self) -> None:
        self._last_line = time.monotonic()
        print(self.line(None), flush=True)


def _rich_progress(owner: RunProgress, console):
    """A rich Progress whose one column renders ``owner.line`` at the console's current width."""
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn
    from rich.text import Text

    console = console or Console(file=sys.stderr)

    class _Line(ProgressColumn):
        def render(self, task) -> Text:
            return Text(owner.line(console.width), no_wrap=True, overflow="crop")

    return Progress(_Line(), console=console, transient=False)
