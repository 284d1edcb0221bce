"""Running the peer libraries (mbrl-lib, Stable-Baselines3, TorchRL) in their own virtual environments, so a ratio
is measured on one machine in one benchmark run. A peer that is not installed is reported as not measured;
nothing here installs anything.

Where the peer scripts are is the user's to say, not the package's to find from its own location (an installed
package has no checkout around it): ``reverie bench SUITE --peers DIR`` (or $REVERIE_PEERS) names the shared peer
scripts, and the default, when the command runs from a reverie checkout, is ``../shared/peers`` beside it.
reverie's own peer wrappers are the checkout's ``benchmarks/peers`` (``local_peers``)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

_chosen: dict[str, Path] = {}  # set by use_peers (the --peers option)


def use_peers(folder) -> None:
    """Take the shared peer scripts from ``folder`` (``--peers DIR``) for the rest of this process."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        from reverie.errors import UserError

        raise UserError(f"--peers {folder}: no such directory")
    _chosen["peers"] = folder


def checkout_root(start: Path | None = None) -> Path | None:
    """The reverie checkout that holds the working directory (or ``start``), if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.exists() and 'name = "reverie"' in project.read_text():
            return folder
    return None


def peers_dir() -> Path | None:
    """The shared peer scripts: ``--peers DIR``, else $REVERIE_PEERS, else ``../shared/peers`` beside the checkout
    the command runs in; None when there is none."""
    if "peers" in _chosen:
        return _chosen["peers"]
    if os.environ.get("REVERIE_PEERS"):
        return Path(os.environ["REVERIE_PEERS"])
    root = checkout_root()
    candidate = root.parent / "shared" / "peers" if root is not None else None
    return candidate if candidate is not None and candidate.is_dir() else None


def local_peers() -> Path:
    """reverie's own peer wrappers: the checkout's ``benchmarks/peers`` (absolute; a missing one makes every peer
    that needs it 'not installed')."""
    root = checkout_root()
    return (root / "benchmarks" / "peers") if root is not None else Path("benchmarks/peers").resolve()


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
