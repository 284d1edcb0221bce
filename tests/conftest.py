import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)


import pytest  # noqa: E402

# a small PETS: the point mass needs no 3x200 networks, and its tests must stay well under a minute
SMALL_PETS = {
    "hidden_size": "64",
    "num_layers": "2",
    "num_particles": "5",
    "planner": "icem",
    "planner.population_size": "100",
    "planner.num_elites": "10",
    "planner.num_iterations": "3",
    "random_steps": "60",
    "epochs": "30",
}


@pytest.fixture
def cli_error(capsys):
    """Run ``reverie <argv>``; assert exit code 2 and exactly one 'reverie: error:' line on stderr; return it."""
    from reverie.cli import main

    def run(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("reverie: error:"), err
        return err[0]

    return run


@pytest.fixture
def resume_to():
    """Extend a stopped run's episode budget in its config.json, resume it through the CLI, return its summary."""
    import json

    from reverie.cli import main

    def resume(run_dir, episodes: int) -> dict:
        record = json.loads((run_dir / "config.json").read_text())
        record["episodes"] = episodes
        (run_dir / "config.json").write_text(json.dumps(record))
        (run_dir / "summary.json").unlink()
        assert main(["resume", str(run_dir), "--quiet"]) == 0
        return json.loads((run_dir / "summary.json").read_text())

    return resume
