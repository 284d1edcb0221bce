"""ME-TRPO: model-ensemble trust-region policy optimisation (Kurutach et al. 2018, "Model-Ensemble
Trust-Region Policy Optimization").

An ensemble of deterministic networks is fitted to all real data; TRPO then improves the policy on imagined
trajectories in which every row is moved, each step, by a member drawn at random, so the policy cannot exploit one
member's errors. Every few updates the policy is validated in each member separately; optimisation in the models
goes on while it still improves in most of them and stops after repeated failures, when the policy starts to
overfit the models (the paper's section 4.3). Then real data is collected with the new policy.

Algorithm 2 of the paper:

    initialise a policy pi_theta and all models f_phi_1, ..., f_phi_K; D <- {}
    repeat
        collect samples from the real system f using pi_theta and add them to D
        train all models using D
        repeat
            collect fictitious samples from {f_phi_i} using pi_theta
            update the policy using TRPO on the fictitious samples
            estimate the performances eta(theta; phi_i) for i = 1..K
        until the performances stop improving
    until the policy performs well in real environment f

Here the first collection uses the initial (near-random) policy; "stop improving" is checked every
``validation_every`` updates (``improving_fraction`` and ``stop_after_check``); a reward and termination that
reverie knows for the env are used, else they are learned with the dynamics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import torch
from torch import Tensor

from reverie.algorithms._off_policy import check_box_env, real_buffer
from reverie.algorithms.base import TinyRun, check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.envs.tasks import model_functions
from reverie.learners.trpo import TRPO, TRPOConfig
from reverie.models.dynamics import DynamicsModel
from reverie.models.model_env import ModelEnv
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack

NAME = "me-trpo"
EVALUATES_POLICY = True  # --eval-every evaluates the deterministic policy (the Gaussian's mean, clipped)
TINY = TinyRun(
    "Pendulum-v1",
    {"ensemble_size": "2", "num_elites": "2", "hidden_size": "16", "num_layers": "1", "epochs": "2",
     "steps_per_iteration": "200", "imagined_rollouts": "8", "imagined_horizon": "10", "validation_rollouts": "4",
     "validation_every": "1", "max_failed_checks": "2", "max_policy_updates": "3", "trpo.hidden_size": "16",
     "trpo.batch_size": "16", "trpo.n_critic_updates": "2"},
    episodes=2, split_at=1,
)  # fmt: skip


def _trpo_defaults() -> TRPOConfig:
    # sb3-contrib's defaults, but value minibatches of 320 rows: the same 16 minibatches per pass over the 5,000
    # imagined rows as SB3 takes over its 2,048 real ones (128 rows each)
    return TRPOConfig(batch_size=320)


@dataclass
class Config(TrainConfig):
    """ME-TRPO's settings. The ensemble size (5), the 70% rule and the 5 failed checks are the paper's; the rest
    are sized for small tasks on a CPU (the authors draw 50,000 imagined steps per TRPO update)."""

    ensemble_size: int = 5  # K: deterministic networks in the ensemble
    hidden_size: int = 200  # width of each network's hidden layers
    num_layers: int = 2  # hidden layers per network
    num_elites: int = 5  # kept for the model-fitting scores only: every member moves rows here
    batch_size: int = 128  # transitions per model gradient step, per network
    patience: int = 5  # model epochs without a better validation error before a training round stops
    steps_per_iteration: int = 1000  # real steps collected (in whole episodes) between model fits
    imagined_rollouts: int = 50  # N: imagined trajectories per TRPO update, from real states drawn uniformly
    imagined_horizon: int = 100  # T: their length (the last row bootstraps from V)
    start_states: str = field(default="visited", metadata={"choices": ("visited", "initial"), "help": (
        "where imagined trajectories start: visited: any real state drawn uniformly; initial: the real episodes' "
        "first states (the env's start distribution)")})  # fmt: skip
    validation_rollouts: int = 50  # start states (fixed within an iteration) of each member's return estimate
    validation_every: int = 5  # TRPO updates between policy validations
    improvement_threshold: float = 0.7  # a check passes when the return improved in at least this fraction of members
    max_failed_checks: int = 5  # consecutive failed checks that end the optimisation in the models
    max_policy_updates: int = 60  # at most this many TRPO updates per iteration (a wall-time bound)
    reset_std: bool = True  # the policy's std goes back to its initial value before each optimisation (authors' code)
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "known: the env's reward function where reverie knows it (envs/tasks.py), else learned with the dynamics; "
        "learned: always learned")})  # fmt: skip
    trpo: TRPOConfig = field(default_factory=_trpo_defaults)  # the policy learner (trpo.KEY=VALUE; reverie list trpo)

    def __post_init__(self):
        for name in ("ensemble_size", "hidden_size", "num_layers", "batch_size", "epochs", "steps_per_iteration",
                     "imagined_rollouts", "imagined_horizon", "validation_rollouts", "validation_every",
                     "max_failed_checks", "max_policy_updates", "open_loop_steps"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("improvement_threshold", self.improvement_threshold, 0.0, 1.0)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)
        check_range("patience", self.patience, 0, 10**9)


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


# -- policy validation (pure) ---------------------------------------------------------------------------
def improving_fraction(returns: Tensor, previous: Tensor) -> float:
    """The fraction of members in which the policy's estimated return rose since the last check: [K], [K] -> float."""
    return (returns > previous).float().mean().item()


