"""Suite ``pets-learned-reward``: only the pets suite's known-vs-learned reward section (``bench.pets.learned_reward``),
for a look at it without the rest of the suite. Runs are shared with ``reverie bench pets`` when ``--out`` is the same.
"""

from __future__ import annotations

from pathlib import Path

from reverie.bench.pets import learned_reward
from reverie.runner.progress import RunProgress


def run(runs: int | None = None, quick: bool = False, show: bool = False, out: Path | None = None) -> dict:
    """As the pets suite: 1 seed and 5 cart-pole trials with ``quick``, else 3 seeds and 8 trials."""
    seeds = list(range(runs if runs is not None else (1 if quick else 3)))
    trials = 5 if quick else 8
    out = Path(out or "bench-results/pets-learned-reward") / "runs"
    with RunProgress("pets-learned-reward", 1, "sections", enabled=show) as progress:
        progress.show(f"known vs learned reward, {len(seeds)} seeds x 3 envs")
        checks, facts = learned_reward(out, seeds, trials, quick)
        progress.advance(1)
    facts.update({"seeds": len(seeds), "trials": trials})
    return {
        "suite": "pets-learned-reward",
        "runs": {"seeds": len(seeds)},
        "checks": checks,
        "curves": {},
        "timing": facts,
    }
