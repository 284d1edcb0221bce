"""NAF with imagination rollouts (Gu, Lillicrap, Sutskever & Levine 2016, section 5): model-based acceleration.

After each real episode a model of the recent real trajectories is fitted; from the states that episode visited,
short rollouts of depth ``imagination_depth`` under the current noisy NAF policy are imagined through it, with the
env's known reward, into a separate imagined buffer; NAF then learns from real and imagined batches. The paper's
finding, which ``model=network`` lets one check: iteratively refitted *local linear* models help, a neural-network
model fitted to all the data does not (its imagined data was too wrong to gain from).

The paper's Algorithm 2 (without the optional iLQG exploration), as it runs here:

    initialise NAF (learners/naf.py), real buffer R, imagined buffer R_f, model M <- none
    for each episode:
        for t = 1..T:
            u_t = mu(x_t) + N_t;  execute, store (x_t, u_t, r_t, x_t+1) in R              (_off_policy loop)
            for iteration = 1..I:
                NAF step on a minibatch from R                                         (ImaginationNAF.update)
                and, once R_f holds rows, `imagined_updates` NAF steps on minibatches from R_f
        at the episode's end (every `imagination_every` episodes):                   (ImaginationNAF.observe)
            M <- fit time-varying linear-Gaussian dynamics x_t+1 ~ N(F_t [x_t; u_t] + f_t, S_t)
                 to the last `fit_episodes` episodes, a GMM prior over the last `prior_window`  (fit_linear_models)
            from every state x_t of those episodes: roll `imagination_depth` steps through F_t, F_t+1, ...
                 with u ~ mu(x) + N, rewards from the known reward function; store in R_f        (imagine)

Each fitted episode is its own condition (GPS's word): its per-time-step model has one sample per step and borrows
its slope from the GMM prior, so it passes through the real transition and is linear around it. Pooling several
episodes per time step, as the paper does on tasks whose episodes start alike, would mix unrelated states on
Pendulum-v1, whose episodes start at a random angle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, real_buffer, train_off_policy
from reverie.algorithms.base import TinyRun, check_range
from reverie.envs.tasks import env_ids_with, task_info
from reverie.errors import UserError
from reverie.learners.naf import NAF, NAFConfig
from reverie.models.dynamics import DynamicsModel
from reverie.models.linear_gaussian import GMMPrior, LinearGaussianDynamics, fit_dynamics
from reverie.models.model_env import ModelEnv
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack

NAME = "naf-imagination"
EVALUATES_POLICY = True  # --eval-every evaluates NAF's greedy policy mu(s)
TINY = TinyRun(
    "Pendulum-v1",
    {"imagination_depth": "2", "prior_clusters": "2", "prior_window": "1", "learning_starts": "50",
     "naf.hidden_size": "16", "naf.batch_size": "8"},
    episodes=2, split_at=1,
)  # fmt: skip


def _naf_defaults() -> NAFConfig:
    return NAFConfig()


@dataclass
class Config(OffPolicyConfig, TrainConfig):
    """NAF-imagination's settings: NAF's (``naf.KEY=VALUE``), the off-policy loop's, the imagination's and, for
    ``model=network``, the network model's."""

    model: str = field(default="linear", metadata={"choices": ("linear", "network"), "help": (
        "linear: time-varying linear-Gaussian fits per recent episode (GMM prior); network: one network fitted to "
        "all real data (the paper's negative result)")})  # fmt: skip
    updates_per_step: int = 5  # I: real-batch NAF steps per real step, as plain NAF's (each with its imagined ones)
    imagination_depth: int = 10  # steps of each imagined rollout (the paper: 5-10)
    imagination_every: int = 1  # real episodes between model fits (each followed by its rollouts)
    fit_episodes: int = 1  # most recent episodes whose states start rollouts (linear: each gets its own fit)
    imagined_updates: int = 1  # NAF steps on imagined batches after each real-batch step (in addition to it)
    imagined_buffer_size: int = 10_000  # imagined transitions kept (the oldest, from older models, are dropped)
    model_noise: bool = False  # draw each imagined next state from the model's Gaussian (else its mean)
    prior_window: int = 5  # linear: most recent episodes whose transitions the GMM prior is fitted to
    prior_clusters: int = 20  # linear: at most this many GMM clusters (GPS's default)
    prior_min_points: int = 40  # linear: points per GMM cluster, at least
    prior_strength: float = 1.0  # linear: pseudo-counts of the normal-inverse-Wishart prior
    ensemble_size: int = 1  # network: networks in the model, their mean is the prediction (the paper: one)
    num_elites: int = 1  # network: members kept as elites at each fit
    hidden_size: int = 200  # network: width of the model's hidden layers
    num_layers: int = 2  # network: hidden layers of the model
    batch_size: int = 256  # network: transitions per model gradient step
    epochs: int = 20  # network: most passes over the real data per fit (each fit starts from the last weights)
    patience: int = 5  # network: epochs without a better validation error before a fit stops
    naf: NAFConfig = field(default_factory=_naf_defaults)  # the learner (naf.KEY=VALUE; reverie list naf)

    def __post_init__(self):
        OffPolicyConfig.__post_init__(self)
        for name in ("imagination_depth", "imagination_every", "fit_episodes", "imagined_buffer_size",
                     "prior_window", "prior_min_points", "ensemble_size", "hidden_size", "num_layers",
                     "batch_size", "epochs", "open_loop_steps"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("prior_clusters", self.prior_clusters, 2, 1000)
        check_range("imagined_updates", self.imagined_updates, 0, 10**4)
        check_range("prior_window", self.prior_window, self.fit_episodes, 10**6)
        check_range("prior_strength", self.prior_strength, 1e-6, 1e6)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("patience", self.patience, 0, 10**9)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)


