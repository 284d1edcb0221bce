"""Peer: the shared ``sb3_baselines.py`` (Stable-Baselines3 SAC) on a reverie env, run in the SB3 venv.

reverie's envs need only gymnasium, numpy and torch, which the SB3 venv has: this adds the checkout's ``src`` to
``sys.path``, imports ``reverie.envs`` (registering ``reverie/<Name>-v0``) and runs the shared script unchanged from
the current folder (the bench runs peers with ``shared/peers`` as working directory). Besides its per-episode rows
it prints one ``{"success", "env_steps"}`` line per finished episode, from the env's ``info["is_success"]`` at the
episode's last step, so "real interaction until the first success" is read off the same way as for reverie.

Usage: python sb3_reverie_env.py reverie/PilcoCartPole-v0 STEPS SEED
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import gymnasium as gym

import reverie.envs  # noqa: F401  (registers the envs)


class SuccessLog(gym.Wrapper):
    """Print {"success", "env_steps"} at the end of every episode."""

    def __init__(self, env):
        super().__init__(env)
        self.env_steps = 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.env_steps += 1
        if terminated or truncated:
            print(json.dumps({"success": bool(info.get("is_success")), "env_steps": self.env_steps}), flush=True)
        return obs, reward, terminated, truncated, info


def main() -> None:
    make = gym.make
    gym.make = lambda env_id, **kwargs: SuccessLog(make(env_id, **kwargs))
    script = Path.cwd() / "sb3_baselines.py"
    if not script.exists():
        sys.exit(f"no {script}: run this from shared/peers")
    sys.argv = [str(script), *sys.argv[1:]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
