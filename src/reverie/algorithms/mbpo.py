"""MBPO: model-based policy optimisation (Janner et al. 2019, "When to Trust Your Model").

A probabilistic ensemble is trained on real data; short rollouts branched from real states in it fill a model
pool, and SAC learns from a mix of mostly imagined and a few real transitions. Short branches keep the model's
compounding error small while still covering the whole task horizon (the paper's section 4).

Algorithm 2 of the paper:

    initialise policy pi_phi, predictive model p_theta, environment dataset D_env, model dataset D_model
    for N epochs:
        train model p_theta on D_env via maximum likelihood
        for E steps:
            take action in environment according to pi_phi; add to D_env
            for M model rollouts:
                sample s_t uniformly from D_env
                perform k-step model rollout starting from s_t using policy pi_phi; add to D_model
            for G gradient updates:
                update policy parameters on model data: phi <- phi - lambda grad J_pi(phi, D_model)

As in the authors' code, the M rollouts of an epoch are made at once when the model has been retrained (every E
steps; M = ``rollout_batch_size``), each row moved by a random elite; k follows ``rollout_*`` over the epochs;
SAC's batches hold ``real_ratio`` real rows; a reward and termination rule that reverie knows for the env are used,
else they are learned with the dynamics (``reward=learned`` learns the reward always, as the paper does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms._off_policy import check_box_env, real_buffer, uniform_actions
from reverie.algorithms.base import Preset, TinyRun, check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.envs.tasks import model_functions
from reverie.learners.sac import SAC, SACConfig
from reverie.models.dynamics import DynamicsModel
from reverie.models.model_env import ModelEnv, branched_rollouts
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack

NAME = "mbpo"
EVALUATES_POLICY = True  # --eval-every evaluates SAC's deterministic policy tanh(mu(s))
TINY = TinyRun(
    "Pendulum-v1",
    {"hidden_size": "16", "num_layers": "1", "exploration_steps": "100", "epoch_length": "50", "epochs": "2",
     "rollout_batch_size": "50", "updates_per_step": "1", "sac.hidden_size": "16", "sac.batch_size": "16"},
    episodes=2, split_at=1,
)  # fmt: skip


def _sac_defaults() -> SACConfig:
    return SACConfig()


@dataclass
class Config(TrainConfig):
    """MBPO's settings. Defaults: the authors' InvertedPendulum configuration (examples/config in their code), but
    for its target entropy (-0.05 there; here -(action dimensions), set by the preset ``inverted-pendulum``)."""

    ensemble_size: int = 7  # networks in the ensemble
    num_elites: int = 5  # the best of them by validation error; rollouts use these
    hidden_size: int = 200  # width of each network's hidden layers
    num_layers: int = 4  # hidden layers per network
    # the authors train each round to convergence; on a few thousand rows that takes smaller batches and more
    # epochs than PETS's defaults (measured: next-state error 5-10x lower than with 256-row batches, patience 5)
    batch_size: int = 64  # transitions per model gradient step, per network
    epochs: int = 200  # most passes over the real data per training round
    patience: int = 20  # model epochs without a better validation error before a training round stops
    validation_ratio: float = 0.2  # real data held out for early stopping and elites
    exploration_steps: int = 500  # uniformly random real steps before the first model
    epoch_length: int = 250  # E: real steps between model retraining (and the epoch's rollouts)
    rollout_batch_size: int = 100_000  # M: rollouts branched per epoch, from real states drawn uniformly
    rollout_min_epoch: int = 20  # a: the rollout length is rollout_min_length up to this epoch
    rollout_max_epoch: int = 100  # b: and rollout_max_length from this epoch on (linear between)
    rollout_min_length: int = 1  # x: shortest rollout (k)
    rollout_max_length: int = 1  # y: longest rollout
    model_retain_epochs: int = 1  # epochs of rollouts the model pool keeps
    updates_per_step: int = 10  # G: SAC gradient steps per real step
    real_ratio: float = 0.05  # fraction of real transitions in each SAC batch
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "known: the env's reward function where reverie knows it (envs/tasks.py), else learned with the dynamics; "
        "learned: always learned, as in the paper")})  # fmt: skip
    sac: SACConfig = field(default_factory=_sac_defaults)  # the policy learner (sac.KEY=VALUE; reverie list sac)

    def __post_init__(self):
        for name in ("ensemble_size", "hidden_size", "num_layers", "batch_size", "epochs", "epoch_length",
                     "rollout_batch_size", "rollout_min_length", "rollout_max_length", "model_retain_epochs",
                     "updates_per_step", "open_loop_steps"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("exploration_steps", self.exploration_steps, 1, 10**9)
        check_range("rollout_max_length", self.rollout_max_length, self.rollout_min_length, 10**6)
        check_range("rollout_min_epoch", self.rollout_min_epoch, 0, 10**9)
        check_range("rollout_max_epoch", self.rollout_max_epoch, self.rollout_min_epoch + 1, 10**9)
        check_range("real_ratio", self.real_ratio, 0.0, 1.0)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)
        check_range("patience", self.patience, 0, 10**9)


PRESETS = {
    "inverted-pendulum": Preset(
        "the authors' InvertedPendulum config: 500 exploration steps, 250-step epochs, G=10, k=1, entropy -0.05",
        {"sac.target_entropy": -0.05},
    ),
    "hopper": Preset(
        "the authors' Hopper config: 5000 exploration steps, 1000-step epochs, G=20, k from 1 to 15 over epochs 20-100",
        {
            "exploration_steps": 5000,
            "epoch_length": 1000,
            "updates_per_step": 20,
            "rollout_min_epoch": 20,
            "rollout_max_epoch": 100,
            "rollout_min_length": 1,
            "rollout_max_length": 15,
        },
    ),
}


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


def rollout_length(config: Config, epoch: int) -> int:
    """k at ``epoch``: x until epoch a, y from epoch b, linear (rounded down) between."""
    a, b, x, y = (
        config.rollout_min_epoch,
        config.rollout_max_epoch,
        config.rollout_min_length,
        config.rollout_max_length,
    )
    fraction = min(max((epoch - a) / (b - a), 0.0), 1.0)
    return int(x + fraction * (y - x))


def train(env: gym.Env, config: Config, run) -> dict:
    """Run MBPO on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    torch.manual_seed(run.seed)  # weight initialisation
    generator = torch.Generator().manual_seed(run.seed)
    obs_dim, act_space = env.observation_space.shape[0], env.action_space
    reward_fn, termination_fn = model_functions(env, config.reward)
    model = DynamicsModel(obs_dim, act_space.shape[0], learn_reward=reward_fn is None,
                          learn_termination=termination_fn is None,
                          ensemble_size=config.ensemble_size, hidden_size=config.hidden_size,
                          num_layers=config.num_layers)  # fmt: skip
    model_env = ModelEnv(model, reward_fn, termination_fn, members="random-elite")
    learner = SAC(obs_dim, act_space.low, act_space.high, config.sac)
    d_env = real_buffer(env, None)
    pool_rows = config.rollout_batch_size * config.rollout_max_length * config.model_retain_epochs
    d_model = real_buffer(env, pool_rows)
    random_action = uniform_actions(act_space, generator)
    counters = {"updates": 0, "model_epochs": 0, "nonfinite_rows": 0}
    restored = run.restored_arrays()
    if restored is not None:
        learner.load(restored)
        loaded = unpack(restored, model=model, generator=generator, counters=None)
        counters = dict(zip(counters, (int(v) for v in loaded["counters"]), strict=True))
        run.restored_buffer("data", d_env)
        run.restored_buffer("model_pool", d_model)
    n_real = int(config.sac.batch_size * config.real_ratio)
    metrics: dict = {}

    def act_tensor(obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(learner.act(obs.numpy(), generator))

    def checkpoint():
        arrays = {**learner.state(), **pack(model=model, generator=generator, counters=list(counters.values()))}
        return arrays, {"data": d_env, "model_pool": d_model}

    while not run.finished():
        episode = Episode(env, run, finite_observation)
        while episode.running:
            steps = d_env.inserted
            exploring = steps < config.exploration_steps
            if exploring:
                run.phase("random exploration", learning=False, ends_when=f"{config.exploration_steps} random steps")
            # (every E steps) train model p_theta on D_env; M branched k-step rollouts into D_model
            elif (steps - config.exploration_steps) % config.epoch_length == 0:
                run.phase("imagining", learning=True)
                metrics = _model_epoch(
                    model, model_env, d_env, d_model, config, counters=counters, policy=act_tensor, generator=generator
                )
            # take action in environment according to pi_phi; add to D_env
            obs = episode.obs
            action = random_action() if exploring else learner.act(obs, generator)
            episode.step(action)
            d_env.add(obs, action, episode.obs, episode.reward, episode.terminated, episode.truncated)
            # G gradient updates of SAC on D_model (with a real_ratio share of D_env)
            if len(d_model) > 0:
                for _ in range(config.updates_per_step):
                    batch = _mixed_batch(d_env, d_model, n_real, config.sac.batch_size - n_real, generator)
                    metrics.update(learner.update(batch, generator))
                counters["updates"] += config.updates_per_step
            run.evaluate(lambda o: learner.act(o, None, deterministic=True))
        epoch_metrics = {
            **metrics,
            "mbpo/updates": counters["updates"],
            "mbpo/nonfinite_rows": counters["nonfinite_rows"],
        }
        if not episode.finish(epoch_metrics, checkpoint):
            break
    run.save_checkpoint(*checkpoint())
    return {"gradient_updates": counters["updates"], "model_epochs": counters["model_epochs"],
            "nonfinite_model_rows": counters["nonfinite_rows"]}  # fmt: skip


def _model_epoch(model, model_env, d_env, d_model, config: Config, *, counters, policy, generator) -> dict:
    """Retrain the model on all real data, then fill the model pool with this epoch's branched rollouts."""
    started = time.perf_counter()
    metrics = fit(model, d_env, config, generator)
    trained = time.perf_counter()
    k = rollout_length(config, counters["model_epochs"])
    start = torch.as_tensor(d_env["obs"])[torch.randint(len(d_env), (config.rollout_batch_size,), generator=generator)]
    rows, dropped = branched_rollouts(model_env, policy, start, k, generator)
    n = len(rows["obs"])
    d_model.add_batch(**{name: value.numpy() for name, value in rows.items()}, truncated=np.zeros(n, np.bool_))
    counters["model_epochs"] += 1
    counters["nonfinite_rows"] += dropped
    return {**metrics, "mbpo/rollout_length": k, "mbpo/imagined_rows": n, "mbpo/model_pool": len(d_model),
            "time/model_train_s": trained - started, "time/rollout_s": time.perf_counter() - trained}  # fmt: skip


def _mixed_batch(d_env, d_model, n_real: int, n_model: int, generator) -> dict[str, torch.Tensor]:
    """One SAC batch: ``n_real`` rows of real data and ``n_model`` of imagined data."""
    if n_real == 0:
        return d_model.sample(n_model, generator)
    if n_model == 0:
        return d_env.sample(n_real, generator)
    real, imagined = d_env.sample(n_real, generator), d_model.sample(n_model, generator)
    return {name: torch.cat([real[name], imagined[name]]) for name in imagined}
