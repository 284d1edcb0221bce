"""Peer: sb3-contrib TRPO on a Gymnasium env, for comparison with ``reverie train trpo``.

Runs only inside the SB3 peer venv (see README.md beside this file); it does not import reverie. The same shape,
CLI and output as ``sb3_offpolicy.py`` (whose evaluation callback it reuses, so the eval convention and eval seeds
are the same): it trains TRPO on ENV_ID for STEPS env steps with seed SEED and prints JSON lines (flushed):

- every ``--eval-every`` training env steps: ``{"peer": "sb3", "algo": "trpo", "env", "seed", "env_steps",
  "eval_return", "eval_returns"}``: the mean (and list) of ``--eval-episodes`` deterministic episodes on a separate
  eval env, episode k reset with seed ``(1_000_000_007 + 1000*SEED + k) mod (2**31 - 1)``, as reverie's
  ``--eval-every`` does;
- at the end: the same keys less the eval ones, plus ``"final": true``, ``"gradient_updates"`` (policy updates:
  ``train()`` calls, one per ``n_steps`` batch), ``"update_wall_s"`` (wall seconds inside ``train()``),
  ``"wall_s"`` (total wall seconds, evaluation included) and ``"per_update_s"``.

Usage:
    python sb3_trpo.py ENV_ID STEPS SEED [--eval-every N] [--eval-episodes K] [--set key=value ...]

``--set`` passes TRPO constructor kwargs (values parsed with ``ast.literal_eval``, else kept as strings), e.g.
``--set n_steps=1024 --set "policy_kwargs={'net_arch': [64, 64]}"``; without it every setting is sb3-contrib's
default, which reverie's ``trpo`` defaults equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from sb3_contrib import TRPO

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sb3_offpolicy import PeriodicEval, parse_value  # the same evaluation as the off-policy peer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("env_id")
    p.add_argument("steps", type=int)
    p.add_argument("seed", type=int)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()

    torch.set_num_threads(1)
    start = time.perf_counter()
    kwargs = {}
    for item in args.set:
        key, _, value = item.partition("=")
        kwargs[key] = parse_value(value)
    model = TRPO("MlpPolicy", args.env_id, seed=args.seed, verbose=0, device="cpu", **kwargs)

    stats = {"updates": 0, "wall": 0.0}
    inner_train = model.train

    def timed_train(*a, **kw):
        t0 = time.perf_counter()
        try:
            return inner_train(*a, **kw)
        finally:
            stats["wall"] += time.perf_counter() - t0
            stats["updates"] += 1

    model.train = timed_train
    header = {"peer": "sb3", "algo": "trpo", "env": args.env_id, "seed": args.seed}
    model.learn(args.steps, callback=PeriodicEval(args.env_id, args.eval_every, args.eval_episodes, args.seed, header))

    updates, wall = stats["updates"], stats["wall"]
    final = {**header, "env_steps": model.num_timesteps, "final": True, "gradient_updates": updates}
    final.update(
        update_wall_s=wall, wall_s=time.perf_counter() - start, per_update_s=wall / updates if updates else None
    )
    print(json.dumps(final), flush=True)


if __name__ == "__main__":
    main()