# -- the linear models and the imagination (pure functions) --------------------------------------------
def episode_arrays(buffer, episode: slice) -> tuple[np.ndarray, np.ndarray]:
    """One real episode of T transitions as fit_dynamics takes it: x [1, T+1, dX] (its states, the last one
    included) and u [1, T+1, dU] (its actions, and a zero row after the last state, which no fit reads)."""
    obs, act = buffer["obs"][episode], buffer["act"][episode]
    x = np.concatenate([obs, buffer["next_obs"][episode][-1:]]).astype(np.float64)
    u = np.concatenate([act, np.zeros_like(act[:1])]).astype(np.float64)
    return x[None], u[None]


def fit_linear_models(buffer, episodes: list[slice], prior: GMMPrior) -> list[LinearGaussianDynamics]:
    """Time-varying linear-Gaussian dynamics of each episode in ``episodes`` (a slice of ``buffer``'s rows, at
    least two transitions), each its own condition with one sample per time step, under ``prior``."""
    return [fit_dynamics(*episode_arrays(buffer, episode), prior) for episode in episodes]


def linear_step(models: dict[str, Tensor], obs: Tensor, act: Tensor, step: Tensor, generator, *, sample: bool):
    """x' = F_t [x; u] + f_t (+ a draw of N(0, S_t) when ``sample``) at each row's own time step.

    models: F [M, dX, dX+dU], f [M, dX], chol [M, dX, dX] (Cholesky factors of S_t), all episodes' time steps
    stacked; obs [R, dX], act [R, dU] (env units), step [R] (row index into the stacked M) -> next obs [R, dX]."""
    inputs = torch.cat([obs, act], dim=-1).double()
    mean = torch.einsum("rij,rj->ri", models["F"][step], inputs) + models["f"][step]
    if sample:
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        mean = mean + torch.einsum("rij,rj->ri", models["chol"][step], noise)
    return mean.float()


