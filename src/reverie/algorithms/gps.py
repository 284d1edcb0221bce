"""Guided Policy Search, mirror-descent form (Levine & Koltun 2013; Levine et al. 2016; Montgomery & Levine 2016).

Local time-varying linear-Gaussian controllers, one per condition (here: one target position), are improved by LQG
on locally fitted linear dynamics, each step kept within a KL bound of the current global policy; a neural-network
policy that sees the target in its observation is then trained to imitate all of them, and alone must reach
targets it never trained on. Mirror-descent GPS alternates the two steps:

    for iteration k = 1..K:
        for each condition i: run p_i(u|x) N times                     (iteration 1: a noisy zero-mean controller)
        fit p(x'|x, u) per time step with a GMM prior over all transitions
        C-step: p_i <- argmin E_p[cost]  s.t.  KL(p_i || pi_theta linearised) <= epsilon
        S-step: pi_theta <- argmin sum_{i,t} E_p_i[KL(pi_theta(u|x_t) || p_i(u|x_t))]  (precision-weighted regression)
        adjust epsilon from the predicted and actual improvement of pi_theta

Each sampled trajectory is one episode for the runner (a budget of K x conditions x N episodes runs K iterations).
Checkpoints are taken at iteration boundaries only, so a resumed run repeats no half iteration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import TinyRun, check_range, finite
from reverie.algorithms.episode import Episode
from reverie.data.replay import ReplayBuffer
from reverie.envs.tasks import env_ids_with, task_info
from reverie.errors import UserError
from reverie.learners.policy_regression import GaussianMLPPolicy, fit_to_teachers, linearise
from reverie.models.linear_gaussian import GMMPrior, fit_dynamics
from reverie.packing import pack, unpack
from reverie.planners.lqg import (
    LinearGaussianPolicy,
    expected_cost,
    forward,
    kl_constrained_update,
    quadratic_expansion,
    step_multiplier,
)

NAME = "gps"
EVALUATES_POLICY = True  # the network policy is evaluated alone (--eval-every)
# the contract test's run
TINY = TinyRun(
    "reverie/PointMass2D-v0",
    {
        "samples_per_condition": "2",
        "num_conditions": "1",
        "policy_epochs": "2",
        "prior_clusters": "2",
        "eval_episodes": "1",
    },
    episodes=4,
    split_at=2,
)


@dataclass
class Config:
    """GPS settings; defaults follow the mirror-descent GPS code of Levine et al. 2016 / Montgomery & Levine 2016."""

    iterations: int = 15  # GPS iterations (fewer if the episode budget runs out first)
    samples_per_condition: int = 5  # trajectories N per condition and iteration
    num_conditions: int = 4  # training targets used (the env's first ones)
    kl_step: float = 0.2  # epsilon per time step: the C-step bounds sum_t KL by kl_step * step_size * T
    min_step_size: float = 0.01  # bounds of the adaptive multiplier on kl_step
    max_step_size: float = 10.0  # (the upper one)
    init_noise: float = 0.3  # std of the first iteration's zero-mean controller, in action units
    prior_clusters: int = 20  # at most this many GMM clusters for the dynamics prior
    prior_min_points: int = 40  # points per cluster, at least
    prior_window: int = 4  # iterations of samples the GMM is fitted on (20 trajectories per condition)
    prior_strength: float = 1.0  # pseudo-counts of the NIW prior
    policy_hidden: int = 64  # width of the policy's two hidden layers
    policy_layers: int = 2  # hidden layers of the policy network
    policy_epochs: int = 50  # passes over one iteration's samples per S-step
    policy_batch: int = 25  # samples per gradient step of the S-step
    policy_lr: float = 1e-3  # Adam step size of the S-step
    policy_weight_decay: float = 0.0  # L2 on the policy's weights
    eval_episodes: int = 5  # noise-free episodes of the network alone per evaluation target

    def __post_init__(self):
        for name in ("iterations", "num_conditions", "prior_clusters", "prior_window", "policy_hidden"):
            check_range(name, getattr(self, name), 1, 10**6)
        for name in ("policy_layers", "policy_epochs", "policy_batch", "prior_min_points", "eval_episodes"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("samples_per_condition", self.samples_per_condition, 2, 10**6)
        check_range("kl_step", self.kl_step, 1e-6, 1e3)
        check_range("min_step_size", self.min_step_size, 1e-6, self.max_step_size)
        check_range("max_step_size", self.max_step_size, self.min_step_size, 1e6)
        check_range("init_noise", self.init_noise, 1e-6, 1e3)
        check_range("prior_strength", self.prior_strength, 1e-6, 1e6)
        check_range("policy_lr", self.policy_lr, 1e-12, 1.0)
        check_range("policy_weight_decay", self.policy_weight_decay, 0.0, 1.0)


def check_env(env: gym.Env) -> None:
    """GPS needs Box spaces, a known cost to expand, fixed-length episodes and target conditions."""
    env_id = env.spec.id if env.spec is not None else ""
    for what, space in (("observation", env.observation_space), ("action", env.action_space)):
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise UserError(f"gps needs a 1-D Box {what} space; this env has {space}")
    if task_info(env_id).gps_cost_fn() is None:
        known = ", ".join(env_ids_with("gps-cost"))
        raise UserError(f"gps needs a known cost to expand; '{env_id}' has none (known: {known})")
    if env.spec.max_episode_steps is None or getattr(env.unwrapped, "TRAIN_TARGETS", None) is None:
        raise UserError(f"gps needs fixed-length episodes with target conditions; '{env_id}' has none")


def check_config(env: gym.Env, config: Config) -> None:
    """Called by the runner before the run directory exists: the env must offer ``num_conditions`` targets."""
    offered = len(env.unwrapped.TRAIN_TARGETS)
    if config.num_conditions > offered:
        raise UserError(f"num_conditions must be at most {offered} for {env.spec.id}; got {config.num_conditions}")


def train(env: gym.Env, config: Config, run) -> dict:
    """Run mirror-descent GPS until ``config.iterations`` or the budget is spent; then test the network alone."""
    check_env(env)
    cost, steps = task_info(env.spec.id).gps_cost_fn(), env.spec.max_episode_steps
    check_config(env, config)
    targets = env.unwrapped.TRAIN_TARGETS[: config.num_conditions]
    dx, du = env.observation_space.shape[0], env.action_space.shape[0]
    conditions, n = len(targets), config.samples_per_condition
    torch.manual_seed(run.seed)  # weight initialisation
    policy = GaussianMLPPolicy(dx, du, config.policy_hidden, config.policy_layers)
    state = _initial_state(config, conditions, steps, dx, du)
    # the real samples of the last prior_window iterations, one row per time step (the GMM prior's data)
    window = config.prior_window * conditions * n * steps
    history = ReplayBuffer({"obs": ((dx,), np.float64), "act": ((du,), np.float64)}, capacity=window)
    restored = run.restored_arrays()
    if restored is not None:
        state = _restore(restored, policy, state)
        run.restored_buffer("samples", history)
    while state.iteration < config.iterations and not run.finished():
        started = time.perf_counter()
        # run each local controller p_i N times (the first iteration: a noisy zero-mean controller)
        samples = _collect(env, run, targets, state, n)
        if samples is None:  # the budget ran out mid-iteration: that iteration is dropped
            break
        x, u = samples
        _iterate(config, state, history, policy, cost, x=x, u=u, seed=run.seed)
        state.time, state.iteration = time.perf_counter() - started, state.iteration + 1
        run.evaluate(lambda obs: policy.act(obs).astype(np.float32))  # the network alone, when --eval-every is due
        run.save_checkpoint(_checkpoint(policy, state), buffers={"samples": history})
    # the network alone, without noise, on the training targets and on targets between them
    train_rate, train_dist = _evaluate(env, policy, targets, config.eval_episodes, run.seed)
    held_rate, held_dist = _evaluate(env, policy, env.unwrapped.HELDOUT_TARGETS, config.eval_episodes, run.seed)
    return {
        "gps_iterations": int(state.iteration),
        "eval_success_rate": (train_rate + held_rate) / 2,
        "eval_success_rate_train": train_rate,
        "eval_success_rate_heldout": held_rate,
        "eval_final_distance_train": train_dist,
        "eval_final_distance_heldout": held_dist,
    }


def _collect(env, run, targets, state: GPSState, n: int):
    """N episodes per condition from the local controllers: (x [M, N, T, dX], u [M, N, T, dU]), or None."""
    teacher = LinearGaussianPolicy(state.K, state.k, state.cov)
    x, u = [], []
    for i, target in enumerate(targets):
        for _ in range(n):
            logged = {"policy/kl": state.kl[i], "policy/eta": state.eta[i]} if state.iteration else {}
            logged.update({"policy/step_size": float(state.step_size), "time/iteration_s": state.time})
            rollout = None if run.finished() else _sample(env, run, target, teacher, i, logged)
            if rollout is None:
                return None
            x.append(rollout[0])
            u.append(rollout[1])
    shape = (len(targets), n, *teacher.k.shape[1:2])
    return np.reshape(x, (*shape, -1)), np.reshape(u, (*shape, -1))


def _iterate(config: Config, state: GPSState, history: ReplayBuffer, policy, cost, *, x, u, seed: int) -> None:
    """One GPS iteration on samples x [M, N, T, dX], u [M, N, T, dU]: dynamics, C-step, S-step, step size."""
    conditions, _, steps, dx = x.shape
    k = int(state.iteration)
    # fit p(x'|x, u) per time step, with a GMM prior over the transitions of the last few iterations
    history.add_batch(obs=x.reshape(-1, dx), act=u.reshape(-1, u.shape[-1]))  # a ring of prior_window iterations
    hx, hu = history["obs"].reshape(-1, steps, dx), history["act"].reshape(-1, steps, u.shape[-1])
    prior = GMMPrior(config.prior_clusters, config.prior_min_points, config.prior_strength, seed=seed * 1000 + k)
    prior.update(np.concatenate([hx[:, :-1], hu[:, :-1], hx[:, 1:]], -1).reshape(-1, 2 * dx + hu.shape[-1]))
    dynamics = _stack([fit_dynamics(x[i], u[i], prior) for i in range(conditions)])
    # expand the known cost to second order around the samples
    expansion = _stack([quadratic_expansion(cost, x[i], u[i]) for i in range(conditions)])
    generator = torch.Generator().manual_seed(seed * 1000 + k)
    if k == 0:  # the network first imitates the initial controller, so there is a global policy to linearise
        _s_step(config, policy, x, LinearGaussianPolicy(state.K, state.k, state.cov), generator)
    # linearise pi_theta around the samples: the centre of the C-step's KL ball
    K_bar, k_bar = linearise(policy, x.transpose(0, 2, 1, 3))  # [M, T, dU, dX], [M, T, dU]
    variance = policy.variance.numpy()
    nn_linear = LinearGaussianPolicy(K_bar, k_bar, np.broadcast_to(np.diag(variance), (*k_bar.shape, len(variance))))
    nn_cost = expected_cost(expansion, *forward(nn_linear, dynamics)).mean()
    # adjust epsilon: did the network improve as much as the last C-step predicted?
    if k > 0:
        bounds = (config.min_step_size, config.max_step_size)
        state.step_size = step_multiplier(state.prev_nn, state.prev_predicted, nn_cost, state.step_size, *bounds)
    # C-step: LQG towards low cost, within KL <= epsilon of the linearised network
    epsilon = np.full(conditions, config.kl_step * float(state.step_size) * steps)
    teacher, eta, kl = kl_constrained_update(expansion, dynamics, nn_linear, epsilon, state.eta)
    state.K, state.k, state.cov, state.eta, state.kl = teacher.K, teacher.k, teacher.cov, eta, kl
    state.prev_nn, state.prev_predicted = nn_cost, expected_cost(expansion, *forward(teacher, dynamics)).mean()
    # S-step: the network imitates the new controllers at the sampled states
    _s_step(config, policy, x, teacher, generator)


def _stack(items: list):
    """Per-condition NamedTuples of arrays -> one NamedTuple with a leading [conditions] dim."""
    return type(items[0])(*(np.stack(parts) for parts in zip(*items, strict=True)))


def _s_step(config: Config, policy, x, teacher: LinearGaussianPolicy, generator) -> None:
    """Regress the network onto teacher means K_t x + k_t at states x [M, N, T, dX], weighted by C_t^{-1}."""
    conditions, n, _, dx = x.shape
    means = np.einsum("mtij,mntj->mnti", teacher.K, x) + teacher.k[:, None]
    precision = np.broadcast_to(np.linalg.inv(teacher.cov)[:, None], (conditions, n, *teacher.cov.shape[1:]))
    fit_to_teachers(
        policy, x.reshape(-1, dx), means.reshape(-1, means.shape[-1]), precision.reshape(-1, *precision.shape[-2:]),
        epochs=config.policy_epochs, batch_size=config.policy_batch, lr=config.policy_lr,
        weight_decay=config.policy_weight_decay, generator=generator,
    )  # fmt: skip


def _sample(env, run, target, teacher: LinearGaussianPolicy, i: int, logged: dict):
    """One episode of controller i; returns (x [T, dX], executed u [T, dU]) or None when the budget ran out."""
    rng = np.random.default_rng(
        [run.episode_seed(), 1]
    )  # exploration noise, a function of the episode: resumes replay it
    episode = Episode(env, run, lambda obs: finite(obs, "observation"), options={"target": target})
    steps, du = teacher.k.shape[1:]
    xs, us = [], []
    for t in range(steps):
        obs = episode.obs
        action = (
            teacher.K[i, t] @ obs + teacher.k[i, t] + np.linalg.cholesky(teacher.cov[i, t]) @ rng.standard_normal(du)
        )
        action = np.clip(action, env.action_space.low, env.action_space.high)  # the model learns what was executed
        episode.step(action.astype(np.float32))
        xs.append(obs)
        us.append(action)
        if episode.terminated or (episode.truncated and t < steps - 1):
            raise UserError("gps needs fixed-length episodes; the env ended one early")
        if run.out_of_steps() and t < steps - 1:
            return None
    episode.finish(logged)
    return np.array(xs), np.array(us)


def _evaluate(env, policy, targets, episodes: int, seed: int) -> tuple[float, float]:
    """Success rate and mean final distance of the network's mean action on each target (not counted as training)."""
    successes, distances = [], []
    for i, target in enumerate(targets):
        for j in range(episodes):
            obs, _ = env.reset(seed=(2**30 + seed * 10_007 + 100 * i + j) % (2**31 - 1), options={"target": target})
            for _ in range(env.spec.max_episode_steps):
                obs, _, _, _, info = env.step(policy.act(obs).astype(np.float32))
            successes.append(bool(info.get("is_success")))
            distances.append(float(np.linalg.norm(obs[-2:])))
    return float(np.mean(successes)), float(np.mean(distances))


