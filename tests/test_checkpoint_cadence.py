"""When a run writes its checkpoint: every --checkpoint-every episodes, but at most once a second."""

import gymnasium as gym

import reverie  # noqa: F401  (registers the mazes)
from reverie.runner import run as run_module
from reverie.runner.run import RunHandle


def handle(tmp_path, checkpoint_every: int) -> RunHandle:
    (tmp_path / "checkpoints").mkdir(exist_ok=True)
    return RunHandle(
        tmp_path,
        0,
        max_episodes=100,
        max_steps=None,
        env=gym.make("reverie/DynaMaze-v0"),
        checkpoint_every=checkpoint_every,
    )


def test_a_checkpoint_is_not_due_within_a_second_of_the_last_even_after_enough_episodes(tmp_path):
    run = handle(tmp_path, checkpoint_every=1)
    run.end_episode(1.0, 10, None, {})
    run.end_episode(1.0, 10, None, {})
    assert not run.checkpoint_due()  # two episodes in well under a second: the files would cost more
    run.close()


def test_without_the_floor_the_episode_count_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "MIN_CHECKPOINT_GAP_S", 0.0)
    run = handle(tmp_path, checkpoint_every=2)
    run.end_episode(1.0, 10, None, {})
    assert not run.checkpoint_due()  # one episode of the two
    run.end_episode(1.0, 10, None, {})
    assert run.checkpoint_due()
    run.close()
