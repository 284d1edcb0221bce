"""Running the peer libraries (mbrl-lib, Stable-Baselines3) from ``../shared/peers/`` in their own
virtual environments, so a ratio is measured on one machine in one benchmark run. A peer that is not
installed is reported as not measured; nothing here installs anything."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

# reverie's own peer wrappers (benchmarks/peers/ in a checkout); absolute, so run_peer joins it as is
LOCAL_PEERS = Path(__file__).resolve().parents[3] / "benchmarks" / "peers"


def peers_dir() -> Path | None:
    """The shared peer scripts: $REVERIE_PEERS, or ``shared/peers`` beside the repository."""
    if os.environ.get("REVERIE_PEERS"):
        return Path(os.environ["REVERIE_PEERS"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "peers"
        if (parent / "pyproject.toml").exists() and candidate.is_dir():
            return candidate
    return None


def peer_python(name: str) -> Path | None:
    """The interpreter of peer venv ``name`` ($REVERIE_PEER_VENVS or ~/peer-venvs), if it exists."""
    root = Path(os.environ.get("REVERIE_PEER_VENVS", Path.home() / "peer-venvs"))
    python = root / name / "bin" / "python"
    return python if python.exists() else None


def run_peer(venv: str, script: str, args: list[str], timeout_s: float, cache: Path | None = None) -> dict:
    """Run one peer script; returns {"rows": [json lines], "wall_s", "error"} (error None on success).

    With ``cache`` (a JSON file), a successful result already stored there is returned instead of running the
    peer again, and a new successful result is stored, so an interrupted benchmark does not redo hour-long peers.
    """
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("args") == [script, *args] and stored.get("error") is None:
            return stored
    result = _run_peer(venv, script, args, timeout_s)
    if cache is not None and result["error"] is None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({**result, "args": [script, *args]}))
    return result


def _run_peer(venv: str, script: str, args: list[str], timeout_s: float) -> dict:
    python, folder = peer_python(venv), peers_dir()
    if python is None or folder is None or not (folder / script).exists():
        return {"rows": [], "wall_s": None, "error": f"peer '{venv}' not installed (see shared/peers/README.md)"}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [str(python), str(folder / script), *args], capture_output=True, text=True, timeout=timeout_s, cwd=folder
        )
    except subprocess.TimeoutExpired as expired:
        out, error = expired.stdout or "", f"timed out after {timeout_s:.0f} s"
    else:
        out = done.stdout
        error = None if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
    if isinstance(out, bytes):
        out = out.decode(errors="replace")
    rows = []
    for line in out.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return {"rows": rows, "wall_s": round(time.perf_counter() - started, 2), "error": error}
