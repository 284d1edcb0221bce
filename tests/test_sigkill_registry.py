"""SIGKILL at a random moment of every algorithm's tiny run, then `reverie resume`: the resumed run ends with the
summary of an uninterrupted one (tabular and torch alike: torch runs deterministically here on one thread).

The killed run checkpoints after every episode. The moment is drawn per algorithm (seeded by its name, so a failure
reproduces): a random delay after the run's first checkpoint (three algorithms in four) or after its start
(config.json written), up to 0.8 of its uninterrupted length. It lands before the first checkpoint (the resume
starts over), between checkpoints (it resumes from the last and replays what it lost), or after the end."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from test_contract import NOT_COMPARED, run, tiny

from reverie.algorithms import ALGORITHMS
from reverie.cli import main

START = """import json, sys
from pathlib import Path
import reverie.runner.run
from reverie.runner.spec import RunSpec
from reverie.runner.train import start_run
reverie.runner.run.MIN_CHECKPOINT_GAP_S = 0.0  # a checkpoint after every episode: kills land between checkpoints
name, env_id, episodes, overrides, out = json.loads(sys.argv[1])
start_run(RunSpec(name, env_id, 0, episodes, None, overrides, {}, Path(out), checkpoint_every=1), show=False)
"""


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_sigkill_at_a_random_moment_then_resume_gives_the_straight_result(name, tmp_path):
    spec = tiny(name)
    begun = time.perf_counter()
    straight = run(name, tmp_path / "straight", spec.episodes)
    length = time.perf_counter() - begun
    out = tmp_path / "killed"
    job = json.dumps([name, spec.env_id, spec.episodes, spec.overrides, str(out)])
    process = subprocess.Popen([sys.executable, "-c", START, job], env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    draw = random.Random(name)
    # most kills wait for the first checkpoint (else a short run would nearly always die before it), some do not
    marker = "checkpoints/latest.npz" if draw.random() < 0.75 else "config.json"
    deadline = time.monotonic() + 120
    while not (out / marker).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(draw.uniform(0.0, 0.8 * length))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "config.json").exists(), process.stderr.read()
    if not (out / "summary.json").exists():
        assert main(["resume", str(out), "--quiet"]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert {k: v for k, v in resumed.items() if k not in NOT_COMPARED} == straight
