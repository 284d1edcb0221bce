"""The algorithm registry: the one door through which the runner and benchmarks reach algorithms.

The registry names each algorithm's module instead of importing it, so ``reverie list``, ``--help`` and a
tabular run never pay for torch: a module is imported the first time its algorithm is asked for.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NamedTuple

from reverie.errors import UserError


class AlgorithmEntry(NamedTuple):
    module: str  # under reverie.algorithms
    summary: str  # one line for `reverie list`
    preset: str | None = None  # an algorithm that is another's preset (mpc is PETS's): the module's PRESETS key
    default_episodes: int | None = None  # the budget when the command gives none (the imitation learners' epochs)


# Adding an algorithm: its own file under algorithms/, its docs page, and one line here.
ALGORITHMS: dict[str, AlgorithmEntry] = {
    "q-learning": AlgorithmEntry("q_learning", "tabular Q-learning, the model-free baseline (no model, no planning)"),
    "dyna-q": AlgorithmEntry(
        "dyna_q", "Dyna-Q, hybrid: direct Q update + model learning + N planning updates per real step"
    ),
    "dyna-q-strict": AlgorithmEntry(
        "dyna_q_strict", "strict model-only loop: real samples update the model only; Q learns from N planning updates"
    ),
    "dyna-q-plus": AlgorithmEntry(
        "dyna_q_plus", "Dyna-Q+: Dyna-Q with a kappa*sqrt(tau) bonus on long-untried pairs in planning"
    ),
    "prioritized-sweeping": AlgorithmEntry(
        "prioritized_sweeping", "prioritized sweeping: planning updates ordered by priority, spread to predecessors"
    ),
    "pets": AlgorithmEntry(
        "pets", "PETS: probabilistic ensemble + trajectory sampling + iCEM/CEM model-predictive control"
    ),
    "mpc": AlgorithmEntry(
        "pets", "MPC with one deterministic network and random shooting (Nagabandi et al. 2018)", preset="mpc"
    ),
    "pilco": AlgorithmEntry(
        "pilco", "PILCO: GP dynamics + analytic moment-matching rollouts + policy gradients (L-BFGS)"
    ),
    "gps": AlgorithmEntry(
        "gps", "Guided Policy Search (mirror descent): KL-bounded LQG on local linear fits, imitated by a network"
    ),
    "sac": AlgorithmEntry("sac", "SAC: soft actor-critic, model-free (twin critics, learned temperature)"),
    "td3": AlgorithmEntry("td3", "TD3: twin delayed DDPG, model-free (clipped double Q, target smoothing)"),
    "ddpg": AlgorithmEntry(
        "td3", "DDPG: deterministic policy gradient with one critic (TD3's preset ddpg)", preset="ddpg"
    ),
    "mve": AlgorithmEntry("mve", "MVE: TD3 whose critic targets expand H steps through a learned model (TD-k trick)"),
    "mbpo": AlgorithmEntry("mbpo", "MBPO: SAC on short branched rollouts of a probabilistic ensemble (Janner et al.)"),
    "naf": AlgorithmEntry("naf", "NAF: Q-learning with a quadratic advantage, so max_a Q is closed-form (Gu et al.)"),
    "naf-imagination": AlgorithmEntry(
        "naf_imagination", "NAF plus imagination rollouts through time-varying linear models fitted per episode"
    ),
    "ma-bddpg": AlgorithmEntry(
        "ma_bddpg", "MA-BDDPG: bootstrapped-critic DDPG, imagined updates when the heads disagree (Kalweit et al.)"
    ),
    "trpo": AlgorithmEntry("trpo", "TRPO: trust-region natural policy gradient, model-free and on-policy (GAE, CG)"),
    "me-trpo": AlgorithmEntry(
        "me_trpo", "ME-TRPO: TRPO on imagined rollouts of a model ensemble, stopped by per-member validation"
    ),
    "vin": AlgorithmEntry(
        "vin",
        "Value Iteration Network: value iteration as convolution, trained by imitation on grid worlds",
        default_episodes=40,
    ),
    "vpn": AlgorithmEntry(
        "vpn", "Value Prediction Network: plans by b-best tree search in a learned value model (Collect); dqn, opn"
    ),
}


def get_algorithm(name: str) -> ModuleType:
    """The module of algorithm ``name`` (with ``NAME``, ``Config`` and ``train``), imported on first use; unknown
    names raise UserError."""
    if name not in ALGORITHMS:
        raise UserError(f"unknown algorithm '{name}'; known: {', '.join(ALGORITHMS)}")
    return importlib.import_module(f"reverie.algorithms.{ALGORITHMS[name].module}")


def presets(name: str) -> dict:
    """Algorithm ``name``'s presets (name -> ``base.Preset``); a preset registered as an algorithm has none."""
    return {} if ALGORITHMS[name].preset else dict(getattr(get_algorithm(name), "PRESETS", {}))


