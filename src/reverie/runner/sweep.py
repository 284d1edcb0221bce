"""Sweeps: algorithms x envs x config values x seeds, one run directory per trial, resumable.

A sweep directory holds ``sweep.json`` (the grid as given and the trials it expands to, written once before
any trial starts) and ``trials/<name>/``, one ordinary run directory per trial. A trial's state is read from
its directory, never from a record that could go stale: ``summary.json`` means finished (never re-run),
``config.json`` alone means started (resumed from its checkpoint), neither means new. So a sweep whose driver
or workers were killed continues with ``reverie sweep --resume DIR`` and loses and repeats nothing.

Trials run on a local process pool (one torch thread each, workers that die with the driver) or as Ray tasks
(``runner/sweep_ray.py``). A trial holds an exclusive lock on its directory while it runs, so a worker that
outlived its driver and the resumed sweep never train the same trial at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import reverie
from reverie.errors import UserError
from reverie.runner.files import atomic_write_json, read_json
from reverie.runner.progress import RunProgress
from reverie.runner.spec import RunSpec
from reverie.runner.trial import progress_line, run_trial, trial_row, trial_state

SWEEP_FILE = "sweep.json"
# the keys of a sweep definition (a TOML file's top level; the command line fills the same ones)
DEFINITION_KEYS = {
    "algos": "algorithm names",
    "envs": "Gymnasium env ids",
    "seeds": "seeds: a list, or text like '0-9' or '1,4,7'",
    "episodes": "budget in episodes (or steps)",
    "steps": "budget in real env steps (or episodes)",
    "set": "config values for every trial (KEY = VALUE)",
    "grid": "config values to sweep (KEY = [V1, V2, ...]); every combination is a trial",
    "env_kwargs": "gymnasium.make keywords for every trial",
    "preset": "the algorithms' named settings, under set and grid",
    "algo": "per-algorithm tables: [algo.NAME] with its own set and grid, added to the shared ones",
    "checkpoint_every": "episodes between checkpoints (default 20)",
    "eval_every": "real steps between evaluations of the learned policy",
    "eval_episodes": "episodes per evaluation (default 5)",
}


def read_definition(path) -> dict:
    """A sweep definition from a TOML file; UserError (one line) for a file that is missing, bad or has unknown keys."""
    try:
        import tomllib  # the standard library's from Python 3.11
    except ModuleNotFoundError:
        import tomli as tomllib  # Python 3.10: pip install tomli
    try:
        definition = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"sweep file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"sweep file {path} is not valid TOML: {error}") from None
    return definition


def merge_definitions(base: dict, extra: dict) -> dict:
    """``extra`` (the command line) over ``base`` (a file): lists and budgets replace, set/grid/env_kwargs merge."""
    merged = dict(base)
    for key, value in extra.items():
        if key in ("set", "grid", "env_kwargs"):
            merged[key] = {**base.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def _as_list(value, key: str) -> list:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise UserError(f"sweep '{key}' must be a non-empty list")
    return value


def _seeds(value) -> list[int]:
    from reverie.runner.train import parse_seeds

    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
            raise UserError(f"sweep seeds {value} must be integers")
        value = ",".join(map(str, value))
    if not isinstance(value, str):
        raise UserError("sweep seeds must be a list or text like '0-9'")
    return parse_seeds(value)


def _grid_points(grid: dict) -> list[dict]:
    """{key: [values]} -> every combination as {key: value}, in the order the keys and values were given."""
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise UserError(f"sweep grid '{key}' needs a non-empty list of values")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _trial_name(index: int, algo: str, env_id: str, point: dict, seed: int) -> str:
    env_short = env_id.split("/")[-1].split(":")[-1]
    values = "".join(f"-{key}={value}" for key, value in point.items())
    name = re.sub(r"[^A-Za-z0-9._=+-]", "_", f"{index:03d}-{algo}-{env_short}{values}-seed{seed}")
    return name[:120]


def expand(definition: dict, sweep_dir: Path) -> list[RunSpec]:
    """The trials of ``definition``: algos x envs x grid points (shared grid, then the algorithm's) x seeds, as run
    specs under ``sweep_dir/trials``. UserError for unknown keys, empty lists or a missing budget."""
    unknown = sorted(set(definition) - set(DEFINITION_KEYS))
    if unknown:
        raise UserError(f"unknown sweep key '{unknown[0]}'; known: {', '.join(DEFINITION_KEYS)}")
    for key in ("algos", "envs"):
        if key not in definition:
            raise UserError(f"a sweep needs '{key}' (--{key[:-1]} on the command line)")
    algos, envs = _as_list(definition["algos"], "algos"), _as_list(definition["envs"], "envs")
    seeds = _seeds(definition.get("seeds", [0]))
    per_algo = definition.get("algo", {})
    if not isinstance(per_algo, dict) or set(per_algo) - set(algos):
        raise UserError(f"sweep [algo.NAME] tables must name swept algorithms ({', '.join(algos)})")
    for key in ("set", "grid", "env_kwargs"):
        if not isinstance(definition.get(key, {}), dict):
            raise UserError(f"sweep '{key}' must be a table of KEY = VALUE")
    trials = []
    for algo, env_id in itertools.product(algos, envs):
        own = per_algo.get(algo, {})
        if set(own) - {"set", "grid"}:
            raise UserError(f"sweep [algo.{algo}] may hold only 'set' and 'grid'")
        fixed = {**definition.get("set", {}), **own.get("set", {})}
        for point in _grid_points({**definition.get("grid", {}), **own.get("grid", {})}):
            for seed in seeds:
                name = _trial_name(len(trials), algo, env_id, point, seed)
                trials.append(
                    RunSpec(
                        algo=algo,
                        env_id=env_id,
                        seed=seed,
                        episodes=definition.get("episodes"),
                        steps=definition.get("steps"),
                        overrides={**fixed, **point},
                        env_kwargs=dict(definition.get("env_kwargs", {})),
                        out=sweep_dir / "trials" / name,
                        checkpoint_every=definition.get("checkpoint_every", 20),
                        preset=definition.get("preset"),
                        eval_every=definition.get("eval_every"),
                        eval_episodes=definition.get("eval_episodes", 5),
                    ).with_default_budget()
                )
    return trials


def check_trials(trials: list[RunSpec]) -> None:
    """Validate every distinct run of the sweep (not every seed) before any trial starts; UserError names it."""
    from reverie.runner.train import check_spec

    seen = set()
    for spec in trials:
        key = repr(dataclasses.replace(spec, seed=0, out=None))
        if key not in seen:
            seen.add(key)
            try:
                check_spec(spec)
            except UserError as error:
                raise UserError(f"trial {spec.out.name}: {error}") from None


def _die_with_parent() -> None:
    """Pool-worker initializer: on Linux, ask the kernel to SIGKILL this worker when the driver dies, so a killed
    sweep leaves no orphans training (the trial lock covers the platforms without prctl)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except OSError:
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _run_local(specs: list[RunSpec], workers: int, progress: RunProgress) -> list[dict]:
    rows = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent) as pool:
        futures = [pool.submit(run_trial, spec) for spec in specs]
        for future in as_completed(futures):
            rows.append(future.result())
            progress.advance(1)
            progress.show(progress_line(rows[-1]))
    return rows