def stop_after_check(fraction: float, failed_checks: int, *, threshold: float, max_failed: int) -> tuple[int, bool]:
    """The paper's stopping rule after one validation: a check fails when fewer than ``threshold`` of the members
    improved; a passing check resets the count. Returns (consecutive failed checks now, stop optimising)."""
    failed_checks = 0 if fraction >= threshold else failed_checks + 1
    return failed_checks, failed_checks >= max_failed


# -- imagination ----------------------------------------------------------------------------------------
def imagine(model_env: ModelEnv, learner: TRPO, starts: Tensor, *, rows: int, horizon: int, generator) -> dict:
    """Imagined trajectories [T, N] for a TRPO update: N rows from states drawn uniformly from ``starts``
    [S, obs_dim], each step's action the policy's sample (clipped for the model), each row moved by a random
    member (``model_env``'s ``members="random"``). A row that terminates, or whose prediction is not finite, ends
    its episode there (``done``; a non-finite one counts as truncated, at its last finite state) and restarts from
    a fresh start state, like a vectorised env's auto-reset.

    Returns {obs, act (unclipped), reward, terminated, done, next_obs: [T, N, ...] tensors, nonfinite: int}."""
    obs = starts[torch.randint(len(starts), (rows,), generator=generator)]
    model_env.reset(obs)
    steps: dict[str, list] = {"obs": [], "act": [], "reward": [], "terminated": [], "done": [], "next_obs": []}
    nonfinite = 0
    for _ in range(horizon):
        action = learner.sample(obs, generator)
        next_obs, reward, terminated = model_env.step(learner.clip(action), generator)
        broken = ~(torch.isfinite(next_obs).all(dim=1) & torch.isfinite(reward))
        if broken.any():  # the NaN guard: such a row stops at its last good state, reward 0
            nonfinite += int(broken.sum())
            next_obs = torch.where(broken[:, None], obs, next_obs)
            reward, terminated = torch.where(broken, 0.0, reward), terminated & ~broken
        done = terminated | broken
        for name, value in zip(steps, (obs, action, reward, terminated, done, next_obs), strict=True):
            steps[name].append(value)
        obs = next_obs
        if done.any():
            fresh = starts[torch.randint(len(starts), (rows,), generator=generator)]
            obs = torch.where(done[:, None], fresh, next_obs)
            model_env.reset(obs)
    return {**{name: torch.stack(values) for name, values in steps.items()}, "nonfinite": nonfinite}


@torch.no_grad()
def member_returns(model_env: ModelEnv, learner: TRPO, starts: Tensor, horizon: int) -> Tensor:
    """eta(theta; phi_k) for every member k: the mean over ``starts`` [M, obs_dim] of the undiscounted return of
    the deterministic policy over ``horizon`` steps in member k alone -> [K]. ``model_env`` moves rows with
    ``members="fixed"``: the rows are K blocks of the M start states, block k moved by member k. A row stops
    collecting reward once it terminates (or its prediction is not finite)."""
    members = model_env.model.ensemble_size
    obs = model_env.reset(starts.repeat(members, 1))
    total, alive = torch.zeros(len(obs)), torch.ones(len(obs), dtype=torch.bool)
    for _ in range(horizon):
        next_obs, reward, terminated = model_env.step(learner.clip(learner.policy(obs)), None)
        finite = torch.isfinite(next_obs).all(dim=1) & torch.isfinite(reward)
        total += torch.where(alive & finite, reward, 0.0)
        alive &= finite & ~terminated
        obs = torch.where(alive[:, None], next_obs, obs)
        model_env.reset(obs)
    return total.reshape(members, -1).mean(dim=1)


def _start_pool(d_env, start_states: str) -> Tensor:
    """The real states imagined trajectories may start from: all of them, or each episode's first."""
    obs = torch.as_tensor(d_env["obs"])
    if start_states == "initial":
        return obs[[episode.start for episode in d_env.episodes()]]
    return obs


