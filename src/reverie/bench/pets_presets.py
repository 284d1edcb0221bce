"""``reverie bench pets-presets``: what one planned step costs at PETS's defaults and at each preset.

Each setting plans from the continuous cart-pole's first state with the parts ``pets.train`` builds
(``pets.time_planning``: an untrained 5 x 200 x 3 ensemble, since the cost does not depend on the weights), one
warm-up step and then a few timed ones, each setting in a fresh process with one torch thread, the settings in
turn, repeated; the medians are reported. The defaults are checked against the tutorial preset, measured in
the same run: the docs promise they cost a small fraction of it.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor

from reverie.algorithms import algorithm_config, get_algorithm, presets
from reverie.bench.checks import check
from reverie.runner.progress import RunProgress

ENV = "reverie/CartPoleContinuous-v0"


def _time(setting: str | None, steps: int) -> dict:
    """One setting's planning cost, in this (fresh) process."""
    import torch

    from reverie.runner.train import make_env

    torch.set_num_threads(1)
    config = algorithm_config("pets", {}, setting)
    return get_algorithm("pets").time_planning(make_env(ENV, {}), config, steps)


def run(runs: int | None = None, quick: bool = False, show: bool = False, out=None) -> dict:
    """``runs`` rounds over the settings (default 3; 1 with ``quick``)."""
    rounds = runs if runs is not None else (1 if quick else 3)
    settings = [None, *presets("pets")]
    seconds = {name or "defaults": [] for name in settings}
    rates = {name or "defaults": [] for name in settings}
    with RunProgress("pets-presets", rounds * len(settings), "timings", enabled=show) as progress:
        for _ in range(rounds):
            for setting in settings:
                with ProcessPoolExecutor(max_workers=1) as pool:  # a fresh process: no warm caches carried over
                    cost = pool.submit(_time, setting, 2 if setting in ("mbrl-lib-tutorial", "paper") else 5).result()
                seconds[setting or "defaults"].append(cost["planner/seconds_per_step"])
                rates[setting or "defaults"].append(cost["planner/model_evals_per_s"])
                progress.advance(1)
    facts = {
        name: {"s_per_step": round(statistics.median(seconds[name]), 4),
               "model_evals_per_s": round(statistics.median(rates[name]))}
        for name in seconds
    }  # fmt: skip
    ratio = facts["defaults"]["s_per_step"] / facts["mbrl-lib-tutorial"]["s_per_step"]
    checks = [check("pets: defaults / mbrl-lib-tutorial seconds per planned step", ratio, "<= 0.25", ratio <= 0.25)]
    facts["rounds"] = rounds
    return {"suite": "pets-presets", "runs": {"rounds": rounds}, "checks": checks, "curves": {}, "timing": facts}
