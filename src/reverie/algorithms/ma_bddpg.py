"""MA-BDDPG: model-assisted bootstrapped DDPG (Kalweit & Boedecker 2017, "Uncertainty-driven Imagination for
Continuous Deep Reinforcement Learning", CoRL).

DDPG with a critic of K bootstrap heads (``learners/bootstrapped_ddpg.py``) and a dynamics model learned beside
it. The model turns real states into imagined one-step transitions, kept in their own buffer; the critic's
uncertainty (the heads' spread of Q at the current state and action) decides how often a gradient step is followed
by updates on imagined data, so imagination is used where the critic is unsure and fades where it has converged,
which limits what an inaccurate model can do to the value function.

The paper's loop (its Algorithm 1, as this file reads and runs it):

    initialise actor mu, critic heads Q_1..Q_K, targets; model M; real buffer R; imagined buffer I
    for each real step t:
        a_t = mu(s_t) + N_t;  observe r_t, s_t+1;  draw mask m_t ~ Bernoulli(p)^K;  R <- R u {(s, a, r, s', m_t)}
        (every train_every steps) train M on R
        imagine: s ~ R, a = mu(s) + N, (s', r) = M(s, a), a fresh mask;  I <- I u {(s, a, r, s', m)}
        sigma_t = std_k Q_k(s_t, a_t);  p_t = sigma_t / running peak of sigma
        for each gradient step:
            update Q_k (masked), mu, targets on a batch of R
            each of max_imagined_ratio times, with probability p_t: the same update on a batch of I

Choices of this implementation (the paper leaves them open or sets them for its own tasks): the heads share
DDPG's torso; the model is an ensemble of ``models/`` refitted every ``model.train_every`` real steps with
``training.fit``, each imagined row moved by a random elite, the env's reward where reverie knows it (as MBPO);
the running peak decays by ``uncertainty_decay`` per real step, so p_t compares the critic with its recent self.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, uniform_actions
from reverie.algorithms.base import TinyRun, check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.data.replay import ReplayBuffer, transition_fields
from reverie.envs.tasks import model_functions
from reverie.learners.bootstrapped_ddpg import BootstrappedDDPG, BootstrappedDDPGConfig
from reverie.models.dynamics import DynamicsModel
from reverie.models.model_env import ModelEnv, branched_rollouts
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack

NAME = "ma-bddpg"
EVALUATES_POLICY = True  # --eval-every evaluates the deterministic policy mu(s)
TINY = TinyRun(
    "Pendulum-v1",
    {"hidden_size": "16", "hidden_size_2": "8", "batch_size": "8", "heads": "3", "learning_starts": "50",
     "model_starts": "100", "imagined_per_step": "8", "model.hidden_size": "16", "model.num_layers": "1",
     "model.epochs": "2", "model.train_every": "100"},
    episodes=2, split_at=1,
)  # fmt: skip


@dataclass
class ModelConfig(TrainConfig):
    """The dynamics ensemble and how often it is refitted (``model.KEY``); training keys are ``training.fit``'s."""

    ensemble_size: int = 5  # networks in the ensemble
    num_elites: int = 3  # the best of them by validation error; imagined rows are moved by these
    hidden_size: int = 200  # width of each network's hidden layers
    num_layers: int = 3  # hidden layers per network
    batch_size: int = 256  # transitions per model gradient step, per network
    # each round starts from the last round's weights, so a few passes a round keep the model fitted; a full fit
    # every round would cost more wall than the critic's updates
    epochs: int = 5  # most passes over the real data per training round
    patience: int = 5  # model epochs without a better validation error before a training round stops
    train_every: int = 250  # real steps between refits of the model on all real data

    def __post_init__(self):
        for name in ("ensemble_size", "hidden_size", "num_layers", "batch_size", "epochs", "train_every",
                     "open_loop_steps"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)
        check_range("patience", self.patience, 0, 10**9)


def _model_defaults() -> ModelConfig:
    return ModelConfig()


