"""The true simulator of a known env behind the model interface, so any planner can run with a perfect
model: the upper bound that a learned model's return is measured against.

``SimulatorModel.predict`` has ``DynamicsModel.predict``'s signature and shapes (one "member"); the dynamics are
the env's own (``envs.true_dynamics``, found through ``task_info``), and rewards and terminations come from the
env's known functions, as with a learned model.
"""

from __future__ import annotations

from reverie.envs.tasks import env_ids_with, task_info
from reverie.errors import UserError


class SimulatorModel:
    """A perfect, deterministic one-member "ensemble" for ``env_id`` (one whose record has ``true_dynamics``)."""

    ensemble_size = 1

    def __init__(self, env_id: str):
        self._step = task_info(env_id).true_step()
        if self._step is None:
            raise UserError(f"no true simulator for '{env_id}'; known: {', '.join(env_ids_with('simulator'))}")

    def predict(self, obs, act, sample: bool = True, generator=None):
        """obs [E, B, obs_dim], act [E, B, act_dim] -> (next_obs [E, B, obs_dim], None, None)."""
        return self._step(obs, act), None, None
