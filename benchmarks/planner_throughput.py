"""PETS planning throughput, model evaluations per second, of whichever reverie is on the path.

One process measures one setting: a 5 x 200 x 3 probabilistic ensemble on the continuous cart-pole (known
reward and termination, ts-inf), planning from one state with warm start and shift as in a run. The count is
the suite's: sequence steps x particles scored, over the seconds spent in ``plan``. It runs against the code
before the ModelEnv/MPCController split (cd729c8) as well, so old and new can alternate in one session:

    for i in 1 2 3 4 5; do for src in /old/src /new/src; do
        PYTHONPATH=$src python benchmarks/planner_throughput.py suite; done; done
"""

import json
import sys
import time

import torch

SETTINGS = {  # the pets suite's FAST settings, and mbrl-lib's PETS tutorial
    "suite": {"planner": "icem", "population_size": 300, "num_iterations": 3, "num_elites": 10, "particles": 5},
    "mbrl": {"planner": "cem", "population_size": 500, "num_iterations": 5, "num_elites": 50, "particles": 20},
}


def main(name: str, plans: int) -> None:
    from gymnasium.spaces import Box

    from reverie.envs.rewards import cartpole_reward, cartpole_termination
    from reverie.models.dynamics import DynamicsModel
    from reverie.planners import propagation
    from reverie.planners.shooting import make_planner

    torch.set_num_threads(1)
    torch.manual_seed(0)
    s = SETTINGS[name]
    model = DynamicsModel(4, 1, ensemble_size=5, hidden_size=200, num_layers=3)
    overrides = {k: s[k] for k in ("population_size", "num_iterations", "num_elites")} | {"planning_horizon": 15}
    planner = make_planner(s["planner"], overrides, Box(-1.0, 1.0, (1,)))
    generator = torch.Generator().manual_seed(0)
    obs = torch.tensor([0.01, -0.02, 0.03, 0.01])
    if hasattr(propagation, "ParticleScorer"):  # after the split: the controller's path
        from reverie.planners.mpc import MPCController

        scorer = propagation.ParticleScorer(model, "ts-inf", s["particles"], cartpole_reward, cartpole_termination)
        controller = MPCController(planner)
        controller.act(obs, scorer, generator)  # warm-up
        controller.reset()
        for _ in range(plans):
            controller.act(obs, scorer, generator)
        rate = controller.metrics()["planner/model_evals_per_s"]
    else:  # cd729c8: pets.train's closure
        count = [0]

        def evaluate(actions):
            count[0] += actions.shape[0] * actions.shape[1] * s["particles"]
            return propagation.score_sequences(
                model, obs, actions, s["particles"], "ts-inf", cartpole_reward, cartpole_termination, generator
            )

        planner.plan(evaluate, generator)  # warm-up
        planner.shift(1)
        count[0], seconds = 0, 0.0
        for _ in range(plans):
            started = time.perf_counter()
            planner.plan(evaluate, generator)
            seconds += time.perf_counter() - started
            planner.shift(1)
        rate = count[0] / seconds
    print(json.dumps({"setting": name, "model_evals_per_s": rate}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else {"suite": 8, "mbrl": 2}[sys.argv[1]])
