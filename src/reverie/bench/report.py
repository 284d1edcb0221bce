"""Plots, a self-contained report.html and a printed table, for benchmark results and training runs.

``results.json`` layout: ``{"suite", "runs", "checks": [{"name", "value", "target", "passed"[, "interval"]}],
"curves": {key: {"title", "xlabel", "ylabel", "x", "series": {label: {"mean", "low", "high"[, "x"]}}}},
"timing": {...}}``. Reports are rebuilt from that file alone.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console
from rich.table import Table

from reverie.bench.checks import interval_text
from reverie.bench.stats import mean_band
from reverie.errors import UserError


def plot_curve(curve: dict, path: Path) -> None:
    """One PNG: each series' mean with its 95% band (a series with its own ``"x"`` is drawn at those points)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, band in curve["series"].items():
        x = np.asarray(band.get("x", curve["x"]))
        (line,) = ax.plot(x, band["mean"], label=label, lw=1.6)
        if band["low"] != band["high"]:
            ax.fill_between(x, band["low"], band["high"], color=line.get_color(), alpha=0.2, lw=0)
    if curve.get("logy"):
        ax.set_yscale("log")
    if curve.get("logx"):
        ax.set_xscale("log")
    if curve.get("ylim"):
        ax.set_ylim(*curve["ylim"])
    ax.set(title=curve["title"], xlabel=curve["xlabel"], ylabel=curve["ylabel"])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table_html(table: dict) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table["columns"])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in table["rows"])
    return f"<h2>{html.escape(table['title'])}</h2><table><tr>{head}</tr>{body}</table>"


def write_html(path: Path, title: str, checks: list, images: list[Path], facts: dict, *, tables=()) -> None:
    """A single HTML file with the checks table, the facts, further ``tables`` ({"title", "columns", "rows"})
    and the plots embedded as base64."""
    with_interval = any("interval" in c for c in checks)
    rows = "".join(
        f"<tr class={'pass' if c['passed'] else 'fail'}><td>{html.escape(c['name'])}</td><td>{c['value']}</td>"
        + (f"<td>{interval_text(c)}</td>" if with_interval else "")
        + f"<td>{html.escape(c['target'])}</td><td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in checks
    )
    facts_html = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in facts.items())
    imgs = "".join(
        f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in images
    )
    interval_head = "<th>95% interval</th>" if with_interval else ""
    head = f"<tr><th>check</th><th>value</th>{interval_head}<th>target</th><th></th></tr>"
    table = f"<table>{head}{rows}</table>" if checks else ""
    path.write_text(
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1400px;margin:2em auto}"
        "td,th{padding:4px 10px;border-bottom:1px solid #ddd}"
        ".pass td:last-child{color:green}.fail td:last-child{color:#c00;font-weight:bold}img{max-width:48%;margin:4px}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{table}{''.join(map(_table_html, tables))}"
        f"<ul>{facts_html}</ul>{imgs}</body></html>\n"
    )


def write_suite_report(results: dict, out: Path) -> Path:
    """PNG per curve and report.html in ``out``; returns the report's path."""
    images = []
    for key, curve in results["curves"].items():
        images.append(out / f"{key}.png")
        plot_curve(curve, images[-1])
    facts = {**{f"runs {k}": v for k, v in results.get("runs", {}).items()}, **results.get("timing", {})}
    title = results["suite"] if results["suite"].startswith("sweep ") else f"reverie bench {results['suite']}"
    write_html(out / "report.html", title, results["checks"], images, facts, tables=results.get("tables", ()))
    return out / "report.html"


def print_checks(results: dict, console: Console | None = None) -> None:
    table = Table(title=f"reverie bench {results['suite']}")
    with_interval = any("interval" in c for c in results["checks"])
    for column in ("check", "value", *(("95% interval",) if with_interval else ()), "target", "result"):
        table.add_column(column)
    for c in results["checks"]:
        interval = (interval_text(c),) if with_interval else ()
        verdict = "[green]pass" if c["passed"] else "[red]FAIL"
        table.add_row(c["name"], f"{c['value']:g}", *interval, c["target"], verdict)
    console = console or Console()
    if results["checks"]:
        console.print(table)
    for extra in results.get("tables", ()):
        rich_table = Table(title=extra["title"])
        for column in extra["columns"]:
            rich_table.add_column(str(column))
        for row in extra["rows"]:
            rich_table.add_row(*map(str, row))
        console.print(rich_table)
    for key, value in results.get("timing", {}).items():
        console.print(f"  {key}: {value}")


def _summaries(run_dir: Path) -> list[dict]:
    from reverie.runner.files import read_json  # bench sits above runner

    if (run_dir / "summary.json").exists():
        return [read_json(run_dir / "summary.json", "run summary")]
    seeds = sorted(p for p in run_dir.glob("seed_*") if (p / "summary.json").exists())
    if not seeds:
        raise UserError(f"{run_dir} holds no finished run (no summary.json, no seed_*/summary.json)")
    return [read_json(p / "summary.json", "run summary") for p in seeds]


def write_run_report(run_dir: Path) -> Path:
    """Learning curves (mean and 95% band over seeds) of a training run directory."""
    summaries = _summaries(run_dir)
    first = summaries[0]
    n = min(len(s["episode_lengths"]) for s in summaries)
    if n == 0:
        raise UserError(f"{run_dir}: the run finished no episode, nothing to plot")
    images = []
    for key, label in (("episode_returns", "return"), ("episode_lengths", "steps per episode")):
        curve = {
            "title": f"{first['algo']} on {first['env']} ({len(summaries)} seed{'s' * (len(summaries) > 1)})",
            "xlabel": "episode",
            "ylabel": label,
            "x": list(range(1, n + 1)),
            "series": {first["algo"]: mean_band(np.array([s[key][:n] for s in summaries]))},
        }
        images.append(run_dir / f"{key}.png")
        plot_curve(curve, images[-1])
    facts = {
        "seeds": [s["seed"] for s in summaries],
        "env steps per seed": [s["env_steps"] for s in summaries],
        "wall seconds per seed": [s["wall_s"] for s in summaries],
        "mean return, last 10 episodes": round(
            float(np.mean([np.mean(s["episode_returns"][-10:]) for s in summaries])), 4
        ),
    }
    write_html(run_dir / "report.html", f"{first['algo']} on {first['env']}", [], images, facts)
    return run_dir / "report.html"
