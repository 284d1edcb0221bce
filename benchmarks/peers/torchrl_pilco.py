"""Peer: TorchRL 0.14.1's shipped PILCO (sota-implementations/pilco) on InvertedPendulum-v5, timed per policy step.

Runs in the TorchRL venv (see shared/peers/README.md), never in reverie's. The wheel's ``pilco.py`` and
``utils.py`` are copied to a temporary folder, where the README's two local fixes are applied (the eval reward is
logged with ``.item()`` instead of ``.tolist()``; ``logger`` is bound when no logger is made) and ``config.yaml`` is
written from the values the README gives (those of the pytorch/rl repository). Nothing of TorchRL is kept.

Usage (one JSON line per event; the last line holds the peak memory of this process):

    python torchrl_pilco.py step-cost POINTS STEPS   # STEPS policy steps with a GP on POINTS random transitions
    python torchrl_pilco.py balance SEED [EPOCHS [STEPS]]   # the README's balancing run: 4 iterations x 15 steps

A policy step is what TorchRL's loop does per Adam step: zero_grad, a 40-step moment-matched rollout, backward, step.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import resource
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

CONFIG = """env:
  env_name: InvertedPendulum-v5
  library: gym
device: cpu
logger:
  backend: csv
  project_name: torchrl_pilco
  group_name: null
  video: False
optim:
  policy_lr: 5e-3
pilco:
  horizon: 40
  eval_horizon: 100
  eval_interval: 10
  initial_rollout_length: 200
  max_rollout_length: 350
  epochs: 3
  policy_training_steps: 100
  policy_n_basis: 10
"""
FIXES = (
    ('reward = test_rollout["episode_reward"][-1].tolist()', 'reward = test_rollout["episode_reward"][-1].item()'),
    ("    if cfg.logger.backend:\n", "    logger = None\n    if cfg.logger.backend:\n"),
)


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def prepare(folder: Path) -> Path:
    """Copy the shipped script to ``folder``, apply the fixes, write config.yaml; returns the patched pilco.py."""
    shipped = Path(sysconfig.get_paths()["purelib"]) / "sota-implementations" / "pilco"
    if not (shipped / "pilco.py").exists():
        sys.exit(f"TorchRL's sota-implementations/pilco is not in {shipped}")
    text = (shipped / "pilco.py").read_text()
    for old, new in FIXES:
        if old not in text:
            sys.exit(f"TorchRL's pilco.py changed: cannot apply the fix for {old.strip()!r}")
        text = text.replace(old, new, 1)
    (folder / "pilco.py").write_text(text)
    (folder / "utils.py").write_text((shipped / "utils.py").read_text())
    (folder / "config.yaml").write_text(CONFIG)
    return folder / "pilco.py"


def instrument(module, stop_after: int | None, folder: Path) -> None:
    """Time every policy step (zero_grad to the end of Adam's step), note the GP's data size and each evaluation."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    state = {"points": None, "started": None, "cpu": None, "steps": 0}
    fit = module.GPWorldModel.fit

    def timed_fit(self, data, *args, **kwargs):
        state["points"] = len(data)
        emit(gp_points=state["points"])
        return fit(self, data, *args, **kwargs)

    zero_grad = torch.optim.Adam.zero_grad

    def timed_zero_grad(self, *args, **kwargs):
        state["started"], state["cpu"] = time.perf_counter(), time.process_time()
        return zero_grad(self, *args, **kwargs)

    def after_step(optimizer, args, kwargs):
        if state["started"] is None:
            return
        state["steps"] += 1
        wall, cpu = time.perf_counter() - state["started"], time.process_time() - state["cpu"]
        emit(policy_step=state["steps"], gp_points=state["points"], wall_s=round(wall, 4), cpu_s=round(cpu, 4))
        if stop_after is not None and state["steps"] >= stop_after:
            emit(peak_mb=peak_mb(), done=True)
            shutil.rmtree(folder, ignore_errors=True)
            os._exit(0)  # the sizes are measured; skip the rest of TorchRL's loop

    evaluate = module.evaluate_policy

    def logged_evaluate(env, policy, eval_horizon, step, logger=None):
        rollout = evaluate(env, policy, eval_horizon, step, logger)
        emit(eval_at_policy_step=step, eval_steps=int(rollout["step_count"].max()), eval_horizon=eval_horizon)
        return rollout

    module.GPWorldModel.fit = timed_fit
    torch.optim.Adam.zero_grad = timed_zero_grad
    register_optimizer_step_post_hook(after_step)
    module.evaluate_policy = logged_evaluate


def main(argv: list[str]) -> None:
    mode, overrides, stop_after, seed = argv[0], [], None, 0
    if mode == "step-cost":
        points, stop_after = int(argv[1]), int(argv[2])
        overrides = [f"pilco.initial_rollout_length={points}", f"pilco.max_rollout_length={points}", "pilco.epochs=1",
                     f"pilco.policy_training_steps={stop_after}", "pilco.eval_interval=100000"]  # fmt: skip
    elif mode == "balance":
        seed = int(argv[1])
        epochs, steps = (int(argv[2]) if len(argv) > 2 else 4), (int(argv[3]) if len(argv) > 3 else 15)
        overrides = [f"pilco.epochs={epochs}", f"pilco.policy_training_steps={steps}", f"pilco.eval_interval={steps}"]
    else:
        sys.exit(__doc__)
    import numpy as np
    import torch

    torch.set_num_threads(1)  # as reverie's measurement: one thread per process
    torch.manual_seed(seed)  # TorchRL's script sets no seed itself
    np.random.seed(seed)
    random.seed(seed)
    folder = Path(tempfile.mkdtemp(prefix="torchrl-pilco-"))
    script = prepare(folder)
    sys.path.insert(0, str(folder))
    os.chdir(folder)  # the csv logger's files stay in the temporary folder
    spec = importlib.util.spec_from_file_location("torchrl_pilco_script", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    instrument(module, stop_after, folder)
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    started = time.perf_counter()
    try:
        module.main(cfg)  # hydra's main with a composed config runs the task function itself
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    emit(peak_mb=peak_mb(), wall_s=round(time.perf_counter() - started, 1), done=True)


if __name__ == "__main__":
    main(sys.argv[1:])
