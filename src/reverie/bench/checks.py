"""One row of a suite's table of checks: what was measured against which target, and whether it passed."""

from __future__ import annotations


def check(name: str, value, target: str, passed: bool) -> dict:
    """``{"name", "value", "target", "passed"}``; a value that could not be measured (None) is NaN."""
    value = float("nan") if value is None else float(value)
    return {"name": name, "value": round(value, 4), "target": target, "passed": bool(passed)}
