"""One trial of a sweep, run to its end whatever its directory's state (``runner/sweep.py`` says how states are
read), under an exclusive lock so that two processes never train it at once."""

from __future__ import annotations

import fcntl
import os
import traceback
from contextlib import contextmanager
from pathlib import Path

from reverie.errors import UserError
from reverie.runner.files import read_json
from reverie.runner.spec import RunSpec


def trial_state(spec: RunSpec) -> str:
    """'finished', 'started' or 'new', read from the trial's directory."""
    out = Path(spec.out)
    if (out / "summary.json").exists():
        return "finished"
    return "started" if (out / "config.json").exists() else "new"


@contextmanager
def _trial_lock(out: Path):
    """Hold an exclusive lock on ``out/.lock`` (waiting for a worker that still runs this trial elsewhere)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel when its holder dies, SIGKILL included
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_trial(spec: RunSpec) -> dict:
    """Train one trial to its end (start, resume or read back, by its directory's state); returns its result row.

    A trial that fails writes ``error.txt`` in its directory and returns a row with ``"error"``: the other trials
    go on, and ``--resume`` tries it again."""
    from reverie.runner.train import resume_run, start_run

    out = Path(spec.out)
    with _trial_lock(out):
        (out / "worker.pid").write_text(f"{os.getpid()}\n")  # which process runs it (the fault tests kill it)
        try:
            state = trial_state(spec)
            if state == "finished":
                summary = read_json(out / "summary.json", "run summary")
            elif state == "started":
                summary = resume_run(out, show=False)
            else:
                summary = start_run(spec, show=False)
        except Exception as error:  # a failed trial must not end the sweep; its cause is kept beside it
            (out / "error.txt").write_text(traceback.format_exc())
            message = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            return {"name": out.name, "error": message.splitlines()[0] if message else type(error).__name__}
    (out / "error.txt").unlink(missing_ok=True)
    return trial_row(out.name, summary)


def trial_row(name: str, summary: dict) -> dict:
    """The few figures of a finished trial that the sweep's table needs (the full record stays in its directory)."""
    returns, lengths = summary["episode_returns"][-10:], summary["episode_lengths"][-10:]
    row = {
        "name": name,
        "episodes": summary["episodes"],
        "env_steps": summary["env_steps"],
        "wall_s": summary["wall_s"],
        "final_return": round(sum(returns) / len(returns), 6) if returns else None,
        "final_length": round(sum(lengths) / len(lengths), 3) if lengths else None,
    }
    if summary.get("eval_returns"):
        row["final_eval_return"] = summary["eval_returns"][-1]
    return row


def progress_line(row: dict) -> str:
    """One line for the progress display about a finished (or failed) trial."""
    if "error" in row:
        return f"{row['name']}: FAILED ({row['error']})"
    return f"{row['name']}: {row['env_steps']} steps in {row['wall_s']:.1f} s"
