"""Plumbing shared by the tabular algorithms: agent state, the real-environment loop, and a compiled
simulator of tabular mazes for benchmarks.

Each tabular algorithm supplies one numba-compiled ``step(state, transition, params)``, with
``transition = (s, a, r, s2, terminated)``, holding its pseudocode (direct update, model learning,
planning). The same step runs inside ``train_tabular`` (any Gymnasium env with Discrete spaces, one
Python iteration per real step) and inside ``_simulate.simulate`` (the whole run in machine code on a
known transition table), so benchmark figures come from exactly the code users train with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import gymnasium as gym
import numpy as np

from reverie.algorithms.base import check_range
from reverie.algorithms.episode import Episode
from reverie.errors import UserError
from reverie.learners.tabular_q import epsilon_greedy
from reverie.models.tabular import TabularModel, ensure_edge_room, make_model
from reverie.planners.priority_queue import PriorityQueue, make_queue
from reverie.rng import make_rng


class TabularState(NamedTuple):
    """Everything a tabular agent learns or carries; all arrays, so it checkpoints as arrays."""

    q: np.ndarray  # [S, A] action values
    model: TabularModel  # learned M(s, a)
    queue: PriorityQueue  # prioritized sweeping's queue over pairs sa = s * A + a
    last_tried: np.ndarray  # [S, A] int64: real step at which (s, a) was last taken (Dyna-Q+)
    clock: np.ndarray  # [1] int64: real steps seen by the agent
    updates: np.ndarray  # [1] int64: Q-value updates done, direct and planned
    rng: np.ndarray  # [1] uint64: the agent's random stream


def make_state(
    n_states: int, n_actions: int, seed: int, stochastic_model: bool = False, edge_capacity: int | None = None
) -> TabularState:
    """A fresh agent: Q = 0, an empty model (room for ``edge_capacity`` outcomes), an empty queue."""
    return TabularState(
        np.zeros((n_states, n_actions)),
        make_model(n_states, n_actions, stochastic_model, edge_capacity),
        make_queue(n_states * n_actions),
        np.zeros((n_states, n_actions), np.int64),
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        make_rng(seed),
    )


def state_to_arrays(state: TabularState) -> dict[str, np.ndarray]:
    """Flatten to ``{"q": ..., "model.known": ..., ...}`` for a checkpoint."""
    out = {}
    for name, value in state._asdict().items():
        if isinstance(value, tuple):
            out.update({f"{name}.{k}": v for k, v in value._asdict().items()})
        else:
            out[name] = value
    return out


def state_from_arrays(arrays: dict[str, np.ndarray], like: TabularState) -> TabularState:
    """Rebuild a state shaped like ``like`` from checkpoint arrays; a mismatch raises UserError."""

    def take(key, reference):
        if key not in arrays:
            raise UserError(f"checkpoint lacks '{key}': it was written by another algorithm or is corrupt")
        value = arrays[key]
        if value.dtype != reference.dtype or value.ndim != reference.ndim:
            raise UserError(f"checkpoint entry '{key}' has the wrong type or shape")
        return value.copy()

    parts = {}
    for name, value in like._asdict().items():
        if isinstance(value, tuple):
            parts[name] = type(value)(**{k: take(f"{name}.{k}", v) for k, v in value._asdict().items()})
        else:
            parts[name] = take(name, value)
    restored = TabularState(**parts)
    if restored.q.shape != like.q.shape:
        raise UserError("checkpoint's Q table does not match this environment's spaces")
    return restored


def discrete_sizes(env: gym.Env, algo: str) -> tuple[int, int]:
    """(n_states, n_actions) of an env with Discrete spaces; anything else is a UserError."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Discrete) or not isinstance(act_space, gym.spaces.Discrete):
        raise UserError(
            f"{algo} is tabular and needs Discrete observation and action spaces; "
            f"this env has {type(obs_space).__name__} observations and {type(act_space).__name__} actions"
        )
    if obs_space.start != 0 or act_space.start != 0:
        raise UserError(f"{algo} needs Discrete spaces that start at 0")
    return int(obs_space.n), int(act_space.n)