@dataclass
class Config(BootstrappedDDPGConfig, OffPolicyConfig):
    """MA-BDDPG's settings: DDPG's defaults (TD3's preset ddpg), the paper's K = 10 heads, p = 0.5 masks and at
    most 4 imagined updates per real one."""

    model_starts: int = 200  # real steps before the first model fit (and so the first imagined transition)
    imagined_per_step: int = 256  # one-step imagined transitions added to the imagined buffer per real step
    imagined_buffer_size: int = 25_000  # imagined transitions kept (the oldest, from older policies, are dropped)
    max_imagined_ratio: int = 4  # most imagined updates per real gradient step (each taken with probability p_t)
    uncertainty_decay: float = 0.999  # per real step, the running peak of the uncertainty shrinks by this factor
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "known: the env's reward function where reverie knows it (envs/tasks.py), else learned with the dynamics; "
        "learned: always learned with the dynamics")})  # fmt: skip
    model: ModelConfig = field(default_factory=_model_defaults)  # the dynamics ensemble (model.KEY=VALUE)

    def __post_init__(self):
        BootstrappedDDPGConfig.__post_init__(self)
        OffPolicyConfig.__post_init__(self)
        check_range("model_starts", self.model_starts, 1, 10**9)
        check_range("imagined_per_step", self.imagined_per_step, 1, 10**6)
        check_range("imagined_buffer_size", self.imagined_buffer_size, 1, 10**9)
        check_range("max_imagined_ratio", self.max_imagined_ratio, 0, 100)
        check_range("uncertainty_decay", self.uncertainty_decay, 0.0, 1.0)


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


# -- how uncertainty sets the share of imagined updates (pure functions) ------------------------------------
def running_peak(previous: float, uncertainty: float, decay: float) -> float:
    """The normaliser of the uncertainty: max(sigma_t, decay * previous peak); 1 decay keeps the all-time peak."""
    return max(uncertainty, decay * previous)


def imagination_probability(uncertainty: float, peak: float) -> float:
    """p_t = sigma_t / peak, clipped to [0, 1] (0 while nothing is uncertain): non-decreasing in sigma_t."""
    return 0.0 if peak <= 0.0 else min(max(uncertainty / peak, 0.0), 1.0)


def imagined_update_count(probability: float, max_ratio: int, generator: torch.Generator) -> int:
    """How many imagined updates follow one real gradient step: ``max_ratio`` chances of ``probability`` each
    (Binomial(max_ratio, p)), so imagined:real never exceeds ``max_ratio``."""
    return int((torch.rand(max_ratio, generator=generator) < probability).sum())