# -- the loop -------------------------------------------------------------------------------------------
def train(env: gym.Env, config: Config, run) -> dict:
    """Run ME-TRPO on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    torch.manual_seed(run.seed)  # weight initialisation
    generator = torch.Generator().manual_seed(run.seed)
    obs_dim, act_space = env.observation_space.shape[0], env.action_space
    reward_fn, termination_fn = model_functions(env, config.reward)
    # deterministic members: each predicts its mean next state (trained on squared error), as in the paper
    model = DynamicsModel(obs_dim, act_space.shape[0], learn_reward=reward_fn is None,
                          learn_termination=termination_fn is None, ensemble_size=config.ensemble_size,
                          hidden_size=config.hidden_size, num_layers=config.num_layers,
                          probabilistic=False)  # fmt: skip
    imagined = ModelEnv(model, reward_fn, termination_fn, members="random", sample=False)
    per_member = ModelEnv(model, reward_fn, termination_fn, members="fixed", sample=False)
    learner = TRPO(obs_dim, act_space.low, act_space.high, config.trpo)
    d_env = real_buffer(env, None)
    counters = {"iterations": 0, "policy_updates": 0, "checks": 0, "fitted_at": 0, "nonfinite_rows": 0}
    restored = run.restored_arrays()
    if restored is not None:
        learner.load(restored)
        loaded = unpack(restored, model=model, generator=generator, counters=None)
        counters = dict(zip(counters, (int(v) for v in loaded["counters"]), strict=True))
        run.restored_buffer("data", d_env)
    metrics: dict = {}

    def checkpoint():
        arrays = {**learner.state(), **pack(model=model, generator=generator, counters=list(counters.values()))}
        return arrays, {"data": d_env}

    while not run.finished():
        if counters["iterations"] == 0:
            run.phase("first real data", learning=False, ends_when=f"{config.steps_per_iteration} steps")
        else:
            run.phase("learning", learning=True)
        # collect samples from the real system using pi_theta; add them to D
        episode = Episode(env, run, finite_observation)
        while episode.running:
            obs = episode.obs
            action = learner.act(obs, generator)
            episode.step(action)
            d_env.add(obs, action, episode.obs, episode.reward, episode.terminated, episode.truncated)
        if episode.ended and len(d_env) - counters["fitted_at"] >= config.steps_per_iteration:
            metrics = _iteration(config, model, imagined, per_member, learner, d_env, counters=counters,
                                 generator=generator)  # fmt: skip
        run.evaluate(lambda o: learner.act(o, None, deterministic=True))
        # an iteration's metrics go to the row of the episode that ended it, once
        row = {**metrics, **{f"me_trpo/{name}": value for name, value in counters.items() if name != "fitted_at"}}
        metrics = {}
        if not episode.finish(row, checkpoint):
            break
    run.save_checkpoint(*checkpoint())
    return {"policy_updates": counters["policy_updates"], "iterations": counters["iterations"],
            "nonfinite_model_rows": counters["nonfinite_rows"]}  # fmt: skip


def _iteration(config: Config, model, imagined, per_member, learner: TRPO, d_env, *, counters, generator) -> dict:
    """Train all models on D, then TRPO on imagined trajectories until the validation says stop."""
    started = time.perf_counter()
    # train all models using D
    metrics = fit(model, d_env, config, generator)
    fitted = time.perf_counter()
    starts = _start_pool(d_env, config.start_states)
    validation_starts = starts[torch.randint(len(starts), (config.validation_rollouts,), generator=generator)]
    if config.reset_std:
        learner.reset_std()
    previous = member_returns(per_member, learner, validation_starts, config.imagined_horizon)
    first = previous.mean().item()
    failed, fractions, updates, nonfinite = 0, [], 0, 0
    while updates < config.max_policy_updates:
        # collect fictitious samples using pi_theta; update the policy using TRPO on them
        rollout = imagine(imagined, learner, starts, rows=config.imagined_rollouts, horizon=config.imagined_horizon,
                          generator=generator)  # fmt: skip
        nonfinite += rollout.pop("nonfinite")
        metrics.update(learner.update(rollout, generator))
        updates += 1
        # estimate eta(theta; phi_k) for every member; stop once it no longer improves in most of them
        if updates % config.validation_every == 0:
            returns = member_returns(per_member, learner, validation_starts, config.imagined_horizon)
            fractions.append(improving_fraction(returns, previous))
            previous = returns
            failed, stop = stop_after_check(fractions[-1], failed, threshold=config.improvement_threshold,
                                            max_failed=config.max_failed_checks)  # fmt: skip
            if stop:
                break
    counters["iterations"] += 1
    counters["policy_updates"] += updates
    counters["checks"] += len(fractions)
    counters["fitted_at"] = len(d_env)
    counters["nonfinite_rows"] += nonfinite
    metrics.update({
        "me_trpo/improving_fraction": fractions[-1] if fractions else float("nan"),
        "me_trpo/improving_fractions": fractions,  # one per check, in order (metrics.jsonl)
        "me_trpo/iteration_updates": updates,
        "me_trpo/model_return_start": first,
        "me_trpo/model_return_end": previous.mean().item(),
        "time/model_train_s": fitted - started,
        "time/policy_s": time.perf_counter() - fitted,
    })  # fmt: skip
    return metrics
