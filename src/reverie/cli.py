"""The ``reverie`` command line: train, resume, sweep, bench, report, list.

Bad input ends with one line on stderr (``reverie: error: ...``) and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import time
from pathlib import Path

from reverie import __version__
from reverie.errors import UserError

# The top level imports only the standard library and reverie's own light modules: `reverie --help` and
# `reverie list` answer at once, and each handler imports what its command needs (tests/test_startup.py, docs/cli.md).

COMMANDS = ("train", "resume", "sweep", "bench", "report", "list")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block; prog is 'reverie' or 'reverie train'
        raise UserError(f"{message} (see '{self.prog} --help')")


def _check_command(argv: list[str]) -> None:
    """An unknown subcommand gets one line naming the closest one (argparse would list them all)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    if word is not None and word not in COMMANDS:
        close = difflib.get_close_matches(word, COMMANDS, n=1)
        hint = f"; did you mean 'reverie {close[0]}'?" if close else f"; commands: {', '.join(COMMANDS)}"
        raise UserError(f"unknown command '{word}'{hint} (see 'reverie --help')")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="reverie", description="Learned model-based reinforcement learning.")
    parser.add_argument("--version", action="version", version=f"reverie {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = sub.add_parser("train", help="train an algorithm on an env; writes one run directory")
    train.add_argument("algo", help="algorithm name (see 'reverie list')")
    train.add_argument("--env", required=True, help="Gymnasium id, e.g. reverie/DynaMaze-v0 or module:Name-v0")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    seeds.add_argument("--seeds", help="several seeds, e.g. 0-9 or 1,4,7; one run directory each")
    train.add_argument("--workers", type=int, default=1, help="parallel processes for --seeds (default 1)")
    budget = train.add_mutually_exclusive_group()  # one is needed, except by an algorithm with a default (vin)
    budget.add_argument("--episodes", type=int, help="train for this many episodes (vin: epochs, default 40)")
    budget.add_argument("--steps", type=int, help="train for this many real environment steps")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    train.add_argument("--preset", help="named settings of the algorithm, under --set (see 'reverie list ALGO')")
    train.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE", help="gymnasium.make keyword (repeatable)")
    train.add_argument("--out", help="run directory (default runs/<algo>-<env>-<time>)")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=20,
        help="episodes between checkpoints, at most one a second (default 20)",
    )
    train.add_argument(
        "--eval-every",
        type=int,
        metavar="STEPS",
        help="evaluate the learned policy every STEPS real steps (pilco, gps)",
    )
    train.add_argument("--eval-episodes", type=int, default=5, help="episodes per evaluation (default 5)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    resume = sub.add_parser("resume", help="continue an interrupted run from its last checkpoint")
    resume.add_argument("run_dir")
    resume.add_argument("--quiet", action="store_true", help="no progress bar")

    sweep = sub.add_parser("sweep", help="train algorithms x envs x config values x seeds; one run directory each")
    sweep.add_argument("file", nargs="?", help="a TOML sweep definition (docs/sweeps.md); the options below add to it")
    sweep.add_argument("--algo", help="algorithm names, comma-separated")
    sweep.add_argument("--env", help="Gymnasium ids, comma-separated")
    sweep.add_argument("--seeds", help="seeds, e.g. 0-9 or 1,4,7 (default 0)")
    sweep_budget = sweep.add_mutually_exclusive_group()
    sweep_budget.add_argument("--episodes", type=int, help="each trial's budget in episodes")
    sweep_budget.add_argument("--steps", type=int, help="each trial's budget in real env steps")
    sweep.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="config values to sweep (repeatable)")
    sweep.add_argument("--set", action="append", metavar="KEY=VALUE", help="config value of every trial (repeatable)")
    sweep.add_argument("--env-kwarg", action="append", metavar="KEY=VALUE", help="gymnasium.make keyword (repeatable)")
    sweep.add_argument("--preset", help="the algorithms' named settings, under --set and --grid")
    sweep.add_argument("--out", help="sweep directory (default runs/sweep-<time>)")
    sweep.add_argument("--resume", metavar="DIR", help="continue the sweep in DIR: finished trials are kept, started "
                       "ones resume from their checkpoints")  # fmt: skip
    sweep.add_argument("--workers", type=int, help="trials at once (default: the machine's cores)")
    sweep.add_argument("--backend", choices=("local", "ray"), default="local", help="a local process pool (default) "
                       "or Ray tasks")  # fmt: skip
    sweep.add_argument("--address", help="with --backend ray: an existing cluster ('ray start --head' prints it)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    bench = sub.add_parser("bench", help="run a benchmark suite; exit 0 when every check passes, 1 otherwise")
    bench.add_argument("suite")
    bench.add_argument("--runs", type=int, help="override the suite's run counts")
    bench.add_argument("--quick", action="store_true", help="fewer runs, for a fast look")
    bench.add_argument("--out", help="output directory (default bench-results/<suite>)")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.add_argument(
        "--only", metavar="PART[,PART]", help="run only these parts of a suite that has parts (a wrong name lists them)"
    )
    bench.add_argument(
        "--peers", metavar="DIR", help="the shared peer scripts (default: ../shared/peers beside the checkout)"
    )

    report = sub.add_parser("report", help="rebuild the report of a bench output or run directory")
    report.add_argument("dir")

    listing = sub.add_parser("list", help="list algorithms, environments and suites, or one algorithm's config keys")
    listing.add_argument("algo", nargs="?", help="an algorithm: print every config key with type, default and help")
    return parser


def _default_out(algo: str, env_id: str) -> Path:
    name = env_id.replace(":", "_").replace("/", "_")
    return Path("runs") / f"{algo}-{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def _train(args) -> int:
    from reverie.runner.spec import RunSpec
    from reverie.runner.train import parse_pairs, parse_seeds, start_run, start_seeds

    spec = RunSpec(
        algo=args.algo,
        env_id=args.env,
        seed=args.seed,
        episodes=args.episodes,
        steps=args.steps,
        overrides=parse_pairs(args.set, "--set"),
        env_kwargs=parse_pairs(args.env_kwarg, "--env-kwarg"),
        out=Path(args.out) if args.out else _default_out(args.algo, args.env),
        checkpoint_every=args.checkpoint_every,
        preset=args.preset,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
    ).with_default_budget()
    if args.seeds:
        if args.workers < 1:
            raise UserError("--workers must be at least 1")

        def import_report():  # matplotlib's import overlaps the training instead of following it
            import reverie.bench.report  # noqa: F401

        seeds = parse_seeds(args.seeds)
        summaries = start_seeds(spec, seeds, args.workers, show=not args.quiet, while_running=import_report)
        from reverie.bench.report import write_run_report

        try:
            report = write_run_report(spec.out)
        except UserError as error:  # the runs finished (their summaries are written); only the plot has nothing
            report = f"none ({str(error).split(': ', 1)[-1]})"
        print(f"{len(summaries)} runs in {spec.out}; report: {report}")
        return 0
    summary = start_run(spec, show=not args.quiet)
    _print_summary(summary, spec.out)
    return 0


def _print_summary(summary: dict, out) -> None:
    if summary.get("headline"):  # what the algorithm measured, where episodes are not the story (vin's epochs)
        print(summary["headline"])
    lengths = summary["episode_lengths"][-10:]
    mean_len = sum(lengths) / len(lengths) if lengths else float("nan")
    print(
        f"{summary['algo']} on {summary['env']}: {summary['episodes']} episodes, {summary['env_steps']} steps, "
        f"{summary['wall_s']:.2f} s; mean length of the last {len(lengths)} episodes {mean_len:.1f}; run in {out}"
    )


def _sweep_definition(args) -> dict:
    from reverie.runner.sweep import merge_definitions, read_definition
    from reverie.runner.train import parse_pairs

    given = {
        "algos": args.algo,
        "envs": args.env,
        "seeds": args.seeds,
        "episodes": args.episodes,
        "steps": args.steps,
        "preset": args.preset,
        "set": parse_pairs(args.set, "--set"),
        "env_kwargs": parse_pairs(args.env_kwarg, "--env-kwarg"),
        "grid": {k: [v for v in values.split(",") if v] for k, values in parse_pairs(args.grid, "--grid").items()},
    }
    cli = {k: v for k, v in given.items() if v not in (None, {})}
    if args.episodes is not None or args.steps is not None:  # a budget on the command line replaces the file's
        cli["episodes"], cli["steps"] = args.episodes, args.steps
    return merge_definitions(read_definition(args.file) if args.file else {}, cli)


def _sweep(args) -> int:
    from reverie.runner.sweep import create_sweep, load_sweep, run_sweep

    if args.resume:
        if args.file or args.algo or args.env or args.grid or args.set or args.out:
            raise UserError("--resume DIR continues the sweep as it was defined; give no definition with it")
        out = Path(args.resume)
        trials = load_sweep(out)
    else:
        out = Path(args.out) if args.out else Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        trials = create_sweep(out, _sweep_definition(args))
    if args.address and args.backend != "ray":
        raise UserError("--address is for --backend ray")
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    rows = run_sweep(out, trials, workers=workers, backend=args.backend, address=args.address, show=not args.quiet)
    from reverie.bench.report import print_checks, write_suite_report
    from reverie.bench.sweep_report import sweep_results
    from reverie.runner.files import atomic_write_json

    results = sweep_results(out, rows)
    atomic_write_json(out / "results.json", results)
    report = write_suite_report(results, out)
    print_checks(results)
    failed = [row for row in rows if "error" in row]
    for row in failed:
        print(f"reverie: trial {row['name']} failed: {row['error']}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(rows)} trials failed (their error.txt has the cause); "
              f"'reverie sweep --resume {out}' tries them again", file=sys.stderr)  # fmt: skip
    print(f"{len(rows) - len(failed)} of {len(rows)} trials finished in {out}; report: {report}")
    return 1 if failed else 0


def _bench(args) -> int:
    from reverie.bench import SUITES, run_suite
    from reverie.bench.report import print_checks, write_suite_report
    from reverie.runner.files import atomic_write_json

    if args.suite not in SUITES:
        raise UserError(f"unknown suite '{args.suite}'; known: {', '.join(SUITES)}")
    out = Path(args.out or Path("bench-results") / args.suite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot write to output directory {out}: {error.strerror or error}") from None
    if args.runs is not None and args.runs < 1:
        raise UserError("--runs must be at least 1")
    if args.peers:
        from reverie.bench.peers import use_peers

        use_peers(args.peers)
    only = [part for part in (args.only or "").split(",") if part] or None
    results = run_suite(args.suite, runs=args.runs, quick=args.quick, show=not args.quiet, out=out, only=only)
    if only:  # a part's results beside the suite's, so parts that run at once do not overwrite each other
        out = out / f"part-{'+'.join(only)}"
        out.mkdir(exist_ok=True)
    atomic_write_json(out / "results.json", results)
    report = write_suite_report(results, out)
    print_checks(results)
    print(f"results: {out / 'results.json'}  report: {report}")
    return 0 if all(c["passed"] for c in results["checks"]) else 1


def _report(args) -> int:
    from reverie.bench.report import write_run_report, write_suite_report
    from reverie.runner.files import read_json

    path = Path(args.dir)
    if (path / "results.json").exists():
        report = write_suite_report(read_json(path / "results.json", "bench results"), path)
    elif path.is_dir():
        report = write_run_report(path)
    else:
        raise UserError(f"{path} is not a directory")
    print(f"report: {report}")
    return 0


def _list_keys(algo: str) -> int:
    import textwrap

    from reverie.algorithms import ALGORITHMS, algorithm_config, presets
    from reverie.config import current_keys

    config = algorithm_config(algo, {})  # the defaults this algorithm runs with (its entry's preset applied)
    print(f"{algo}: {ALGORITHMS[algo].summary}")
    print(f"config keys (reverie train {algo} --set KEY=VALUE):")
    for info in current_keys(config):
        when = f"; when {info.key.rsplit('.', 1)[0]}={info.variant}" if info.variant else ""
        choices = f"; one of {', '.join(map(str, info.choices))}" if info.choices else ""
        print(f"  {info.key} ({info.type}, default {info.default!r}{choices}{when})")
        for line in textwrap.wrap(info.help or "(no help)", 96):
            print(f"      {line}")
    named = presets(algo)
    if named:
        print(f"presets (reverie train {algo} --preset NAME):")
        for name, preset in named.items():
            print(f"  {name:22s} {preset.summary}")
    return 0


def _list(args) -> int:
    if args.algo:
        return _list_keys(args.algo)
    import gymnasium as gym

    from reverie.algorithms import ALGORITHMS
    from reverie.bench import SUITES
    from reverie.envs.tasks import TASKS, task_info

    print("algorithms:")
    for name, entry in ALGORITHMS.items():
        print(f"  {name:22s} {entry.summary}")
    ours = sorted(k for k in gym.registry if k.startswith("reverie/"))
    print("environments (reverie), with what reverie knows of each (docs/cli.md):")
    for env_id in ours:
        print(f"  {env_id:32s} {' '.join(task_info(env_id).parts())}")
    print("Gymnasium envs that reverie knows more of:")
    for env_id in sorted(k for k in TASKS if k not in ours):
        print(f"  {env_id:32s} {' '.join(task_info(env_id).parts())}")
    print("  reward/termination: known functions (PETS plans with them; reward~ approximate); pilco: a PILCO task;")
    print("  gps-cost: a cost for GPS; simulator: true dynamics for pets dynamics=simulator; success: is_success")
    print("  ...and any Gymnasium env with Discrete spaces for the tabular algorithms (e.g. FrozenLake-v1),")
    print("  or with a 1-D Box observation space for pets and mpc (e.g. Pendulum-v1); pilco runs on the envs with")
    print("  a pilco task, gps on those with a gps-cost and target conditions")
    print("suites:")
    for name, entry in SUITES.items():
        print(f"  {name:22s} {entry.summary}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``reverie`` console script; returns the exit code."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch reads it when (and if) a command imports torch
    argv = sys.argv[1:] if argv is None else argv
    try:
        _check_command(argv)
        args = _parser().parse_args(argv)
        import reverie  # noqa: F401  (registers the envs)

        handler = {
            "train": _train,
            "resume": _resume,
            "sweep": _sweep,
            "bench": _bench,
            "report": _report,
            "list": _list,
        }
        return handler[args.command](args)
    except UserError as error:
        print(f"reverie: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`reverie list | head`): stop quietly, as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("reverie: interrupted; a run can continue with 'reverie resume DIR'", file=sys.stderr)
        return 130


def _resume(args) -> int:
    from reverie.runner.train import resume_run

    summary = resume_run(args.run_dir, show=not args.quiet)
    _print_summary(summary, args.run_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
