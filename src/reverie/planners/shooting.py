"""Shooting planners for model-predictive control: sample whole action sequences, score them in a model, keep the best.

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

``RandomShooting`` and ``CEM`` live here, ``ICEM`` in ``icem.py``, ``MPPI`` in ``mppi.py``;
``make_planner`` builds any of them from a name and a Gymnasium action space.

Discrete actions use one categorical distribution per time step in place of a Gaussian; its kept warm
start is the ``[horizon, n_actions]`` table of probabilities.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

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


def _typed(what: str, value, kind: type):
    """``value`` as ``kind`` (int, float, bool or str); strings such as "0.2" or "true" are parsed."""
    if isinstance(value, str) and kind is not str:
        text = value.strip().lower()
        try:
            value = {"true": True, "false": False}[text] if kind is bool else kind(text)
        except (KeyError, ValueError):
            raise UserError(f"{what} expects {kind.__name__}, got '{value}'.") from None
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise UserError(f"{what} expects {kind.__name__}, got {value!r}.")
    return kind(value)


def _planner_classes():
    # imported here: icem.py and mppi.py build on this module, so a top-level import would be circular
    from reverie.planners.icem import ICEM, ICEMConfig
    from reverie.planners.mppi import MPPI, MPPIConfig

    return {
        "random": (RandomShootingConfig, RandomShooting),
        "cem": (CEMConfig, CEM),
        "icem": (ICEMConfig, ICEM),
        "mppi": (MPPIConfig, MPPI),
    }


def planner_fields(name: str) -> tuple[str, ...]:
    """The config keys of planner ``name``; an unknown name raises UserError."""
    classes = _planner_classes()
    if name not in classes:
        raise UserError(f"unknown planner '{name}'; known planners: {', '.join(classes)}.")
    return tuple(f.name for f in dataclasses.fields(classes[name][0]))


def planner_config(name: str, config_overrides: dict | None):
    """The checked config of planner ``name``: defaults replaced by ``config_overrides`` (UserError if bad)."""
    planner_fields(name)  # the name check
    config_cls = _planner_classes()[name][0]
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    values = {}
    for key, value in (config_overrides or {}).items():
        if key not in fields:
            raise UserError(f"unknown config key '{key}' for planner '{name}'; known keys: {', '.join(fields)}.")
        values[key] = _typed(f"config key '{key}' of planner '{name}'", value, type(fields[key].default))
    return config_cls(**values)


def make_planner(name: str, config_overrides: dict | None, action_space, device="cpu") -> ShootingPlanner:
    """Planner ``name`` ("random", "cem", "icem", "mppi") for a Gymnasium ``Box`` (1-D, finite bounds) or
    ``Discrete`` (starting at 0) action space, its config defaults replaced by ``config_overrides``."""
    config = planner_config(name, config_overrides)
    planner_cls = _planner_classes()[name][1]
    if hasattr(action_space, "n") and not hasattr(action_space, "low"):  # gymnasium.spaces.Discrete
        if int(getattr(action_space, "start", 0)) != 0:
            raise UserError("Planners need a Discrete action space that starts at 0.")
        return planner_cls(config, n_actions=int(action_space.n), device=device)
    if not hasattr(action_space, "low") or len(action_space.shape) != 1:
        raise UserError(f"Planners need a 1-D Box or a Discrete action space, got {action_space}.")
    return planner_cls(config, low=action_space.low, high=action_space.high, device=device)
