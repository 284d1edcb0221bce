"""``RunSpec``: one training run as data, shared by start, resume, seed fan-out (and the sweeps built on them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from reverie.config import config_record
from reverie.errors import UserError


@dataclass(frozen=True)
class RunSpec:
    """What to train, on what, for how long, and where.

    ``overrides`` are ``--set`` pairs (strings or values, dotted for nested configs); ``env_kwargs`` are
    ``gymnasium.make`` keywords; ``preset`` names one of the algorithm's presets. Exactly one of ``episodes``
    and ``steps`` is the budget. ``out`` is the run directory (for a fan-out, the parent of its ``seed_<n>``
    directories).
    """

    algo: str
    env_id: str
    seed: int = 0
    episodes: int | None = None
    steps: int | None = None
    overrides: dict = field(default_factory=dict)
    env_kwargs: dict = field(default_factory=dict)
    out: Path | None = None
    checkpoint_every: int = 20
    preset: str | None = None  # the algorithm's named settings, under ``overrides``
    eval_every: int | None = None  # real steps between evaluations of the learned policy (None: none)
    eval_episodes: int = 5  # episodes per evaluation

    def with_default_budget(self) -> RunSpec:
        """This spec, with the algorithm's default budget (``AlgorithmEntry.default_episodes``) when it has none."""
        from reverie.algorithms import ALGORITHMS

        entry = ALGORITHMS.get(self.algo)
        if self.episodes is None and self.steps is None and entry is not None and entry.default_episodes:
            return dataclasses.replace(self, episodes=entry.default_episodes)
        return self

    def check_budget(self) -> None:
        """Raise UserError unless exactly one budget is set and it is positive (and in episodes for the algorithms
        that take no env steps to learn)."""
        from reverie.algorithms import ALGORITHMS

        entry = ALGORITHMS.get(self.algo)
        if entry is not None and entry.default_episodes and self.steps is not None:
            raise UserError(f"{self.algo} learns from a dataset and takes no env steps: its budget is epochs, "
                            f"--episodes N (default {entry.default_episodes})")  # fmt: skip
        if (self.episodes is None) == (self.steps is None):
            raise UserError("give exactly one budget: --episodes N or --steps N (see 'reverie train --help')")
        if (self.episodes is not None and self.episodes < 1) or (self.steps is not None and self.steps < 1):
            raise UserError("the budget must be a positive number of episodes or steps")
        if (self.eval_every is not None and self.eval_every < 1) or self.eval_episodes < 1:
            raise UserError("--eval-every and --eval-episodes must be positive")

    def for_seed(self, seed: int) -> RunSpec:
        """The same run with seed ``seed`` in ``out/seed_<seed>`` (one run of a fan-out)."""
        return dataclasses.replace(self, seed=seed, out=Path(self.out) / f"seed_{seed}")

    def record(self, config) -> dict:
        """The fields of ``config.json`` that say which run this is (the resolved ``config`` included)."""
        return {
            "algo": self.algo,
            "env": self.env_id,
            "env_kwargs": self.env_kwargs,
            "seed": int(self.seed),
            "episodes": self.episodes,
            "steps": self.steps,
            "preset": self.preset,
            "config": config_record(config),
            "checkpoint_every": self.checkpoint_every,
            "eval_every": self.eval_every,
            "eval_episodes": self.eval_episodes,
        }

    @classmethod
    def from_record(cls, record: dict, out) -> RunSpec:
        """The spec of the run whose ``config.json`` is ``record`` (its resolved config as the overrides)."""
        return cls(
            algo=record["algo"],
            env_id=record["env"],
            seed=int(record["seed"]),
            episodes=record["episodes"],
            steps=record["steps"],
            overrides=record["config"],
            env_kwargs=record["env_kwargs"],
            out=Path(out),
            checkpoint_every=record.get("checkpoint_every", 20),
            preset=record.get("preset"),
            eval_every=record.get("eval_every"),
            eval_episodes=record.get("eval_episodes", 5),
        )
