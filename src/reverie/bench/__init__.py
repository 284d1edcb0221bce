"""Benchmark suites: published figures reproduced, speed and memory, with plots and an HTML report."""

from __future__ import annotations

from reverie.errors import UserError

SUITES = {
    "sutton-barto": "Sutton & Barto (2018) chapter 8: Figures 8.2, 8.4, 8.5 and Example 8.4",
    "pets": "PETS on the continuous cart-pole and Pendulum, beside mbrl-lib, SAC and the true-model planner",
    "pilco-gps": "PILCO swing-ups beside PETS and SAC, policy step beside TorchRL's PILCO; GPS on 2-link arm, Reacher",
}


def run_suite(name: str, runs: int | None, quick: bool, show: bool = False, out=None) -> dict:
    """Run suite ``name`` and return its results dict (see ``reverie.bench.report`` for the layout)."""
    if name not in SUITES:
        raise UserError(f"unknown suite '{name}'; known: {', '.join(SUITES)}")
    if name == "pets":
        from reverie.bench import pets

        return pets.run(runs=runs, quick=quick, show=show, out=out)
    if name == "pilco-gps":
        from reverie.bench import pilco_gps

        return pilco_gps.run(runs=runs, quick=quick, show=show, out=out)
    from reverie.bench import sutton_barto

    return sutton_barto.run(runs=runs, quick=quick, show=show)
