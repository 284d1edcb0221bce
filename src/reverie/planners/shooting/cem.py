"""The cross-entropy method with the sampling of PETS (Chua et al. 2018)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from reverie.errors import UserError
from reverie.planners.shooting.base import (
    Evaluate,
    ShootingPlanner,
    check_common,
    elite_frequencies,
    keep_best,
    sample_categorical,
    score,
)


@dataclass
class CEMConfig:
    """The cross-entropy method with the settings of PETS (Chua et al. 2018)."""

    planning_horizon: int = 30  # steps per sequence (PETS uses 25-30 depending on the task)
    population_size: int = 500  # sequences sampled per iteration
    num_iterations: int = 5  # refits of the sampling distribution per plan
    num_elites: int = 50  # best sequences the distribution is refitted to
    alpha: float = 0.1  # smoothing: new = alpha * old + (1 - alpha) * elite statistic, for mean and variance
    init_std: float = 0.25  # initial std as a fraction of (high - low): (high - low) / 4, reset every plan
    # "truncated" (PETS): normal truncated at 2 std, std shrunk so 2 std stay inside the bounds;
    # it never samples the bounds themselves, so an optimum on a bound is only approached geometrically;
    # "clip": plain normal samples clipped to the bounds (mass piles up on the bounds, which reaches them).
    sampling: str = field(default="truncated", metadata={"choices": ("truncated", "clip")})
    # False: return the best sequence ever scored (the one the model actually vouched for);
    # True: return the final mean, as PETS does (smoother, but never itself scored).
    return_mean: bool = False

    def __post_init__(self):
        check_common(self)
        if self.sampling not in ("truncated", "clip"):
            raise UserError(f"sampling must be 'truncated' or 'clip', got '{self.sampling}'.")
        if self.init_std <= 0:
            raise UserError(f"init_std must be positive, got {self.init_std}.")


# Phi(-2) and Phi(2): the standard normal CDF at the truncation points.
_PHI_LOW, _PHI_HIGH = 0.5 * math.erfc(2 / math.sqrt(2)), 0.5 * math.erfc(-2 / math.sqrt(2))


def truncated_normal(mean: Tensor, std: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` draws ``[count, *mean.shape]`` of a normal truncated to mean +- 2 std, by inverse CDF
    (exact, and one batched call where rejection sampling would loop)."""
    unit = torch.rand((count, *mean.shape), generator=generator, device=mean.device)
    z = torch.special.ndtri(_PHI_LOW + (_PHI_HIGH - _PHI_LOW) * unit)
    return mean + std * z


class CEM(ShootingPlanner):
    """Cross-entropy method: refit a diagonal Gaussian (or per-step categorical) to the elites, repeat.

    The mean is warm-started from the shifted last plan; the std restarts at ``init_std`` every plan (PETS).
    PETS's early stop once the variance falls below 1e-3 is left out, so every plan costs the same.
    """

    @torch.no_grad()
    def plan(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        cfg = self.config
        if self.discrete:
            return self._plan_discrete(evaluate, generator)
        mean = self.mean.clone()  # [horizon, act_dim]
        var = (cfg.init_std * (self.high - self.low)).square().expand_as(mean).clone()
        best, best_return = None, -math.inf
        for _ in range(cfg.num_iterations):
            candidates = self.sample(mean, var.sqrt(), cfg.population_size, generator)  # [pop, horizon, act_dim]
            returns = score(evaluate, candidates)
            best, best_return = keep_best(best, best_return, candidates, returns)
            elites = candidates[returns.topk(cfg.num_elites).indices]  # [elites, horizon, act_dim]
            mean = cfg.alpha * mean + (1 - cfg.alpha) * elites.mean(0)
            var = cfg.alpha * var + (1 - cfg.alpha) * elites.var(0, unbiased=False)
        self.mean = mean
        return mean.clone() if cfg.return_mean else best

    def sample(self, mean: Tensor, std: Tensor, count: int, generator: torch.Generator) -> Tensor:
        """``count`` sequences ``[count, horizon, act_dim]`` around ``mean``, inside the bounds."""
        if self.config.sampling == "truncated":
            # PETS: shrink the std until mean +- 2 std fits in the bounds, then truncate at 2 std
            room = torch.minimum(mean - self.low, self.high - mean).clamp(min=0)
            drawn = truncated_normal(mean, torch.minimum(std, room / 2), count, generator)
        else:
            noise = torch.randn((count, *mean.shape), generator=generator, device=mean.device)
            drawn = mean + std * noise
        return drawn.clamp(self.low, self.high)  # truncation already fits; the clamp absorbs rounding

    def _plan_discrete(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        cfg = self.config
        probs = self.warm_probs()  # [horizon, n]
        best, best_return = None, -math.inf
        for _ in range(cfg.num_iterations):
            candidates = sample_categorical(probs, cfg.population_size, generator)  # [pop, horizon]
            returns = score(evaluate, candidates)
            best, best_return = keep_best(best, best_return, candidates, returns)
            elites = candidates[returns.topk(cfg.num_elites).indices]
            probs = cfg.alpha * probs + (1 - cfg.alpha) * elite_frequencies(elites, self.n_actions)
        self.mean = probs
        return probs.argmax(-1) if cfg.return_mean else best
