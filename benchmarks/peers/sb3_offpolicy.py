"""Peer: Stable-Baselines3 SAC / TD3 / DDPG / DQN (and sb3_contrib TRPO) on a Gymnasium env, for the benchmark.

Runs only inside the SB3 peer venv (see README.md beside this file); it does not import reverie. It trains ALGO on
ENV_ID for STEPS env steps with seed SEED and prints JSON lines (flushed):

- every ``--eval-every`` training env steps: ``{"peer": "sb3", "algo", "env", "seed", "env_steps", "eval_return",
  "eval_returns"}``: the mean (and list) of ``--eval-episodes`` deterministic episodes on a separate eval env, episode
  k reset with seed ``(1_000_000_007 + 1000*SEED + k) mod (2**31 - 1)``, as reverie's ``--eval-every`` does;
- at the end: the same keys less the eval ones, plus ``"final": true``, ``"gradient_updates"`` (gradient steps
  taken; for TRPO the number of ``train()`` calls), ``"update_wall_s"`` (wall seconds inside the algorithm's
  ``train()``), ``"wall_s"`` (total wall seconds, evaluation included) and ``"per_update_s"``.

Usage:
    python sb3_offpolicy.py ALGO ENV_ID STEPS SEED [--eval-every N] [--eval-episodes K] [--learning-starts L]
                            [--action-noise SIGMA] [--set key=value ...]

ALGO is sac, td3, ddpg, dqn (Discrete actions) or trpo. ``--set`` passes constructor kwargs (values parsed with
``ast.literal_eval``, else kept as strings), e.g. ``--set batch_size=256 --set "policy_kwargs={'net_arch': [64, 64]}"``.
``--action-noise`` (td3/ddpg, default 0.1) is the std of Gaussian exploration noise as a fraction of the action
range's half-width.
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import TRPO
from stable_baselines3 import DDPG, DQN, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import NormalActionNoise

ALGOS = {"sac": SAC, "td3": TD3, "ddpg": DDPG, "dqn": DQN, "trpo": TRPO}


def parse_value(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class PeriodicEval(BaseCallback):
    """Evaluate the policy on its own env at exact multiples of ``every`` training env steps."""

    def __init__(self, env_id: str, every: int, episodes: int, seed: int, header: dict):
        super().__init__()
        self.eval_env = gym.make(env_id)
        self.every, self.episodes, self.seed, self.header = every, episodes, seed, header

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            returns = [self.episode_return(k) for k in range(self.episodes)]
            row = {**self.header, "env_steps": self.num_timesteps, "eval_return": float(np.mean(returns))}
            print(json.dumps({**row, "eval_returns": returns}), flush=True)
        return True

    def episode_return(self, k: int) -> float:
        obs, _ = self.eval_env.reset(seed=(1_000_000_007 + 1000 * self.seed + k) % (2**31 - 1))  # reverie's eval seeds
        total, done = 0.0, False
        while not done:
            action, _ = self.model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = self.eval_env.step(action)
            total += float(reward)
            done = terminated or truncated
        return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("algo", choices=sorted(ALGOS))
    p.add_argument("env_id")
    p.add_argument("steps", type=int)
    p.add_argument("seed", type=int)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--learning-starts", type=int, default=None)
    p.add_argument("--action-noise", type=float, default=0.1)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()

    torch.set_num_threads(1)
    start = time.perf_counter()
    env = gym.make(args.env_id)
    kwargs = {}
    if args.learning_starts is not None:
        kwargs["learning_starts"] = args.learning_starts
    if args.algo in ("td3", "ddpg"):
        half_width = (env.action_space.high - env.action_space.low) / 2.0
        kwargs["action_noise"] = NormalActionNoise(np.zeros_like(half_width), args.action_noise * half_width)
    for item in args.set:
        key, _, value = item.partition("=")
        kwargs[key] = parse_value(value)
    model = ALGOS[args.algo]("MlpPolicy", env, seed=args.seed, verbose=0, **kwargs)

    stats = {"updates": 0, "wall": 0.0}
    inner_train = model.train

    def timed_train(*a, **kw):
        t0 = time.perf_counter()
        try:
            return inner_train(*a, **kw)
        finally:
            stats["wall"] += time.perf_counter() - t0
            # off-policy train(gradient_steps, batch_size); TRPO's train() counts as one update
            stats["updates"] += 1 if args.algo == "trpo" else int(kw.get("gradient_steps", a[0] if a else 0))

    model.train = timed_train
    header = {"peer": "sb3", "algo": args.algo, "env": args.env_id, "seed": args.seed}
    model.learn(args.steps, callback=PeriodicEval(args.env_id, args.eval_every, args.eval_episodes, args.seed, header))

    updates, wall = stats["updates"], stats["wall"]
    final = {**header, "env_steps": model.num_timesteps, "final": True, "gradient_updates": updates}
    final.update(
        update_wall_s=wall, wall_s=time.perf_counter() - start, per_update_s=wall / updates if updates else None
    )
    print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