@dataclass
class GPSState:
    """What GPS carries from one iteration to the next (checkpointed with ``packing.pack``)."""

    iteration: int  # iterations finished
    step_size: float  # the multiplier on kl_step (adjusted from the improvement the last C-step predicted)
    time: float  # seconds of the last iteration
    prev_nn: float  # the linearised network's expected cost at the last iteration
    prev_predicted: float  # the cost the last C-step predicted for its controllers
    K: np.ndarray  # local controllers' gains [M, T, dU, dX]
    k: np.ndarray  # and offsets [M, T, dU]
    cov: np.ndarray  # and noise covariances [M, T, dU, dU]
    eta: np.ndarray  # the C-step's Lagrange multipliers [M]
    kl: np.ndarray  # the KL each C-step reached [M]


def _initial_state(config: Config, conditions: int, steps: int, dx: int, du: int) -> GPSState:
    return GPSState(
        iteration=0, step_size=1.0, time=0.0, prev_nn=0.0, prev_predicted=0.0,
        K=np.zeros((conditions, steps, du, dx)), k=np.zeros((conditions, steps, du)),
        cov=np.broadcast_to(config.init_noise**2 * np.eye(du), (conditions, steps, du, du)).copy(),
        eta=np.ones(conditions), kl=np.zeros(conditions),
    )  # fmt: skip


def _checkpoint(policy, state: GPSState) -> dict[str, np.ndarray]:
    return pack(policy=policy, gps=state)


def _restore(arrays, policy, state: GPSState) -> GPSState:
    restored = unpack(arrays, policy=policy, gps=GPSState)["gps"]
    if any(np.shape(getattr(restored, k)) != np.shape(getattr(state, k)) for k in ("K", "k", "cov", "eta")):
        raise UserError("checkpoint does not fit this GPS configuration (or is corrupt)")
    return restored
