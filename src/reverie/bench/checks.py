"""One row of a suite's table of checks: what was measured against which target, and whether it passed."""

from __future__ import annotations


def check(name: str, value, target: str, passed: bool, *, interval=None) -> dict:
    """``{"name", "value", "target", "passed"[, "interval"]}``; a value that could not be measured (None) is NaN.

    ``interval`` is the value's 95% interval across runs, ``(low, high)`` (``bench/aggregates.py``; None for an
    end that is unbounded, e.g. runs that never reached a threshold)."""
    value = float("nan") if value is None else float(value)
    row = {"name": name, "value": round(value, 4), "target": target, "passed": bool(passed)}
    if interval is not None:
        row["interval"] = [None if end is None else round(float(end), 4) for end in interval]
    return row


def interval_text(row: dict) -> str:
    """'[low, high]' of a check row with an interval ('-' for none, 'inf' for an unbounded end)."""
    if "interval" not in row:
        return "-"
    low, high = ("inf" if end is None else f"{end:g}" for end in row["interval"])
    return f"[{low}, {high}]"
