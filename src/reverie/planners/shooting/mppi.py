"""Model-predictive path integral control, MPPI (Williams et al. 2017, information-theoretic MPC).

Perturb a nominal sequence with Gaussian noise, score every perturbed sequence, and move the nominal to
the average of the samples weighted by exp(return / temperature): the free-energy-optimal update, which
uses every sample where CEM keeps only the elites. The temperature sets how greedy the average is
(small: close to the single best sample; large: close to the plain mean).

Choices, each documented at its field:

- returns are shifted by their maximum before the exponential (a softmax), which changes no weight but
  keeps exp from overflowing for returns of any scale; the temperature still acts on raw returns;
- the paper's control-cost term, lambda u^T Sigma^-1 eps, is left to ``evaluate`` (most learned-model
  uses, e.g. PDDM, drop it);
- perturbed sequences are clipped to the bounds and the update averages the clipped sequences, so the
  nominal stays inside the bounds;
- optional smoothing filters the noise along time, eps_t = beta n_t + (1 - beta) eps_{t-1}
  (Nagabandi et al. 2019, PDDM); beta = 1 is the paper's white noise.
- ``plan`` returns the updated nominal, which is what MPPI executes, unless ``return_mean`` is False.

Discrete actions: the nominal becomes a per-step categorical distribution; each iteration samples from it
and sets it to the exp(return / temperature)-weighted action frequencies of all samples; the returned
plan is its per-step mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
class MPPIConfig:
    """MPPI settings (Williams et al. 2017); the paper tunes horizon and population per system."""

    planning_horizon: int = 30  # steps per sequence
    population_size: int = 1000  # perturbed sequences per iteration
    num_iterations: int = 1  # updates of the nominal per plan (the paper: one per control step)
    temperature: float = 1.0  # lambda, in units of return: weights are exp((R - max R) / lambda)
    noise_sigma: float = 0.5  # noise std as a fraction of the half range (high - low) / 2 (0.5 for [-1, 1])
    smoothing_beta: float = 1.0  # noise filter eps_t = beta n_t + (1 - beta) eps_{t-1}; 1 = white noise
    return_mean: bool = True  # True: the updated nominal (MPPI's answer); False: the best sequence scored

    def __post_init__(self):
        check_common(self)
        if self.temperature <= 0:
            raise UserError(f"temperature must be positive, got {self.temperature}.")
        if self.noise_sigma <= 0:
            raise UserError(f"noise_sigma must be positive, got {self.noise_sigma}.")
        if not 0.0 < self.smoothing_beta <= 1.0:
            raise UserError(f"smoothing_beta must lie in (0, 1], got {self.smoothing_beta}.")


class MPPI(ShootingPlanner):
    """MPPI; ``mean`` is the nominal sequence (or per-step probabilities), warm-started by ``shift``."""

    @torch.no_grad()
    def plan(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        cfg = self.config
        nominal = self.warm_probs() if self.discrete else self.mean.clone()
        best, best_return = None, -math.inf
        for _ in range(cfg.num_iterations):
            if self.discrete:
                candidates = sample_categorical(nominal, cfg.population_size, generator)  # [pop, horizon]
            else:
                candidates = (nominal + self.noise(generator)).clamp(self.low, self.high)  # [pop, horizon, act_dim]
            returns = score(evaluate, candidates)
            best, best_return = keep_best(best, best_return, candidates, returns)
            # softmax subtracts the max, so exp never overflows; -inf (failed) returns become the lowest finite
            # value, so a batch where every rollout failed gets equal weights instead of NaN
            finite = returns.clamp(min=torch.finfo(returns.dtype).min)
            weights = torch.softmax(finite / cfg.temperature, dim=0)  # [pop]
            if self.discrete:
                nominal = elite_frequencies(candidates, self.n_actions, weights)
            else:
                nominal = torch.einsum("p,pha->ha", weights, candidates)
        self.mean = nominal
        if not cfg.return_mean:
            return best
        return nominal.argmax(-1) if self.discrete else nominal.clone()

    def noise(self, generator: torch.Generator) -> Tensor:
        """Perturbations ``[pop, horizon, act_dim]``, optionally low-pass filtered along time."""
        cfg = self.config
        sigma = cfg.noise_sigma * (self.high - self.low) / 2  # [act_dim]
        shape = (cfg.population_size, self.horizon, self.act_dim)
        noise = torch.randn(shape, generator=generator, device=self.device) * sigma
        if cfg.smoothing_beta < 1.0:
            # a loop over the (short) horizon, batched over the whole population
            for t in range(1, self.horizon):
                noise[:, t] = cfg.smoothing_beta * noise[:, t] + (1 - cfg.smoothing_beta) * noise[:, t - 1]
        return noise
