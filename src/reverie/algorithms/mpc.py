"""MPC with one learned deterministic network and random shooting (Nagabandi et al. 2018): the
"learned model + random shooting" baseline PETS improves on. It is PETS's loop with one point-prediction
network, no particles, and candidates scored by their predicted return:

    gather D with random actions
    repeat: fit f on D; at every step sample K random sequences of length H, roll them through f,
            execute the first action of the best, add the step to D
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reverie.algorithms import pets
from reverie.algorithms.base import TinyRun

NAME = "mpc"
# the contract test's run
TINY = TinyRun(
    "reverie/PointMass-v0",
    {
        "hidden_size": "16",
        "num_layers": "1",
        "planning_horizon": "5",
        "population_size": "20",
        "random_steps": "20",
        "epochs": "2",
    },
)


@dataclass
class Config(pets.Config):
    """The PETS settings with the baseline's choices: one deterministic member, expectation, random shooting."""

    ensemble_size: int = 1
    num_elites: int = 1
    probabilistic: bool = False
    propagation: str = field(default="expectation", metadata={"choices": ("expectation",)})
    num_particles: int = 1
    planner: str = field(default="random", metadata={"choices": ("random", "cem", "icem", "mppi")})
    planning_horizon: int = 15
    population_size: int = 1000


def check_env(env) -> None:
    pets.check_env(env, NAME)


def train(env, config: Config, run) -> dict:
    """Run the MPC baseline on ``env`` until the run's budget is spent."""
    return pets.train(env, config, run)
