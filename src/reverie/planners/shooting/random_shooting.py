"""Random shooting (Nagabandi et al. 2018): score uniform sequences, keep the best."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from reverie.planners.shooting.base import (
    Evaluate,
    ShootingPlanner,
    check_common,
    score,
)


@dataclass
class RandomShootingConfig:
    """Random shooting (Nagabandi et al. 2018): the best of ``population_size`` uniform sequences."""

    planning_horizon: int = 10  # H, steps per sequence (Nagabandi et al. 2018)
    population_size: int = 1000  # K, sequences scored per plan (Nagabandi et al. 2018)

    def __post_init__(self):
        check_common(self)


class RandomShooting(ShootingPlanner):
    """Uniform sequences in the bounds (or uniform action indices); returns the best. Keeps no warm start,
    so ``shift`` and ``reset`` do nothing."""

    def reset(self) -> None:
        self.mean = None

    def shift(self, steps: int = 1) -> None:
        pass

    @torch.no_grad()
    def plan(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        candidates = self.uniform(self.config.population_size, generator)  # [pop, horizon(, act_dim)]
        return candidates[score(evaluate, candidates).argmax()].clone()
