"""Benchmark suites: published figures reproduced, speed and memory, with plots and an HTML report.

Suites are registered like algorithms: a name, the module under ``reverie.bench`` that holds its
``run(runs, quick, show, out) -> results dict``, and a line for ``reverie list``; a module is imported only
when its suite runs.
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from reverie.errors import UserError


class SuiteEntry(NamedTuple):
    module: str  # under reverie.bench
    summary: str


SUITES: dict[str, SuiteEntry] = {
    "sutton-barto": SuiteEntry(
        "sutton_barto", "Sutton & Barto (2018) chapter 8: Figures 8.2, 8.4, 8.5 and Example 8.4"
    ),
    "pets": SuiteEntry(
        "pets", "PETS on the continuous cart-pole and Pendulum, beside mbrl-lib, SAC and the true-model planner"
    ),
    "pets-learned-reward": SuiteEntry(
        "pets_learned_reward", "the pets suite's known vs learned reward and termination section alone"
    ),
    "pets-presets": SuiteEntry(
        "pets_presets", "seconds per planned PETS step at the defaults and at each preset (continuous cart-pole)"
    ),
    "pilco-gps": SuiteEntry(
        "pilco_gps",
        "PILCO swing-ups beside PETS and SAC, policy step beside TorchRL's PILCO; GPS on 2-link arm, Reacher",
    ),
    "buffer": SuiteEntry(
        "buffer", "checkpoints of a 100,000-frame 3x64x64 uint8 replay buffer: bytes and time, chunks vs a full rewrite"
    ),
    "model-free": SuiteEntry(
        "model_free", "SAC, TD3, DDPG, TRPO beside Stable-Baselines3 / sb3-contrib 2.9: final eval, seconds per update"
    ),
    "imagination": SuiteEntry(
        "imagination", "MBPO, MVE, MA-BDDPG, NAF-imagination, ME-TRPO beside SAC, TD3, DDPG, NAF, TRPO: steps to -200"
    ),
    "planning-networks": SuiteEntry(
        "planning_networks", "Value Iteration Networks on 8x8, 16x16, 28x28 grid worlds beside CNN and FCN (Table 1)"
    ),
    "sweep": SuiteEntry(
        "sweeps", "40 short trials in one process, on the local pool (1, 2 workers) and on Ray: overhead per trial"
    ),
    "lecture": SuiteEntry(
        "lecture", "the lecture's claims on Dyna measured: planning ratio N, a biased model, strict vs hybrid"
    ),
    "cli": SuiteEntry(
        "startup", "the command line's first seconds: --help, list, a one-episode run, seed fan-out vs the companion"
    ),
}


def run_suite(name: str, runs: int | None, quick: bool, show: bool = False, out=None, only=None) -> dict:
    """Run suite ``name`` and return its results dict (see ``reverie.bench.report`` for the layout).

    ``only`` names some of the suite's parts (a suite with parts lists them in ``PARTS``), so a long suite can run
    in pieces that each fit a session; its runs are reused when the whole suite runs afterwards."""
    if name not in SUITES:
        raise UserError(f"unknown suite '{name}'; known: {', '.join(SUITES)}")
    module = importlib.import_module(f"reverie.bench.{SUITES[name].module}")
    if only is None:
        return module.run(runs=runs, quick=quick, show=show, out=out)
    parts = getattr(module, "PARTS", ())
    if not parts:
        raise UserError(f"suite '{name}' has no parts; --only is for: {', '.join(_with_parts())}")
    unknown = [part for part in only if part not in parts]
    if unknown:
        raise UserError(f"suite '{name}' has no part '{unknown[0]}'; its parts: {', '.join(parts)}")
    return module.run(runs=runs, quick=quick, show=show, out=out, only=only)


def _with_parts() -> list[str]:
    return [n for n, e in SUITES.items() if getattr(importlib.import_module(f"reverie.bench.{e.module}"), "PARTS", ())]
