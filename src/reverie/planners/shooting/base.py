"""The interface every shooting planner shares, and the small pieces they build on.

A shooting planner never differentiates the model: it only calls ``evaluate(actions) -> returns`` on a batch
of candidate sequences, so any learned model (an ensemble with trajectory sampling, a latent model, the
true simulator) plugs in unchanged, and every candidate of one iteration is scored in one batched call.

One interface for all planners:

- ``plan(evaluate, generator)`` returns the best sequence found, ``[horizon, act_dim]`` float32 in the
  bounds, or ``[horizon]`` int64 in ``0..n_actions-1``. All randomness comes from ``generator``, so the
  same generator seed gives the same plan.
- ``shift(steps=1)`` is called by the agent *after* it executes the first ``steps`` actions. It moves the
  kept warm start forward and appends the initial value at the end (Chua et al. 2018). ``plan`` never
  shifts by itself, so an agent that replans every k steps calls ``shift(k)``.
- ``reset()`` forgets the warm start; call it at the start of every episode.

Discrete actions use one categorical distribution per time step in place of a Gaussian; its kept warm
start is the ``[horizon, n_actions]`` table of probabilities.

This module imports nothing from its siblings; each planner module imports it (see ``__init__.py``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from reverie.errors import UserError

Evaluate = Callable[[Tensor], Tensor]

# At the start of each plan a discrete warm start is mixed half and half with the uniform distribution: the
# categorical analogue of CEM resetting its std every step, so an action that an earlier plan ruled out
# (probability 0) can still be sampled when the situation changes.
_DISCRETE_WARM_WEIGHT = 0.5


def check_common(config) -> None:
    """Raise UserError, one sentence, for the mistakes every planner config can make."""
    if config.planning_horizon < 1:
        raise UserError(f"planning_horizon must be at least 1, got {config.planning_horizon}.")
    if config.population_size < 1:
        raise UserError(f"population_size must be at least 1, got {config.population_size}.")
    if getattr(config, "num_iterations", 1) < 1:
        raise UserError(f"num_iterations must be at least 1, got {config.num_iterations}.")
    elites = getattr(config, "num_elites", None)
    if elites is not None and not 1 <= elites <= config.population_size:
        raise UserError(f"num_elites must lie in [1, population_size={config.population_size}], got {elites}.")
    alpha = getattr(config, "alpha", 0.0)
    if not 0.0 <= alpha < 1.0:
        raise UserError(f"alpha (the weight kept from the old distribution) must lie in [0, 1), got {alpha}.")


def score(evaluate: Evaluate, actions: Tensor) -> Tensor:
    """evaluate(actions) as float32 ``[pop]``; NaN returns count as -inf so a diverging rollout never wins."""
    returns = evaluate(actions)
    if returns.shape != actions.shape[:1]:
        want, got = tuple(actions.shape[:1]), tuple(returns.shape)
        raise ValueError(f"evaluate must return one value per sequence, shape {want}, got {got}")
    return torch.nan_to_num(returns.float(), nan=-math.inf)


def keep_best(best: Tensor | None, best_return: float, candidates: Tensor, returns: Tensor):
    """(best sequence, its return) over the old best and ``candidates`` ``[pop, horizon, ...]``."""
    top = int(returns.argmax())
    if best is None or float(returns[top]) > best_return:
        return candidates[top].clone(), float(returns[top])
    return best, best_return


def sample_categorical(probs: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` sequences ``[count, horizon]`` int64, step t drawn from ``probs[t]`` ``[horizon, n]``."""
    return torch.multinomial(probs, count, replacement=True, generator=generator).T


def elite_frequencies(elites: Tensor, n_actions: int, weights: Tensor | None = None) -> Tensor:
    """How often each action appears at each step among ``elites`` ``[k, horizon]``: ``[horizon, n]``.

    With ``weights`` ``[k]`` (summing to 1) the frequencies are weighted, as MPPI's discrete update needs.
    """
    one_hot = torch.nn.functional.one_hot(elites, n_actions).float()  # [k, horizon, n]
    if weights is None:
        return one_hot.mean(0)
    return torch.einsum("k,khn->hn", weights, one_hot)


class ShootingPlanner(ABC):
    """Bounds (``low``/``high`` ``[act_dim]``) or ``n_actions``, and the kept warm start ``mean``.

    ``mean`` is ``[horizon, act_dim]`` for continuous actions (initially the middle of the bounds) and
    ``[horizon, n_actions]`` probabilities for discrete ones (initially uniform).
    """

    def __init__(self, config, low=None, high=None, n_actions: int | None = None, device="cpu"):
        check_common(config)
        self.config = config
        self.horizon = config.planning_horizon
        self.device = torch.device(device)
        if (n_actions is None) == (low is None or high is None):
            raise UserError("A planner needs either action bounds low and high or a number of discrete actions.")
        self.discrete = n_actions is not None
        if self.discrete:
            if n_actions < 1:
                raise UserError(f"n_actions must be at least 1, got {n_actions}.")
            self.n_actions = int(n_actions)
            self.initial = torch.full((self.n_actions,), 1.0 / self.n_actions, device=self.device)  # [n]
        else:
            self.low = torch.as_tensor(low, dtype=torch.float32, device=self.device).reshape(-1)  # [act_dim]
            self.high = torch.as_tensor(high, dtype=torch.float32, device=self.device).reshape(-1)
            if self.low.shape != self.high.shape or not (self.low.isfinite().all() and self.high.isfinite().all()):
                raise UserError("Action bounds low and high must be finite and of the same size.")
            if (self.low > self.high).any():
                raise UserError("Action bound low must not exceed high in any dimension.")
            self.act_dim = self.low.shape[0]
            self.initial = (self.low + self.high) / 2  # [act_dim]
        self.reset()

    def reset(self) -> None:
        """Forget the warm start (call at the start of an episode)."""
        self.mean = self.initial.expand(self.horizon, -1).clone()

    def shift(self, steps: int = 1) -> None:
        """After ``steps`` actions were executed: drop them from the warm start, append the initial value."""
        steps = min(steps, self.horizon)
        self.mean = torch.cat([self.mean[steps:], self.initial.expand(steps, -1)])

    def warm_probs(self) -> Tensor:
        """Discrete warm start for a new plan, mixed with uniform: ``[horizon, n_actions]``."""
        return _DISCRETE_WARM_WEIGHT * self.mean + (1 - _DISCRETE_WARM_WEIGHT) * self.initial

    def uniform(self, count: int, generator: torch.Generator) -> Tensor:
        """``count`` sequences drawn uniformly: ``[count, horizon, act_dim]`` or ``[count, horizon]``."""
        if self.discrete:
            return torch.randint(self.n_actions, (count, self.horizon), generator=generator, device=self.device)
        unit = torch.rand(count, self.horizon, self.act_dim, generator=generator, device=self.device)
        return self.low + (self.high - self.low) * unit

    @abstractmethod
    def plan(self, evaluate: Evaluate, generator: torch.Generator) -> Tensor:
        """The best sequence found, ``[horizon, act_dim]`` float32 or ``[horizon]`` int64.

        ``evaluate`` maps candidates ``[pop, horizon, act_dim]`` (or ``[pop, horizon]``) to returns ``[pop]``,
        higher is better; ``generator`` must live on the planner's device.
        """
