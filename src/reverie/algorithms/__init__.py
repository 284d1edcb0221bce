"""The algorithm registry: the one door through which the runner and benchmarks reach algorithms."""

from __future__ import annotations

from types import ModuleType

from reverie.algorithms import (
    dyna_q,
    dyna_q_plus,
    dyna_q_strict,
    gps,
    mpc,
    pets,
    pilco,
    prioritized_sweeping,
    q_learning,
)
from reverie.algorithms._tabular import discrete_sizes
from reverie.errors import UserError

ALGORITHMS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (q_learning, dyna_q, dyna_q_strict, dyna_q_plus, prioritized_sweeping, pets, mpc, pilco, gps)
}


def check_env_fits(name: str, env, config=None) -> None:
    """Raise UserError when algorithm ``name`` cannot run on ``env`` (checked before a run starts); with ``config``,
    also when that config asks for more than the env offers (the module's optional ``check_config(env, config)``)."""
    module = get_algorithm(name)
    if hasattr(module, "check_env"):
        module.check_env(env)
    else:  # the tabular family
        discrete_sizes(env, name)
    if config is not None and hasattr(module, "check_config"):
        module.check_config(env, config)


def get_algorithm(name: str) -> ModuleType:
    """The module of algorithm ``name`` (with ``Config`` and ``train``); unknown names raise UserError."""
    if name not in ALGORITHMS:
        raise UserError(f"unknown algorithm '{name}'; known: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


# The compiled whole-run simulator of tabular algorithms on known mazes, for benchmarks.
from reverie.algorithms._simulate import simulate_runs as simulate_tabular  # noqa: E402

__all__ = ["ALGORITHMS", "check_env_fits", "get_algorithm", "simulate_tabular"]
