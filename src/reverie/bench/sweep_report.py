"""A sweep's results: one row per setting (algorithm, env, grid values) over its seeds, with the interquartile mean
of the final returns and its bootstrap interval, and one learning-curve plot per env (``results.json`` in the
suites' layout plus ``"tables"``, so ``reverie report DIR`` rebuilds it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reverie.bench.aggregates import iqm_interval
from reverie.bench.stats import mean_band
from reverie.runner.files import read_json

COLUMNS = [
    "algo",
    "env",
    "setting",
    "seeds done",
    "IQM",
    "95% interval",
    "mean",
    "last-10 length",
    "env steps",
    "wall s",
]


def _setting(trial: dict, varying: list[str]) -> tuple:
    return (
        trial["algo"],
        trial["env_id"],
        *(f"{k}={trial['overrides'][k]}" for k in varying if k in trial["overrides"]),
    )


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def sweep_results(sweep_dir: Path, rows: list[dict]) -> dict:
    """The results dict of the sweep in ``sweep_dir`` from its trial ``rows`` (``runner.sweep.run_sweep``)."""
    record = read_json(Path(sweep_dir) / "sweep.json", "sweep directory (sweep.json)")
    trials = record["trials"]
    grid = dict(record["definition"].get("grid", {}))
    for own in record["definition"].get("algo", {}).values():
        grid.update(own.get("grid", {}))
    varying = list(grid)
    groups: dict[tuple, list] = {}
    for trial, row in zip(trials, rows, strict=True):
        groups.setdefault(_setting(trial, varying), []).append((trial, row))
    table_rows, curves = [], {}
    for setting, members in groups.items():
        done = [(t, r) for t, r in members if "error" not in r]
        finals = [r["final_return"] for _, r in done if r["final_return"] is not None]
        band = iqm_interval([finals]) if finals else {"point": None, "low": None, "high": None}
        table_rows.append(
            [*setting[:2], " ".join(setting[2:]) or "-", f"{len(done)}/{len(members)}", _fmt(band["point"]),
             f"[{_fmt(band['low'])}, {_fmt(band['high'])}]", _fmt(np.mean(finals)) if finals else "-",
             _fmt(np.mean([r["final_length"] for _, r in done if r["final_length"] is not None] or [np.nan])),
             _fmt(np.mean([r["env_steps"] for _, r in done])) if done else "-",
             _fmt(np.mean([r["wall_s"] for _, r in done])) if done else "-"]
        )  # fmt: skip
        _add_curve(curves, Path(sweep_dir), setting, done)
    failed = [r["name"] for r in rows if "error" in r]
    return {
        "suite": f"sweep {Path(sweep_dir).name}",
        "runs": {"trials": len(rows), "finished": len(rows) - len(failed)},
        "checks": [],
        "tables": [
            {
                "title": "final return (mean of each trial's last 10 episodes): IQM over seeds, 95% bootstrap interval",
                "columns": [
                    "algo",
                    "env",
                    "setting",
                    "seeds done",
                    "IQM",
                    "95% interval",
                    "mean",
                    "last-10 length",
                    "env steps",
                    "wall s",
                ],
                "rows": table_rows,
            }
        ],
        "curves": curves,
        "timing": {"failed trials": ", ".join(failed)} if failed else {},
    }


def _add_curve(curves: dict, sweep_dir: Path, setting: tuple, done: list) -> None:
    """Mean return per episode over the setting's finished seeds, in the plot of its env."""
    if not done:
        return
    returns = [read_json(sweep_dir / "trials" / r["name"] / "summary.json", "run summary")["episode_returns"]
               for _, r in done]  # fmt: skip
    n = min(len(r) for r in returns)
    if n == 0:
        return
    env = setting[1]
    key = "returns-" + "".join(c if c.isalnum() else "_" for c in env)
    curve = curves.setdefault(
        key, {"title": f"sweep on {env}", "xlabel": "episode", "ylabel": "return", "x": [], "series": {}}
    )
    band = mean_band(np.array([r[:n] for r in returns]))
    curve["series"][" ".join((setting[0], *setting[2:]))] = {**band, "x": list(range(1, n + 1))}
    curve["x"] = curve["x"] if len(curve["x"]) >= n else list(range(1, n + 1))
