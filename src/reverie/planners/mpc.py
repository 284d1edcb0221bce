"""Model-predictive control around a shooting planner: plan, execute the first action(s), shift, re-plan.

``MPCController`` owns what every MPC agent repeats: the queue of planned actions executed before the
next plan (``replan_every``), the warm-start shift after every executed action, the planning time and
the count of model evaluations, reported as ``planner/*`` metrics. ``make_controller`` picks the loop for a
planner: this one for a shooting planner, ``planners.tree.TreeController`` (the same interface) for a tree search.
"""

from __future__ import annotations

import time
from typing import Protocol

import torch
from torch import Tensor

from reverie.planners.shooting import ShootingPlanner
from reverie.planners.tree import TreeController, TreeSearch


class Scorer(Protocol):
    """Scores candidate sequences from a state: ``scorer(obs [obs_dim], actions [pop, horizon, ...],
    generator) -> returns [pop]``; each sequence step costs ``num_particles`` model evaluations."""

    num_particles: int

    def __call__(self, obs: Tensor, actions: Tensor, generator: torch.Generator) -> Tensor: ...


class MPCController:
    """Plans with ``planner`` every ``replan_every`` steps and executes the plan's first actions in between.

    ``reset()`` at the start of an episode; ``act(obs, scorer, generator)`` once per real step; ``metrics()``
    at the end of an episode: ``planner/seconds_per_step`` (planning seconds over the steps acted) and
    ``planner/model_evals_per_s`` (sequence steps x particles scored per second of planning).
    """

    def __init__(self, planner: ShootingPlanner, *, replan_every: int = 1):
        if not 1 <= replan_every <= planner.horizon:
            raise ValueError(f"replan_every must lie in [1, horizon={planner.horizon}], got {replan_every}")
        self.planner, self.replan_every = planner, replan_every
        self.reset()

    def reset(self) -> None:
        """Forget the queued actions, the planner's warm start and the episode's counters."""
        self.planner.reset()
        self.queue: list[Tensor] = []
        self.steps, self.plans, self.evaluations, self.plan_seconds = 0, 0, 0, 0.0

    def act(self, obs, scorer: Scorer, generator: torch.Generator) -> Tensor:
        """The action for real state ``obs`` ``[obs_dim]``: ``[act_dim]`` float32, or a 0-d int64 index."""
        if not self.queue:
            started = time.perf_counter()
            state = torch.as_tensor(obs)

            def evaluate(actions: Tensor) -> Tensor:
                self.evaluations += actions.shape[0] * actions.shape[1] * scorer.num_particles
                return scorer(state, actions, generator)

            plan = self.planner.plan(evaluate, generator)
            self.queue = list(plan[: self.replan_every])
            self.plans += 1
            self.plan_seconds += time.perf_counter() - started
        self.steps += 1
        self.planner.shift(1)  # the warm start moves past the action executed now
        return self.queue.pop(0)

    def metrics(self) -> dict[str, float]:
        """This episode's ``planner/*`` metrics (since the last ``reset``)."""
        return {
            "planner/seconds_per_step": self.plan_seconds / max(self.steps, 1),
            "planner/model_evals_per_s": self.evaluations / max(self.plan_seconds, 1e-9),
        }


def make_controller(planner, *, replan_every: int = 1) -> MPCController | TreeController:
    """The MPC loop for ``planner``: ``MPCController`` around a shooting planner, whose ``act`` takes a sequence
    scorer, or ``TreeController`` around a ``planners.tree.TreeSearch``, whose ``act`` takes an ``expand``."""
    if isinstance(planner, TreeSearch):
        return TreeController(planner, replan_every=replan_every)
    return MPCController(planner, replan_every=replan_every)