@torch.no_grad()
def imagine(step_fn, policy, start: Tensor, steps_left: Tensor, depth: int, *, reward_fn, termination_fn):
    """Rollouts of at most ``depth`` steps from each row of ``start`` [R, dX] under ``policy`` (obs [n, dX] ->
    env action [n, dU]), moved by ``step_fn(obs, act, rows) -> next_obs`` where ``rows`` [n] indexes the start rows
    still running and ``k`` steps have been taken from them (``step_fn`` also gets ``k``). A row stops after
    ``steps_left`` [R] steps (the model of its episode's last time step), at a termination, or at a non-finite
    prediction (dropped and counted).

    Returns ({obs, act, next_obs, reward, terminated}: tensors [N, ...] of every imagined step kept, rows dropped)."""
    columns: dict[str, list] = {"obs": [], "act": [], "next_obs": [], "reward": [], "terminated": []}
    rows, obs, dropped = torch.arange(len(start)), start.float(), 0
    for k in range(depth):
        running = steps_left[rows] > k
        rows, obs = rows[running], obs[running]
        if len(rows) == 0:
            break
        act = policy(obs)
        next_obs = step_fn(obs, act, rows, k)
        reward = reward_fn(obs, act, next_obs).float()
        terminated = termination_fn(obs, act, next_obs).bool() if termination_fn else torch.zeros(len(obs), dtype=bool)
        finite = torch.isfinite(next_obs).all(dim=1) & torch.isfinite(reward)  # the NaN guard: counted, dropped
        dropped += int((~finite).sum())
        for name, value in zip(columns, (obs, act, next_obs, reward, terminated), strict=True):
            columns[name].append(value[finite])
        keep = finite & ~terminated
        rows, obs = rows[keep], next_obs[keep]
    return {name: torch.cat(parts) for name, parts in columns.items()}, dropped


class ImaginationNAF:
    """NAF that also learns from imagined rollouts (the off-policy loop's learner protocol; ``observe`` fits the
    model and imagines at episode ends)."""

    def __init__(self, naf: NAF, env: gym.Env, config: Config, *, reward_fn, termination_fn):
        self.naf, self.config = naf, config
        self.reward_fn, self.termination_fn = reward_fn, termination_fn
        self.imagined = real_buffer(env, config.imagined_buffer_size)
        self.network = None
        if config.model == "network":
            obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
            self.network = DynamicsModel(obs_dim, act_dim, ensemble_size=config.ensemble_size,
                                         hidden_size=config.hidden_size, num_layers=config.num_layers)  # fmt: skip
            self.model_env = ModelEnv(self.network, reward_fn, termination_fn, members="mean",
                                      sample=config.model_noise)  # fmt: skip
        self.counts = {"episodes": 0, "fits": 0, "imagined_rows": 0, "nonfinite_rows": 0}
        self._metrics: dict = {}

    def act(self, obs, generator, deterministic: bool = False):
        return self.naf.act(obs, generator, deterministic)

    def observe(self, buffer, generator) -> dict:
        """At the end of every ``imagination_every``-th episode once learning has started: fit the model, imagine
        rollouts from that episode's states into the imagined buffer. Returns imagination metrics."""
        c = self.config
        _, last = buffer.rows_since(buffer.inserted - 1)
        if not (last["terminated"][0] or last["truncated"][0]):
            return self._metrics
        self.counts["episodes"] += 1
        if buffer.inserted >= c.learning_starts and self.counts["episodes"] % c.imagination_every == 0:
            episodes = [e for e in buffer.episodes() if e.stop - e.start >= 2]
            if episodes:
                self._metrics = self._fit_and_imagine(buffer, episodes, generator)
        return {**self._metrics, **{f"imagination/{k}": v for k, v in self.counts.items()}}

    def _fit_and_imagine(self, buffer, episodes: list[slice], generator) -> dict:
        c = self.config
        fitted = episodes[-c.fit_episodes :]
        start = torch.as_tensor(np.concatenate([buffer["obs"][e] for e in fitted]))
        lengths = [e.stop - e.start for e in fitted]
        # a row at time t of an episode of T steps has models for t .. T-1 (the linear model of each time step)
        steps_left = torch.as_tensor(np.concatenate([np.arange(n, 0, -1) for n in lengths]))
        metrics: dict = {}
        if c.model == "linear":
            seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
            prior = GMMPrior(c.prior_clusters, c.prior_min_points, c.prior_strength, seed=seed)
            window = episodes[-c.prior_window :]
            prior.update(np.concatenate([np.concatenate([buffer[k][e] for k in ("obs", "act", "next_obs")], axis=1)
                                         for e in window]).astype(np.float64))  # fmt: skip
            models = _stacked(fit_linear_models(buffer, fitted, prior))
            first = torch.as_tensor(np.concatenate([np.arange(n) for n in lengths]))  # each start row's model index
            offsets = torch.as_tensor(np.repeat(np.cumsum([0, *lengths[:-1]]), lengths))
            first = first + offsets

            def step_fn(obs, act, rows, k):
                return linear_step(models, obs, act, first[rows] + k, generator, sample=c.model_noise)
        else:
            metrics = fit(self.network, buffer, c, generator)

            def step_fn(obs, act, rows, k):
                self.model_env.reset(obs)
                return self.model_env.step(act, generator)[0]

        def policy(obs: Tensor) -> Tensor:
            return torch.as_tensor(self.naf.act(obs.numpy(), generator))

        rows, dropped = imagine(step_fn, policy, start, steps_left, c.imagination_depth, reward_fn=self.reward_fn,
                                termination_fn=self.termination_fn)  # fmt: skip
        n = len(rows["obs"])
        self.imagined.add_batch(**{k: v.numpy() for k, v in rows.items()}, truncated=np.zeros(n, np.bool_))
        self.counts["fits"] += 1
        self.counts["imagined_rows"] += n
        self.counts["nonfinite_rows"] += dropped
        return metrics

    def update(self, batch: dict[str, Tensor], generator) -> dict[str, float]:
        """One NAF step on the real ``batch``, then ``imagined_updates`` steps on imagined batches of its size."""
        metrics = self.naf.update(batch, generator)
        if len(self.imagined) > 0:
            for _ in range(self.config.imagined_updates):
                imagined = self.naf.update(self.imagined.sample(len(batch["obs"]), generator), generator)
            if self.config.imagined_updates:
                metrics["naf/imagined_q_loss"] = imagined["naf/q_loss"]
        return metrics

    def state(self) -> dict[str, np.ndarray]:
        model = {} if self.network is None else pack(model=self.network)
        counts = pack(imagination_counts=list(self.counts.values()))
        return {**self.naf.state(), **model, **counts, **self.imagined.to_arrays("imagined.")}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.naf.load(arrays)
        if self.network is not None:
            unpack(arrays, model=self.network)
        counts = unpack(arrays, imagination_counts=None)["imagination_counts"]
        self.counts = dict(zip(self.counts, (int(v) for v in counts), strict=True))
        self.imagined.load_arrays(arrays, "imagined.")


