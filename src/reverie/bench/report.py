"""Plots, a self-contained report.html and a printed table, for benchmark results and training runs.

``results.json`` layout: ``{"suite", "runs", "checks": [{"name", "value", "target", "passed"[, "interval"]}],
"curves": {key: {"title", "xlabel", "ylabel", "x", "series": {label: {"mean", "low", "high"[, "x"]}}}},
"timing": {...}}``. Reports are rebuilt from that file alone.
"""

from __future__ import annotations

import base64
import html
import json
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


def _json_safe(value):
    """``value`` with every non-finite float as None: the chart's JSON.parse rejects NaN and Infinity."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def caption(curve: dict) -> str:
    """The one line under a plot: its own ``"caption"``, else what its axes and bands show."""
    if curve.get("caption"):
        return curve["caption"]
    bands = any(band["low"] != band["high"] for band in curve["series"].values())
    return (f"{curve['ylabel']} against {curve['xlabel']} for {len(curve['series'])} series: lines are means"
            + (", shaded bands 95% intervals." if bands else "."))  # fmt: skip


def _figure_html(png: Path, curve: dict) -> str:
    data = html.escape(json.dumps(_json_safe(curve)), quote=True)
    image = base64.b64encode(png.read_bytes()).decode()
    return (
        f'<figure><div class="chart" data-curve="{data}"></div><details><summary>static image (PNG)</summary>'
        f'<img alt="{html.escape(png.stem)}" src="data:image/png;base64,{image}"></details>'
        f"<figcaption>{html.escape(caption(curve))}</figcaption></figure>"
    )


STYLE = (
    "body{font-family:sans-serif;max-width:1400px;margin:2em auto}td,th{padding:4px 10px;border-bottom:1px solid #ddd}"
    ".pass td:last-child{color:green}.fail td:last-child{color:#c00;font-weight:bold}img{max-width:640px;margin:4px}"
    "figure{display:inline-block;vertical-align:top;margin:8px;max-width:660px}figcaption{font-size:90%;color:#333}"
    ".legend-item{cursor:pointer;margin-right:12px;font-size:90%}.readout{font-size:85%;color:#555;min-height:1.2em}"
)


def write_html(path: Path, title: str, checks: list, figures: list[tuple[Path, dict]], facts: dict, *, tables=()):
    """A single HTML file, readable offline: the checks table, further ``tables`` ({"title", "columns", "rows"}),
    the facts, and per curve an interactive chart (``chart.js``, inline) with its PNG and a caption."""
    with_interval = any("interval" in c for c in checks)
    rows = "".join(
        f"<tr class={'pass' if c['passed'] else 'fail'}><td>{html.escape(c['name'])}</td><td>{c['value']}</td>"
        + (f"<td>{interval_text(c)}</td>" if with_interval else "")
        + f"<td>{html.escape(c['target'])}</td><td>{'pass' if c['passed'] else 'FAIL'}</td></tr>"
        for c in checks
    )
    facts_html = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in facts.items())
    interval_head = "<th>95% interval</th>" if with_interval else ""
    head = f"<tr><th>check</th><th>value</th>{interval_head}<th>target</th><th></th></tr>"
    table = f"<table>{head}{rows}</table>" if checks else ""
    script = (Path(__file__).with_name("chart.js")).read_text()
    path.write_text(
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"<script>{script}</script></head><body><h1>{html.escape(title)}</h1>{table}"
        f"{''.join(map(_table_html, tables))}<ul>{facts_html}</ul>"
        f"{''.join(_figure_html(png, curve) for png, curve in figures)}</body></html>\n"
    )


def write_suite_report(results: dict, out: Path) -> Path:
    """PNG per curve and report.html in ``out``; returns the report's path."""
    figures = []
    for key, curve in results["curves"].items():
        figures.append((out / f"{key}.png", curve))
        plot_curve(curve, figures[-1][0])
    facts = {**{f"runs {k}": v for k, v in results.get("runs", {}).items()}, **results.get("timing", {})}
    title = results["suite"] if results["suite"].startswith("sweep ") else f"reverie bench {results['suite']}"
    write_html(out / "report.html", title, results["checks"], figures, facts, tables=results.get("tables", ()))
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
    figures = []
    for key, label in (("episode_returns", "return"), ("episode_lengths", "steps per episode")):
        curve = {
            "title": f"{first['algo']} on {first['env']} ({len(summaries)} seed{'s' * (len(summaries) > 1)})",
            "xlabel": "episode",
            "ylabel": label,
            "x": list(range(1, n + 1)),
            "series": {first["algo"]: mean_band(np.array([s[key][:n] for s in summaries]))},
        }
        figures.append((run_dir / f"{key}.png", curve))
        plot_curve(curve, figures[-1][0])
    facts = {
        "seeds": [s["seed"] for s in summaries],
        "env steps per seed": [s["env_steps"] for s in summaries],
        "wall seconds per seed": [s["wall_s"] for s in summaries],
        "mean return, last 10 episodes": round(
            float(np.mean([np.mean(s["episode_returns"][-10:]) for s in summaries])), 4
        ),
    }
    write_html(run_dir / "report.html", f"{first['algo']} on {first['env']}", [], figures, facts)
    return run_dir / "report.html"
