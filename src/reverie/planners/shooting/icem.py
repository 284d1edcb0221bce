"""The improved cross-entropy method, iCEM (Pinneri et al. 2020): CEM made sample-efficient enough for real time.

Its additions to CEM, each cheap:

- colored noise: sequences are the mean plus std times noise whose power falls as 1/f^beta along time,
  so actions are correlated in time like the smooth controls that work, instead of white jitter;
- memory: a fraction of the elites is kept into the next iteration, and shifted one step (with a fresh
  last action) into the next time step's plan, so good solutions are not forgotten;
- a population that shrinks by ``population_decay`` each iteration (down to 2 * elites), since later
  iterations search a narrower distribution;
- the mean itself is scored in the last iteration, and the best sequence ever scored is returned.

Discrete actions have no notion of temporally correlated noise: they use CEM's per-step categorical
update, with iCEM's kept and shifted elites, shrinking population and scored mode (per-step argmax).
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
class ICEMConfig:
    """iCEM settings; defaults from Pinneri et al. 2020 (their beta is tuned per task, 2.0 is a common one)."""

    planning_horizon: int = 30  # steps per sequence
    population_size: int = 300  # sequences in the first iteration; later ones shrink by population_decay
    num_iterations: int = 3  # refits of the sampling distribution per plan
    num_elites: int = 10  # best sequences the distribution is refitted to
    alpha: float = 0.1  # momentum: new = alpha * old + (1 - alpha) * elite statistic, for mean and std
    init_std: float = 0.25  # initial std as a fraction of (high - low), reset every plan (0.5 for [-1, 1])
    # colored-noise exponent: power ~ 1/f^beta (0 white, 2 Brownian-like); high beta explores the fast
    # components of a sequence little, so lower it when good action sequences are jittery
    noise_beta: float = 2.0
    keep_elites_fraction: float = 0.3  # fraction of the elites carried into the next iteration and time step
    population_decay: float = 1.25  # gamma: iteration i samples max(population / gamma^i, 2 * elites)
    return_mean: bool = False  # False: the best sequence ever scored, as the paper executes; True: the mean

    def __post_init__(self):
        check_common(self)
        if self.init_std <= 0:
            raise UserError(f"init_std must be positive, got {self.init_std}.")
        if not 0.0 <= self.keep_elites_fraction <= 1.0:
            raise UserError(f"keep_elites_fraction must lie in [0, 1], got {self.keep_elites_fraction}.")
        if self.population_decay < 1.0:
            raise UserError(f"population_decay must be at least 1, got {self.population_decay}.")


def colored_noise(
    beta: float, count: int, horizon: int, act_dim: int, generator: torch.Generator, device="cpu"
) -> Tensor:
    """Gaussian noise ``[count, horizon, act_dim]`` of unit variance whose power spectrum along the time
    axis falls as 1/f^beta, independently per action dimension.

    Built in the frequency domain: random complex amplitudes scaled by f^(-beta/2), turned into a real
    signal by the inverse real FFT, then divided by the std that this scaling implies (so the variance is
    one in expectation, not forced per sequence). beta = 0 gives exactly white noise.
    """
    freqs = torch.fft.rfftfreq(horizon, device=device)  # [bins] cycles per step, bins = horizon // 2 + 1
    freqs[0] = 1.0 / horizon  # the lowest resolvable frequency stands in for 0, where f^-beta is infinite
    amplitude = freqs ** (-beta / 2)  # [bins]
    bins = freqs.shape[0]
    real = torch.randn(count, act_dim, bins, generator=generator, device=device) * amplitude
    imag = torch.randn(count, act_dim, bins, generator=generator, device=device) * amplitude
    # the constant bin (and the Nyquist bin of an even horizon) must be real; scaling it by sqrt(2) gives it
    # the variance it has in the spectrum of white noise, so that beta = 0 is white
    edges = [0, bins - 1] if horizon % 2 == 0 and bins > 1 else [0]
    imag[..., edges] = 0.0
    real[..., edges] *= math.sqrt(2)
    signal = torch.fft.irfft(torch.complex(real, imag), n=horizon)  # [count, act_dim, horizon]
    # Var y_t = (2 |a_edge|^2 + 4 sum |a_middle|^2) / horizon^2, the same for every t
    weight = torch.full_like(amplitude, 4.0)
    weight[edges] = 2.0
    std = (weight * amplitude.square()).sum().sqrt() / horizon
    return (signal / std).transpose(1, 2)


class ICEM(ShootingPlanner):
    """iCEM; besides the shifted mean it keeps ``keep_elites_fraction`` of the last plan's elites, which
    ``shift`` moves forward in time too (their new last steps are drawn fresh in the next plan)."""

    def reset(self) -> None:
        super().reset()
        self.kept_elites = None  # [kept, horizon(, act_dim)] from the last plan
        self._fresh_tail = 0  # trailing steps of kept_elites that shift emptied

    def shift(self, steps: int = 1) -> None:
        super().shift(steps)
        if self.kept_elites is not None:
            if steps >= self.horizon:
                self.kept_elites = None
                return
            self.kept_elites = torch.cat([self.kept_elites[:, steps:], self.kept_elites[:, -steps:]], dim=1)
            self._fresh_tail = min(self.horizon, self._fresh_tail + steps)

    def _population(self, iteration: int) -> int:
        cfg = self.config
        floor = min(2 * cfg.num_elites, cfg.population_size)
        return max(int(cfg.population_size / cfg.population_decay**iteration), floor)

    @torch.no_grad()
    def plan(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        cfg = self.config
        n_keep = int(cfg.keep_elites_fraction * cfg.num_elites)
        if self.discrete:
            mean = self.warm_probs()  # [horizon, n]; a categorical has no std
        else:
            mean = self.mean.clone()  # [horizon, act_dim]
            std = (cfg.init_std * (self.high - self.low)).expand_as(mean).clone()
        kept = self.kept_elites if n_keep > 0 else None
        best, best_return = None, -math.inf
        for i in range(cfg.num_iterations):
            count = self._population(i)
            if self.discrete:
                fresh = sample_categorical(mean, count, generator)  # [count, horizon]
            else:
                noise = colored_noise(cfg.noise_beta, count, self.horizon, self.act_dim, generator, self.device)
                fresh = (mean + std * noise).clamp(self.low, self.high)  # [count, horizon, act_dim]
            parts = [fresh]
            if kept is not None:
                if i == 0 and self._fresh_tail > 0:
                    # shifted elites from the last time step get fresh last actions, taken from new samples
                    kept = kept.clone()
                    tail = slice(self.horizon - self._fresh_tail, self.horizon)
                    kept[:, tail] = fresh[torch.arange(kept.shape[0], device=self.device) % count][:, tail]
                parts.append(kept)
            if i == cfg.num_iterations - 1:
                parts.append((mean.argmax(-1) if self.discrete else mean)[None])  # score the mean itself
            candidates = torch.cat(parts)
            returns = score(evaluate, candidates)
            best, best_return = keep_best(best, best_return, candidates, returns)
            elites = candidates[returns.topk(min(cfg.num_elites, candidates.shape[0])).indices]
            if self.discrete:
                mean = cfg.alpha * mean + (1 - cfg.alpha) * elite_frequencies(elites, self.n_actions)
            else:
                mean = cfg.alpha * mean + (1 - cfg.alpha) * elites.mean(0)
                std = cfg.alpha * std + (1 - cfg.alpha) * elites.std(0, unbiased=False)
            kept = elites[:n_keep] if n_keep > 0 else None
        self.mean = mean
        self.kept_elites, self._fresh_tail = kept, 0
        if cfg.return_mean:
            return mean.argmax(-1) if self.discrete else mean.clone()
        return best
