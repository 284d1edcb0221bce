"""Files of a run directory, written atomically (temp file, then rename) so a crash never leaves a
half-written one, and checkpoints loaded without unpickling anything."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from reverie.errors import UserError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=_json_default) + "\n").encode())


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_json(path: Path, what: str):
    """Load a JSON file or raise UserError naming ``what`` it should have been."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found: not a {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, IsADirectoryError):
        raise UserError(f"{path} is not valid JSON: corrupt {what}") from None


def save_checkpoint(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Store arrays and a JSON ``meta`` dict in one .npz file, atomically."""
    payload = {f"a/{k}": np.asarray(v) for k, v in arrays.items()}
    payload["meta"] = np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, a kill: no half-written temp file left beside the last good checkpoint
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``; anything unreadable raises UserError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            arrays = {k[2:]: data[k] for k in data.files if k.startswith("a/")}
    except FileNotFoundError:
        raise UserError(f"no checkpoint at {path}: nothing to resume") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, EOFError):
        raise UserError(f"checkpoint {path} is corrupt or unreadable") from None
    if not isinstance(meta, dict):
        raise UserError(f"checkpoint {path} is corrupt or unreadable")
    return arrays, meta
