"""Figure 8.2 (Dyna maze, N = 0, 5, 50 planning steps, 50 episodes) with the Sutton & Barto companion code, timed
for ``reverie bench cli``.

    python companion_fig8_2.py CHECKOUT RUNS   ->  one JSON line: runs, loop_s, mean steps per episode per N

CHECKOUT is a copy of the companion repository (ShangtongZhang/reinforcement-learning-an-introduction); its
``chapter08/maze.py`` is loaded as is. Its own ``figure_8_2()`` runs 10 runs and saves a plot into the checkout;
this runs the same loop (its ``Maze``, ``DynaParams``, ``TrivialModel`` and ``dyna_q``) for RUNS runs and saves
nothing, so the timing is the learning plus the interpreter's start-up, as for a reverie command.
"""

import importlib.util
import json
import sys
import time
from pathlib import Path


def main(checkout: str, runs: int) -> None:
    chapter = Path(checkout) / "chapter08"
    sys.path.insert(0, str(chapter))
    spec = importlib.util.spec_from_file_location("companion_maze", chapter / "maze.py")
    maze = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maze)
    import numpy as np

    started = time.perf_counter()
    dyna_maze, params = maze.Maze(), maze.DynaParams()
    settings, episodes = (0, 5, 50), 50
    steps = np.zeros((len(settings), episodes))
    for _ in range(runs):
        for i, planning_steps in enumerate(settings):
            params.planning_steps = planning_steps
            q_value = np.zeros(dyna_maze.q_size)
            model = maze.TrivialModel()
            for episode in range(episodes):
                steps[i, episode] += maze.dyna_q(q_value, model, dyna_maze, params)
    loop_s = time.perf_counter() - started
    mean = {f"N = {n}": (steps[i] / runs).round(2).tolist() for i, n in enumerate(settings)}
    print(json.dumps({"runs": runs, "loop_s": round(loop_s, 3), "mean_steps": mean}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