def _stacked(models: list[LinearGaussianDynamics]) -> dict[str, Tensor]:
    """The episodes' per-time-step models one after another: F [M, dX, dX+dU], f [M, dX], chol [M, dX, dX]."""
    cov = np.concatenate([m.cov for m in models])
    dx = cov.shape[-1]
    chol = np.linalg.cholesky(0.5 * (cov + cov.transpose(0, 2, 1)) + 1e-9 * np.eye(dx))
    return {"F": torch.as_tensor(np.concatenate([m.F for m in models])),
            "f": torch.as_tensor(np.concatenate([m.f for m in models])), "chol": torch.as_tensor(chol)}  # fmt: skip


def check_env(env: gym.Env) -> None:
    """Box spaces, and a reward reverie knows for the env (imagined steps are scored by it)."""
    check_box_env(env, NAME)
    env_id = env.spec.id if env.spec is not None else ""
    if task_info(env_id).reward_fn() is None:
        known = ", ".join(env_ids_with("reward"))
        raise UserError(f"{NAME} needs a known reward function for '{env_id}'; reverie knows one for: {known}")


def train(env: gym.Env, config: Config, run) -> dict:
    """Run NAF with imagination rollouts on ``env`` until the run's budget is spent; returns summary fields."""
    check_env(env)
    known = task_info(env.spec.id)
    obs_dim, space = env.observation_space.shape[0], env.action_space

    def build() -> ImaginationNAF:
        naf = NAF(obs_dim, space.low, space.high, config.naf)
        return ImaginationNAF(naf, env, config, reward_fn=known.reward_fn(), termination_fn=known.termination_fn())

    summary = train_off_policy(env, config, run, build, "naf", batch_size=config.naf.batch_size)
    return summary
