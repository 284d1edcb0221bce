"""MPCController: when it plans, what it executes, how it moves the warm start, and what it counts."""

import pytest
import torch

from reverie.planners.mpc import MPCController
from reverie.planners.shooting import CEM, CEMConfig, RandomShooting, RandomShootingConfig


class Numbered:
    """A planner whose plan number n returns [100 n, 100 n + 1, ...]; records plans and shifts."""

    horizon = 5

    def __init__(self):
        self.plans, self.shifts, self.resets = 0, [], 0

    def reset(self):
        self.resets += 1

    def shift(self, steps=1):
        self.shifts.append(steps)

    def plan(self, evaluate, generator):
        evaluate(torch.zeros(2, self.horizon, 1))
        self.plans += 1
        return 100.0 * (self.plans - 1) + torch.arange(self.horizon, dtype=torch.float32)[:, None]


class Scorer:
    num_particles = 3

    def __init__(self):
        self.seen = []

    def __call__(self, obs, actions, generator):
        self.seen.append(obs)
        return torch.zeros(actions.shape[0])


@pytest.mark.parametrize("every", [1, 2, 3, 5])
def test_replan_every_k_plans_once_every_k_steps_and_executes_the_plans_first_k_actions(every):
    planner, scorer = Numbered(), Scorer()
    controller = MPCController(planner, replan_every=every)
    actions = [float(controller.act(torch.tensor([float(t)]), scorer, None)) for t in range(7)]
    expected = [100.0 * (t // every) + t % every for t in range(7)]
    assert actions == expected
    assert planner.plans == -(-7 // every)  # ceil(7 / k)
    assert planner.shifts == [1] * 7  # the warm start moves past every executed action
    assert [float(obs) for obs in scorer.seen] == [float(t) for t in range(0, 7, every)]  # planned from s_t


def test_reset_forgets_the_queue_and_the_counters():
    planner, scorer = Numbered(), Scorer()
    controller = MPCController(planner, replan_every=3)
    controller.act(torch.zeros(1), scorer, None)
    controller.reset()
    assert planner.resets == 2 and controller.steps == 0 and controller.evaluations == 0
    assert float(controller.act(torch.zeros(1), scorer, None)) == 100.0  # a new plan, not the old queue


def test_the_warm_start_of_cem_is_its_last_mean_shifted_by_one():
    planner = CEM(CEMConfig(planning_horizon=4, population_size=20, num_elites=5, num_iterations=2),
                  low=-torch.ones(1), high=torch.ones(1))  # fmt: skip
    controller = MPCController(planner)

    def score(obs, actions, generator):  # prefer actions near 0.5
        return -(actions - 0.5).square().sum((1, 2))

    score.num_particles = 1
    g = torch.Generator().manual_seed(0)
    planned = planner.plan(lambda a: score(None, a, g), g)  # the same plan, made directly
    final_mean = planner.mean.clone()
    planner.reset()
    g.manual_seed(0)
    action = controller.act(torch.zeros(1), score, g)
    torch.testing.assert_close(action, planned[0])
    torch.testing.assert_close(planner.mean, torch.cat([final_mean[1:], torch.zeros(1, 1)]))  # 0: mid-bounds


def test_metrics_count_sequence_steps_times_particles_per_second_of_planning():
    planner = RandomShooting(RandomShootingConfig(planning_horizon=4, population_size=10),
                             low=-torch.ones(1), high=torch.ones(1))  # fmt: skip
    controller = MPCController(planner)
    scorer = Scorer()
    for _ in range(2):
        controller.act(torch.zeros(1), scorer, torch.Generator().manual_seed(0))
    metrics = controller.metrics()
    assert set(metrics) == {"planner/seconds_per_step", "planner/model_evals_per_s"}
    assert controller.evaluations == 2 * 10 * 4 * 3
    seconds = metrics["planner/seconds_per_step"] * 2
    assert metrics["planner/model_evals_per_s"] == pytest.approx(240 / seconds)


def test_replan_every_beyond_the_horizon_is_refused():
    with pytest.raises(ValueError, match="replan_every"):
        MPCController(Numbered(), replan_every=6)
