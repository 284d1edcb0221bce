"""Start, resume and fan out training runs; each run is one directory (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import gymnasium as gym

import reverie
from reverie.algorithms import algorithm_config, check_env_fits, get_algorithm
from reverie.envs.tasks import task_info
from reverie.errors import UserError
from reverie.runner.files import atomic_write_json, load_checkpoint, read_json
from reverie.runner.progress import RunProgress
from reverie.runner.run import CHECKPOINT_FILE, Evaluation, RunHandle
from reverie.runner.spec import RunSpec


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a pair without '=' raises UserError."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} '{pair}' is not of the form key=value")
        out[key.strip()] = value.strip()
    return out


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def make_env(env_id: str, env_kwargs: dict[str, str]) -> gym.Env:
    """``gymnasium.make(env_id, **kwargs)`` with kwargs parsed as Python literals; errors become UserError. An env
    that reaches a goal without saying so is wrapped to report it (its ``envs.tasks`` record's success rule).

    An id ``module:Name-v0`` imports ``module`` first, as Gymnasium does.
    """
    kwargs = {k: _literal(v) if isinstance(v, str) else v for k, v in env_kwargs.items()}
    try:
        env = gym.make(env_id, **kwargs)
        return task_info(env.spec.id if env.spec is not None else env_id).with_success(env)
    except gym.error.Error as error:
        raise UserError(f"cannot make env '{env_id}': {str(error).splitlines()[0]}") from None
    except ModuleNotFoundError as error:
        raise UserError(f"cannot make env '{env_id}': module '{error.name}' not found") from None
    except (TypeError, ValueError) as error:
        raise UserError(f"cannot make env '{env_id}' with {kwargs}: {error}") from None
    except Exception as error:  # an env's own constructor may raise anything for a bad keyword (KeyError, ...)
        detail = str(error).splitlines()[0] if str(error) else ""
        raise UserError(f"cannot make env '{env_id}' with {kwargs}: {type(error).__name__} {detail}".rstrip()) from None


def _load_algorithm(algo: str):
    """The algorithm's module, with torch (if that module brought it in) held to one thread per process: small
    networks and parallel seeds run fastest so on a few cores. A tabular algorithm never imports torch."""
    module = get_algorithm(algo)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    return module


def _check_eval(spec: RunSpec, module) -> None:
    if spec.eval_every is not None and not getattr(module, "EVALUATES_POLICY", False):
        raise UserError(f"{spec.algo} learns no separate policy to evaluate; --eval-every is for the algorithms "
                        "that do (see 'reverie list')")  # fmt: skip


def _prepare_dir(out: Path) -> None:
    if (out / "config.json").exists():
        raise UserError(f"{out} already holds a run; resume it with 'reverie resume {out}' or pick another --out")
    try:
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise UserError(f"cannot write to output directory {out}: {error.strerror or error}") from None


def start_run(spec: RunSpec, *, show: bool = True) -> dict:
    """Validate everything, write config.json, then train; returns the summary dict."""
    spec.check_budget()
    module = _load_algorithm(spec.algo)
    _check_eval(spec, module)
    config = algorithm_config(spec.algo, spec.overrides, spec.preset)
    env = make_env(spec.env_id, spec.env_kwargs)
    check_env_fits(spec.algo, env, config)
    out = Path(spec.out)
    _prepare_dir(out)
    record = {
        **spec.record(config),
        "version": reverie.__version__,
        "python": platform.python_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    atomic_write_json(out / "config.json", record)
    return _train(out, record, module, config, env, restored=None, show=show)


def resume_run(run_dir, *, show: bool = True) -> dict:
    """Continue the run in ``run_dir`` from its last checkpoint (or from scratch if it has none)."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "config.json", "run directory (config.json)")
    if (run_dir / "summary.json").exists():
        return read_json(run_dir / "summary.json", "run summary")
    try:
        spec = RunSpec.from_record(record, run_dir)
        module = _load_algorithm(spec.algo)
        config = algorithm_config(spec.algo, spec.overrides, spec.preset)
        env = make_env(spec.env_id, spec.env_kwargs)
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{run_dir}/config.json is corrupt: missing or bad fields") from None
    checkpoint = run_dir / CHECKPOINT_FILE
    restored = load_checkpoint(checkpoint) if checkpoint.exists() else None
    checkpoint.parent.mkdir(exist_ok=True)  # a run re-created from its config.json alone starts from scratch
    if restored is not None and restored[1].get("seed") != spec.seed:
        raise UserError(f"checkpoint {checkpoint} belongs to another run (seed mismatch)")
    return _train(run_dir, record, module, config, env, restored=restored, show=show)


def _train(out: Path, record: dict, module, config, env, *, restored, show: bool) -> dict:
    episodes, steps = record["episodes"], record["steps"]
    done = 0  # progress already made, in the budget's unit
    if restored is not None:
        done = len(restored[1]["lengths"]) if steps is None else restored[1]["env_steps"]
    total, unit = (episodes, "episodes") if steps is None else (steps, "steps")
    label = f"{record['algo']} {record['env']} seed {record['seed']}"
    evaluation = None
    if record.get("eval_every"):
        evaluation = Evaluation(
            record["eval_every"], record["eval_episodes"], lambda: make_env(record["env"], record["env_kwargs"])
        )
    with RunProgress(label, total, unit, done=done, enabled=show) as progress:
        run = RunHandle(
            out, record["seed"], max_episodes=episodes, max_steps=steps, env=env,
            checkpoint_every=record.get("checkpoint_every", 20), progress=progress, restored=restored,
            evaluation=evaluation,
        )  # fmt: skip
        try:
            extra = module.train(env, config, run)
            summary = {
                "algo": record["algo"],
                "env": record["env"],
                "env_kwargs": record["env_kwargs"],
                "seed": record["seed"],
                "env_steps": run.env_steps,
                "episodes": len(run.lengths),
                "episode_returns": run.returns,
                "episode_lengths": run.lengths,
                "wall_s": round(run.wall_s(), 3),
                # episodes before the first model or policy update (all of them when the budget ended first)
                "warmup_episodes": len(run.lengths) if run.warmup is not None else run.warmup_episodes,
                # the process's high-water mark (a seed worker that ran earlier seeds reports their peak too)
                "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                **extra,
            }
            if run.successes and len(run.successes) == len(run.lengths):
                summary["episode_success"] = run.successes
            if evaluation is not None:  # the training env step of each evaluation, and its mean return
                summary["eval_env_steps"], summary["eval_returns"] = run.eval_env_steps, run.eval_returns
            warning = run.warmup_warning()
        finally:
            run.close()
            env.close()
    atomic_write_json(out / "summary.json", summary)  # last: its presence marks a complete run
    if warning is not None:  # even with --quiet: the run's result is not what its budget suggests
        print(warning, file=sys.stderr)
    return summary


def parse_seeds(text: str) -> list[int]:
    """'3' -> [3]; '0-9' -> [0..9]; '1,4,7' -> [1, 4, 7]."""
    seeds = []
    try:
        for part in text.split(","):
            low, sep, high = part.partition("-")
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise UserError(f"--seeds '{text}' is not like 0-9 or 1,4,7") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds '{text}' must list distinct non-negative seeds")
    return seeds


def check_spec(spec: RunSpec):
    """Raise UserError unless ``spec`` can start (budget, algorithm, config, env); returns its resolved config.
    Fan-outs and sweeps call it for every distinct run before any process starts."""
    spec.check_budget()
    _check_eval(spec, _load_algorithm(spec.algo))
    config = algorithm_config(spec.algo, spec.overrides, spec.preset)
    env = make_env(spec.env_id, spec.env_kwargs)
    try:
        check_env_fits(spec.algo, env, config)
    finally:
        env.close()
    return config


def _seed_worker(job: tuple[RunSpec, bool]) -> dict:
    spec, resume = job
    return resume_run(spec.out, show=False) if resume else start_run(spec, show=False)


def _same_run(run_dir: Path, spec: RunSpec, config) -> bool:
    """Whether ``run_dir/config.json`` records the run ``spec`` asks for (so it may be resumed, not redone)."""
    record = read_json(run_dir / "config.json", "run directory (config.json)")
    wanted = spec.record(config)
    keys = ("algo", "env", "env_kwargs", "episodes", "steps", "config", "eval_every", "eval_episodes")
    return all(record.get(key) == wanted[key] for key in keys)


def start_seeds(spec: RunSpec, seeds, workers: int, *, show=True, reuse=False, while_running=None) -> list[dict]:
    """One run of ``spec`` per seed in ``spec.out/seed_<n>``, ``workers`` processes at a time; returns their
    summaries in the order of ``seeds``.

    The worker processes start once per call and take the seeds one after another. With ``reuse``, a seed
    directory that already holds the same run (algo, env, budget, resolved config) is resumed from its
    checkpoint, or read back if it finished, so an interrupted benchmark picks up where it stopped; a directory
    holding a different run is still refused. ``while_running``, if given, is called in this process once every
    seed is handed out, while the workers train (the CLI imports the report's plotting there instead of after
    the last seed).
    """
    config = check_spec(spec)  # fail on bad input here, not in every worker
    jobs = []
    for seed in seeds:  # validate and claim every directory before any process starts
        one = spec.for_seed(seed)
        resume = reuse and (one.out / "config.json").exists() and _same_run(one.out, one, config)
        if not resume:
            _prepare_dir(one.out)
        jobs.append((one, resume))
    if "numba" in sys.modules:  # the algorithm compiles its loops: load numba once here, not in every worker
        from reverie.jit import warm_up

        warm_up()
    summaries = {}
    with RunProgress(f"{spec.algo} {spec.env_id}", len(jobs), "seeds", enabled=show) as progress:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = {pool.submit(_seed_worker, job): job[0].seed for job in jobs}
            if while_running is not None:
                while_running()
            for future in as_completed(futures):
                summary = future.result()
                summaries[futures[future]] = summary
                progress.advance(1)
                progress.show(f"seed {summary['seed']}: {summary['env_steps']} steps in {summary['wall_s']:.1f} s")
    return [summaries[seed] for seed in seeds]