def _buffer(env: gym.Env, heads: int, capacity: int | None) -> ReplayBuffer:
    """Transitions with their bootstrap masks (bool [K]): each head's sample is fixed when a row is added."""
    fields = transition_fields(env.observation_space.shape, np.float32, env.action_space.shape, np.float32)
    return ReplayBuffer({**fields, "mask": ((heads,), np.bool_)}, capacity)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run MA-BDDPG on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    torch.manual_seed(run.seed)  # weight initialisation
    generator = torch.Generator().manual_seed(run.seed)
    obs_dim, act_space = env.observation_space.shape[0], env.action_space
    reward_fn, termination_fn = model_functions(env, config.reward)
    m = config.model
    model = DynamicsModel(obs_dim, act_space.shape[0], learn_reward=reward_fn is None,
                          learn_termination=termination_fn is None, ensemble_size=m.ensemble_size,
                          hidden_size=m.hidden_size, num_layers=m.num_layers)  # fmt: skip
    model_env = ModelEnv(model, reward_fn, termination_fn, members="random-elite")
    learner = BootstrappedDDPG(obs_dim, act_space.low, act_space.high, config)
    real = _buffer(env, config.heads, config.buffer_size)
    imagined = _buffer(env, config.heads, config.imagined_buffer_size)
    random_action = uniform_actions(act_space, generator)
    counters = {"real_updates": 0, "imagined_updates": 0, "model_fits": 0, "nonfinite_rows": 0}
    peak = 0.0
    restored = run.restored_arrays()
    if restored is not None:
        learner.load(restored)
        loaded = unpack(restored, model=model, generator=generator, counters=None, peak=None)
        counters = dict(zip(counters, (int(v) for v in loaded["counters"]), strict=True))
        peak = float(loaded["peak"])
        run.restored_buffer("data", real)
        run.restored_buffer("imagined", imagined)
    metrics: dict = {}

    def imagine_policy(obs: torch.Tensor) -> torch.Tensor:  # mu(s) + N, as the real data were collected
        return torch.as_tensor(learner.act(obs.numpy(), generator))

    def checkpoint():
        arrays = {**learner.state(), **pack(model=model, generator=generator, counters=list(counters.values()),
                                            peak=peak)}  # fmt: skip
        return arrays, {"data": real, "imagined": imagined}

    while not run.finished():
        episode = Episode(env, run, finite_observation)
        spread, chances, real_before, imagined_before = [], [], counters["real_updates"], counters["imagined_updates"]
        while episode.running:
            warm = real.inserted < config.learning_starts
            if warm:
                run.phase("random warm-up", learning=False, ends_when=f"{config.learning_starts} random steps")
            else:
                run.phase("learning", learning=True)
            # a_t = mu(s_t) + N_t; observe r_t, s_t+1; store with its bootstrap mask m_t ~ Bernoulli(p)^K
            obs = episode.obs
            action = random_action() if warm else learner.act(obs, generator)
            episode.step(action)
            real.add(obs, action, episode.obs, episode.reward, episode.terminated, episode.truncated,
                     learner.masks(1, generator)[0])  # fmt: skip
            # (every train_every steps) train the model M on all of R
            since = real.inserted - config.model_starts
            if since >= 0 and since % m.train_every == 0:
                metrics.update(fit(model, real, m, generator))
                counters["model_fits"] += 1
            # imagine one-step transitions from real states into I, each with a fresh mask
            if counters["model_fits"] > 0:
                _imagine(model_env, real, imagined, config, policy=imagine_policy, learner=learner,
                         counters=counters, generator=generator)  # fmt: skip
            if warm:
                run.evaluate(lambda o: learner.act(o, None, deterministic=True))
                continue
            # sigma_t = std_k Q_k(s_t, a_t), normalised by its running peak, gives p_t
            sigma = learner.uncertainty(obs, action)
            peak = running_peak(peak, sigma, config.uncertainty_decay)
            p = imagination_probability(sigma, peak)
            spread.append(sigma)
            chances.append(p)
            # per gradient step: one update on R, then Binomial(max_imagined_ratio, p_t) updates on I
            for _ in range(config.updates_per_step):
                metrics.update(learner.update(real.sample(config.batch_size, generator)))
                counters["real_updates"] += 1
                if len(imagined) == 0:
                    continue
                for _ in range(imagined_update_count(p, config.max_imagined_ratio, generator)):
                    learner.update(imagined.sample(config.batch_size, generator))
                    counters["imagined_updates"] += 1
            run.evaluate(lambda o: learner.act(o, None, deterministic=True))
        episode_real = counters["real_updates"] - real_before
        episode_imagined = counters["imagined_updates"] - imagined_before
        finished = {
            **metrics,
            "ma_bddpg/uncertainty": float(np.mean(spread)) if spread else 0.0,
            "ma_bddpg/imagination_probability": float(np.mean(chances)) if chances else 0.0,
            "ma_bddpg/uncertainty_peak": peak,
            "ma_bddpg/imagined_ratio": episode_imagined / episode_real if episode_real else 0.0,
            "ma_bddpg/real_updates": counters["real_updates"],
            "ma_bddpg/imagined_updates": counters["imagined_updates"],
            "ma_bddpg/imagined_rows": len(imagined),
            "ma_bddpg/nonfinite_rows": counters["nonfinite_rows"],
        }
        if not episode.finish(finished, checkpoint):
            break
    run.save_checkpoint(*checkpoint())
    real_updates = counters["real_updates"]
    return {"gradient_updates": real_updates + counters["imagined_updates"], "real_updates": real_updates,
            "imagined_updates": counters["imagined_updates"], "model_fits": counters["model_fits"],
            "imagined_ratio": counters["imagined_updates"] / real_updates if real_updates else 0.0}  # fmt: skip


def _imagine(model_env, real, imagined, config: Config, *, policy, learner, counters, generator) -> None:
    """``imagined_per_step`` one-step model transitions from real states drawn uniformly, into ``imagined``."""
    start = real.sample(config.imagined_per_step, generator)["obs"]
    rows, dropped = branched_rollouts(model_env, policy, start, 1, generator)
    counters["nonfinite_rows"] += dropped
    n = len(rows["obs"])
    if n:
        imagined.add_batch(**{name: value.numpy() for name, value in rows.items()}, truncated=np.zeros(n, np.bool_),
                           mask=learner.masks(n, generator))  # fmt: skip
