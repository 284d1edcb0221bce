"""The loop every off-policy actor-critic runs on real experience (SAC, TD3, DDPG), written once:

    fill the buffer with uniformly random actions for learning_starts steps
    for each real step:
        a ~ policy(s) (with its exploration), step the env, store (s, a, s', r, terminated, truncated)
        G gradient steps of the learner, each on a uniform batch from the buffer
        evaluate the deterministic policy when --eval-every steps have passed

A learner has ``act(obs, generator, deterministic)``, ``update(batch, generator) -> metrics``, ``state()`` and
``load(arrays)`` (``learners.sac.SAC``, ``learners.td3.TD3``). A learner that also learns from the whole buffer
(a model, as MVE's) has ``observe(buffer, generator) -> metrics``, called after every real step before the updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.data.replay import ReplayBuffer, transition_fields
from reverie.errors import UserError
from reverie.packing import pack, unpack


@dataclass
class OffPolicyConfig:
    """How real experience feeds an off-policy learner (defaults: Stable-Baselines3's)."""

    buffer_size: int = 1_000_000  # transitions kept (the oldest are dropped)
    learning_starts: int = 100  # uniformly random steps before the first gradient step
    updates_per_step: int = 1  # gradient steps per real step (G)

    def __post_init__(self):
        check_range("buffer_size", self.buffer_size, 1, 10**9)
        check_range("learning_starts", self.learning_starts, 0, 10**9)
        check_range("updates_per_step", self.updates_per_step, 1, 10**4)


def check_box_env(env: gym.Env, algo: str) -> None:
    """Actor-critic learners take 1-D Box observations and 1-D Box actions with finite bounds."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UserError(f"{algo} needs a 1-D Box observation space; this env has {obs_space}")
    if not isinstance(act_space, gym.spaces.Box) or len(act_space.shape) != 1:
        raise UserError(f"{algo} needs 1-D Box (continuous) actions; this env has {act_space}")
    if not (np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()):
        raise UserError(f"{algo} needs finite action bounds; this env has {act_space}")


def real_buffer(env: gym.Env, capacity: int | None) -> ReplayBuffer:
    """A buffer of the env's real transitions (float32 observations and Box actions)."""
    return ReplayBuffer(transition_fields(env.observation_space.shape, np.float32, env.action_space.shape,
                                          np.float32), capacity)  # fmt: skip


def uniform_actions(action_space: gym.spaces.Box, generator: torch.Generator):
    """A function drawing one action uniformly in the Box's bounds (float32 [act_dim]) from ``generator``."""
    low, high = torch.as_tensor(action_space.low), torch.as_tensor(action_space.high)
    return lambda: (low + (high - low) * torch.rand(low.shape, generator=generator)).numpy()


def train_off_policy(
    env: gym.Env, config: OffPolicyConfig, run, make_learner, prefix: str, *, batch_size: int | None = None
) -> dict:
    """Run the learner ``make_learner()`` builds on ``env`` until the budget is spent, on batches of
    ``batch_size`` (default ``config.batch_size``); returns summary fields. ``prefix`` names the learner's metrics
    (``sac`` -> ``sac/updates``)."""
    batch_size = config.batch_size if batch_size is None else batch_size
    torch.manual_seed(run.seed)  # weight initialisation
    learner = make_learner()
    generator = torch.Generator().manual_seed(run.seed)
    buffer = real_buffer(env, config.buffer_size)
    random_action = uniform_actions(env.action_space, generator)
    updates, metrics, observed = 0, {}, {}
    observe = getattr(learner, "observe", None)
    update_s, timed_updates = 0.0, 0  # this process's time in updates (a resumed run restarts the clock)
    restored = run.restored_arrays()
    if restored is not None:
        learner.load(restored)
        updates = int(unpack(restored, generator=generator, updates=None)["updates"])
        run.restored_buffer("data", buffer)

    def policy(obs):
        return learner.act(obs, None, deterministic=True)

    while not run.finished():
        if buffer.inserted < config.learning_starts:
            run.phase("random warm-up", learning=False, ends_when=f"{config.learning_starts} random steps")
        else:
            run.phase("learning", learning=True)
        episode = Episode(env, run, finite_observation)
        while episode.running:
            obs = episode.obs
            warm = buffer.inserted < config.learning_starts
            action = random_action() if warm else learner.act(obs, generator)
            episode.step(action)
            buffer.add(obs, action, episode.obs, episode.reward, episode.terminated, episode.truncated)
            if observe is not None:
                observed = observe(buffer, generator) or observed
            if buffer.inserted >= config.learning_starts:
                started = time.perf_counter()
                for _ in range(config.updates_per_step):
                    metrics = learner.update(buffer.sample(batch_size, generator), generator)
                updates += config.updates_per_step
                timed_updates += config.updates_per_step
                update_s += time.perf_counter() - started
            run.evaluate(policy)
        finished = {**observed, **metrics, f"{prefix}/updates": updates}
        if update_s > 0:
            finished["time/update_ms"] = 1e3 * update_s / timed_updates
        if not episode.finish(finished, lambda n=updates: _checkpoint(learner, generator, n, buffer)):
            break
    run.save_checkpoint(*_checkpoint(learner, generator, updates, buffer))
    return {"gradient_updates": updates}


def _checkpoint(learner, generator, updates, buffer):
    return {**learner.state(), **pack(generator=generator, updates=updates)}, {"data": buffer}