def algorithm_config(name: str, overrides: dict, preset: str | None = None):
    """The checked ``Config`` of algorithm ``name``: its defaults, then the registry entry's preset, then
    ``preset``, then ``overrides`` (each layer's keys win; choosing a group's variant, e.g. ``planner=mppi``, drops
    the lower layers' keys of that group). Errors are one-line UserErrors."""
    from reverie.config import build_config

    module, entry = get_algorithm(name), ALGORITHMS.get(name)
    known = dict(getattr(module, "PRESETS", {}))
    merged: dict = {}
    for layer in (entry.preset, preset):
        if layer is None:
            continue
        if layer not in known or (entry.preset and layer != entry.preset):
            listed = ", ".join(presets(name)) or "none"
            raise UserError(f"unknown preset '{layer}' for {name}; its presets: {listed} (see 'reverie list {name}')")
        merged = _overlay(merged, known[layer].overrides)
    return build_config(module.Config, _overlay(merged, overrides), name)


def _overlay(base: dict, top: dict) -> dict:
    """``base`` with ``top``'s keys replacing it; a whole key of ``top`` drops ``base``'s dotted keys under it."""
    wholes = {key for key in top if "." not in key}
    kept = {k: v for k, v in base.items() if "." not in k or k.partition(".")[0] not in wholes}
    return {**kept, **top}


def tiny_run(name: str):
    """The contract test's run of algorithm ``name`` (``base.TinyRun``): its preset's, else its module's ``TINY``."""
    module, entry = get_algorithm(name), ALGORITHMS[name]
    if entry.preset:
        return module.PRESETS[entry.preset].tiny
    return getattr(module, "TINY", None)


def check_env_fits(name: str, env, config=None) -> None:
    """Raise UserError when algorithm ``name`` cannot run on ``env`` (checked before a run starts); with ``config``,
    also when that config asks for more than the env offers (the module's optional ``check_config(env, config)``)."""
    module = get_algorithm(name)
    if hasattr(module, "check_env"):
        module.check_env(env, name) if ALGORITHMS[name].preset else module.check_env(env)
    else:  # the tabular family
        from reverie.algorithms._tabular import discrete_sizes

        discrete_sizes(env, name)
    if config is not None and hasattr(module, "check_config"):
        module.check_config(env, config)


def simulate_tabular(*args, **kwargs):
    """The compiled whole-run simulator of tabular algorithms on known mazes, for benchmarks: see
    ``reverie.algorithms._simulate.simulate_runs`` for the arguments and the returned arrays."""
    from reverie.algorithms._simulate import simulate_runs

    return simulate_runs(*args, **kwargs)


__all__ = [
    "ALGORITHMS",
    "AlgorithmEntry",
    "algorithm_config",
    "check_env_fits",
    "get_algorithm",
    "presets",
    "simulate_tabular",
    "tiny_run",
]
