"""TRPO (Schulman et al. 2015), model-free and on-policy: the learner of ``learners/trpo.py`` on one real env.

The paper's practical algorithm (single path), section 6:

    for i = 0, 1, 2, ... until the budget is spent:
        run pi_theta_i for n_steps real steps (episodes continue across batches), keeping (s, a, r, s', ends)
        estimate the advantages A_t (here GAE(lambda) with a learned V)
        solve max L(theta) s.t. mean KL(pi_theta || pi_theta_i) <= delta by conjugate gradient + line search
        fit V to the batch's returns

Checkpoints are written at episode ends (the runner's rule) and carry the batch collected so far: a resumed run
goes on filling the same batch from the next episode, so a run killed and resumed follows the same curve as a
straight one. When the budget stops an episode midway, its last stored row is marked truncated (it bootstraps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms._off_policy import check_box_env
from reverie.algorithms.base import TinyRun, check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.learners.trpo import TRPO, TRPOConfig
from reverie.packing import pack, unpack

NAME = "trpo"
EVALUATES_POLICY = True  # --eval-every evaluates the deterministic policy (the Gaussian's mean, clipped)
TINY = TinyRun("Pendulum-v1", {"n_steps": "64", "batch_size": "32", "hidden_size": "16", "n_critic_updates": "2"},
               episodes=2, split_at=1)  # fmt: skip


@dataclass
class Config(TRPOConfig):
    """TRPO on real data; every default is sb3-contrib 2.9.2's TRPO with its MlpPolicy, so the two compare as
    they ship."""

    n_steps: int = 2048  # real steps per batch (per policy update)

    def __post_init__(self):
        TRPOConfig.__post_init__(self)
        check_range("n_steps", self.n_steps, 2, 10**8)


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


class Batch:
    """The on-policy batch being filled: ``rows`` [n_steps, 1 env, ...] arrays and how many are filled."""

    FIELDS = ("obs", "act", "reward", "terminated", "done", "next_obs")

    def __init__(self, n_steps: int, obs_dim: int, act_dim: int):
        widths = {"obs": obs_dim, "act": act_dim, "next_obs": obs_dim}
        self.rows = {name: np.zeros((n_steps, 1, widths[name]) if name in widths else (n_steps, 1), np.float32)
                     for name in self.FIELDS}  # fmt: skip
        self.filled = 0

    @property
    def full(self) -> bool:
        return self.filled == len(self.rows["obs"])

    def add(self, **values) -> None:
        for name in self.FIELDS:
            self.rows[name][self.filled, 0] = values[name]
        self.filled += 1

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {name: torch.as_tensor(self.rows[name][: self.filled]) for name in self.FIELDS}
        out["terminated"], out["done"] = out["terminated"].bool(), out["done"].bool()
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        return pack(**{f"batch_{name}": self.rows[name][: self.filled] for name in self.FIELDS})

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        loaded = unpack(arrays, **{f"batch_{name}": None for name in self.FIELDS})
        self.filled = len(loaded["batch_obs"])
        for name in self.FIELDS:
            self.rows[name][: self.filled] = loaded[f"batch_{name}"]


def train(env: gym.Env, config: Config, run) -> dict:
    """Run TRPO on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    torch.manual_seed(run.seed)  # weight initialisation
    obs_dim, space = env.observation_space.shape[0], env.action_space
    learner = TRPO(obs_dim, space.low, space.high, config)
    generator = torch.Generator().manual_seed(run.seed)
    batch = Batch(config.n_steps, obs_dim, space.shape[0])
    updates, metrics = 0, {}
    update_s, timed_updates = 0.0, 0  # this process's time in updates (a resumed run restarts the clock)
    restored = run.restored_arrays()
    if restored is not None:
        learner.load(restored)
        updates = int(unpack(restored, generator=generator, updates=None)["updates"])
        batch.load(restored)

    def checkpoint():
        return {**learner.state(), **batch.arrays(), **pack(generator=generator, updates=updates)}

    while not run.finished():
        if updates == 0:
            run.phase("first batch", learning=False, ends_when=f"{config.n_steps} steps")
        else:
            run.phase("learning", learning=True)
        episode = Episode(env, run, finite_observation)
        while episode.running:
            # run pi_theta_i: a Gaussian sample, clipped for the env; the batch keeps the unclipped one
            obs = episode.obs
            action = learner.sample(torch.as_tensor(obs)[None], generator)[0]
            episode.step(learner.clip(action).numpy())
            batch.add(obs=obs, act=action.numpy(), reward=episode.reward, terminated=episode.terminated,
                      done=episode.ended, next_obs=episode.obs)  # fmt: skip
            if batch.full:  # advantages, the trust-region step and the value fit (learners/trpo.py)
                started = time.perf_counter()
                metrics = learner.update(batch.tensors(), generator)
                update_s += time.perf_counter() - started
                updates, timed_updates, batch.filled = updates + 1, timed_updates + 1, 0
            run.evaluate(lambda o: learner.act(o, None, deterministic=True))
        finished = {**metrics, "trpo/updates": updates}
        if timed_updates:
            finished["time/update_s"] = update_s / timed_updates
        if not episode.finish(finished, checkpoint):
            if batch.filled:  # the budget cut the episode: its last row is a truncation, not a continuation
                batch.rows["done"][batch.filled - 1] = 1.0
            break
    run.save_checkpoint(checkpoint())
    return {"policy_updates": updates}
