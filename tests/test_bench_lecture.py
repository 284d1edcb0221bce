"""`reverie bench lecture`: its parts measure what they claim, and a second run reads the finished trials back."""

import json

import pytest

from reverie.bench import lecture
from reverie.errors import UserError


@pytest.fixture(scope="module")
def bias_part(tmp_path_factory):
    out = tmp_path_factory.mktemp("lecture")
    return out, lecture.run(runs=3, quick=True, out=out, only=["bias"])


def test_an_unbiased_model_beats_a_biased_one_on_slippery_frozenlake(bias_part):
    _, results = bias_part
    gap = next(c for c in results["checks"] if c["name"].startswith("bias: success at N=1000"))
    # The deterministic model keeps one outcome per (s, a) of a lake that slips two times in three, so planning
    # 1,000 updates a step on it fits the wrong MDP; the counts model samples the true outcome frequencies. With
    # 3 seeds x 5,000 steps the measured gap is about +0.25 (interval about [0.2, 0.3]); a stochastic model that
    # was as biased as the deterministic one (or the same code path) gives a gap around 0, with low end below 0.
    assert gap["interval"][0] > 0.05
    assert set(results["curves"]) == {"bias-FrozenLake"}
    series = results["curves"]["bias-FrozenLake"]["series"]
    assert all(len(band["mean"]) == len(lecture.N_VALUES["bias"]) for band in series.values())
    assert "supported" in results["timing"]["conclusion (bias)"]


def test_a_second_run_reads_finished_trials_back(bias_part):
    out, first = bias_part
    summaries = sorted(out.glob("runs-quick/bias-0/trials/*/summary.json"))
    assert len(summaries) == 2 * len(lecture.N_VALUES["bias"]) * 3
    before = [p.stat().st_mtime_ns for p in summaries]
    again = lecture.run(runs=3, quick=True, out=out, only=["bias"])
    assert [p.stat().st_mtime_ns for p in summaries] == before
    assert json.dumps(again["checks"]) == json.dumps(first["checks"])


def test_a_sweep_of_other_settings_is_not_mixed_in(bias_part):
    out, _ = bias_part
    with pytest.raises(UserError, match="holds a sweep of other settings"):
        lecture.run(runs=2, quick=True, out=out, only=["bias"])  # 2 seeds: another definition, same directory