def create_sweep(sweep_dir: Path, definition: dict) -> list[RunSpec]:
    """Expand and validate ``definition`` and write ``sweep_dir/sweep.json``; returns the trials."""
    sweep_dir = Path(sweep_dir)
    if (sweep_dir / SWEEP_FILE).exists():
        raise UserError(f"{sweep_dir} already holds a sweep; continue it with 'reverie sweep --resume {sweep_dir}'")
    trials = expand(definition, sweep_dir)
    check_trials(trials)
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot write to sweep directory {sweep_dir}: {error.strerror or error}") from None
    record = {
        "definition": definition,
        "trials": [_trial_record(t) for t in trials],
        "version": reverie.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(sweep_dir / SWEEP_FILE, record)
    return trials


def _trial_record(spec: RunSpec) -> dict:
    fields = ("algo", "env_id", "seed", "overrides", "env_kwargs", "episodes", "steps", "preset")
    return {"name": Path(spec.out).name, **{key: getattr(spec, key) for key in fields}}


def load_sweep(sweep_dir: Path) -> list[RunSpec]:
    """The trials of the sweep in ``sweep_dir`` (from its sweep.json); UserError if there is none or it is corrupt."""
    sweep_dir = Path(sweep_dir)
    record = read_json(sweep_dir / SWEEP_FILE, "sweep directory (sweep.json)")
    try:
        trials = expand(record["definition"], sweep_dir)
        names = [t["name"] for t in record["trials"]]
    except (KeyError, TypeError):
        raise UserError(f"{sweep_dir / SWEEP_FILE} is corrupt: missing or bad fields") from None
    if [Path(t.out).name for t in trials] != names:
        raise UserError(f"{sweep_dir / SWEEP_FILE} is corrupt: its trials do not match its definition")
    return trials


def run_sweep(sweep_dir, trials: list[RunSpec], *, workers: int = 1, backend: str = "local", address=None,
              show: bool = True) -> list[dict]:  # fmt: skip
    """Run every unfinished trial of the sweep; returns one row per trial in the sweep's order (``"error"`` in
    the rows that failed). Finished trials are read back, not re-run."""
    if workers < 1:
        raise UserError("--workers must be at least 1")
    pending = [spec for spec in trials if trial_state(spec) != "finished"]
    finished = [spec for spec in trials if trial_state(spec) == "finished"]
    rows = {Path(s.out).name: trial_row(Path(s.out).name, read_json(Path(s.out) / "summary.json", "run summary"))
            for s in finished}  # fmt: skip
    label = f"sweep {Path(sweep_dir).name}"
    with RunProgress(label, len(trials), "trials", done=len(rows), enabled=show) as progress:
        if pending and backend == "ray":
            from reverie.runner.sweep_ray import run_ray

            new_rows = run_ray(pending, workers, address, progress)
        elif pending:
            new_rows = _run_local(pending, workers, progress)
        else:
            new_rows = []
    rows.update({row["name"]: row for row in new_rows})
    return [rows[Path(spec.out).name] for spec in trials]