def _checked_state(obs, n_states: int) -> int:
    """The env's observation as a state index, refused unless it indexes the Q table (the compiled
    kernels do not bounds-check)."""
    s = int(obs)
    if not 0 <= s < n_states:
        raise UserError(f"the env returned state {obs}, outside its Discrete({n_states}) space")
    return s


def train_tabular(env: gym.Env, run, state: TabularState, step, params: tuple, epsilon: float) -> dict:
    """Act epsilon-greedily in ``env`` and hand every real transition to ``step`` until the budget ends.

    Checkpoints at episode boundaries; resumes from ``run.restored_arrays()`` when given.
    Returns the algorithm's extra summary fields.
    """
    restored = run.restored_arrays()
    if restored is not None:
        state = state_from_arrays(restored, state)

    def checked_state(obs, q=state.q):  # the Q table's shape never changes during a run
        return _checked_state(obs, q.shape[0])

    while not run.finished():
        episode = Episode(env, run, checked_state)
        while episode.running:
            s = episode.obs
            a = epsilon_greedy(state.q, s, epsilon, state.rng)
            s2 = episode.step(a)
            state = state._replace(model=ensure_edge_room(state.model))
            step(state, (s, a, episode.reward, s2, episode.terminated), params)
        if not episode.finish({"agent/updates": int(state.updates[0])}, lambda now=state: state_to_arrays(now)):
            break  # step budget spent mid-episode: the partial episode is not an episode
    run.save_checkpoint(state_to_arrays(state))  # the final state, so the run can be inspected or extended
    return {"updates": int(state.updates[0])}


# -- configuration and entry point shared by the tabular algorithms -------------------------------


@dataclass
class TabularConfig:
    """Settings every tabular algorithm has (defaults: Sutton & Barto 2018, Example 8.1)."""

    alpha: float = 0.1  # step size of every Q update
    gamma: float = 0.95  # discount
    epsilon: float = 0.1  # exploration rate of the epsilon-greedy behaviour policy

    def __post_init__(self):
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("epsilon", self.epsilon, 0.0, 1.0)
        if self.alpha == 0.0:
            raise ValueError("config key 'alpha' must be > 0")

    def params(self) -> tuple:
        """The four floats every compiled step reads: (alpha, gamma, planning_steps, kappa or theta)."""
        return (self.alpha, self.gamma, 0.0, 0.0)


@dataclass
class DynaConfig(TabularConfig):
    """Settings of the algorithms that learn a model and plan with it."""

    planning_steps: int = 50  # N: planning updates per real step
    model: str = field(default="deterministic", metadata={"choices": ("deterministic", "stochastic")})
    # deterministic: M(s,a) is the last outcome; stochastic: counts, sampled s', mean reward of that outcome

    MIN_PLANNING_STEPS: ClassVar[int] = 0  # 1 where planning is the only way Q learns

    def __post_init__(self):
        super().__post_init__()
        check_range("planning_steps", self.planning_steps, self.MIN_PLANNING_STEPS, 10**7)
        if self.model not in ("deterministic", "stochastic"):
            raise ValueError(f"config key 'model' must be deterministic or stochastic, got '{self.model}'")

    def params(self) -> tuple:
        return (self.alpha, self.gamma, float(self.planning_steps), 0.0)


def train_algorithm(env: gym.Env, config: TabularConfig, run, algo: str, step) -> dict:
    """The ``train`` of a tabular algorithm: size the agent from the env, then run the real loop."""
    n_states, n_actions = discrete_sizes(env, algo)
    state = make_state(n_states, n_actions, run.seed, getattr(config, "model", "") == "stochastic")
    return train_tabular(env, run, state, step, config.params(), config.epsilon)
