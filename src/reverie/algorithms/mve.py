"""MVE: model-based value expansion (Feinberg et al. 2018) on TD3 (DDPG with ``--preset ddpg``).

A learned dynamics model lets the critic's target look H steps ahead: from a real transition (s_0, a_0, r_0, s_1)
the model imagines s_2 .. s_H+1 under the target policy, and the target sums the real and imagined rewards before
bootstrapping with the target critic at s_H+1. The model is trusted only for H short steps; the critic covers the
rest. With the TD-k trick every imagined state s_t is also a training row with its own (H+1-t)-step target, so
the critic learns on the distribution of states the expansion feeds it (the paper's section 3.2); without it only
s_0 is, and the paper finds the errors at imagined states make larger H worse, not better.

The paper's Algorithm 1 (its DDPG, here TD3's update around it):

    for each real step:
        act with the policy plus exploration noise; store (s, a, r, s') in the buffer
        every model_train_every steps: fit the dynamics model f_hat on the buffer          (MVE.observe)
        sample (s_0, a_0, r_0, s_1) from the buffer
        imagine s_t+1 = f_hat(s_t, a_t), a_t = pi_bar(s_t), r_t = r(s_t, a_t, s_t+1) for t = 1 .. H  (expand)
        targets  y_t = sum_{k=t}^{H} gamma^(k-t) r_k + gamma^(H+1-t) Q_bar(s_H+1, pi_bar(s_H+1))      (mve_targets)
        critic step on sum_t (Q(s_t, a_t) - y_t)^2 over t = 0 .. H (TD-k), or on t = 0 only
        every d steps: actor step on the real states s_0, target step                      (TD3.step)

``dynamics=oracle`` puts the env's true simulator where f_hat is (the paper's ablation: the best an expansion can
do when the model is perfect); ``horizon=0`` is plain TD3. Rewards and terminations come from the env's known
functions (``envs/tasks.py``) where reverie has them, else they are learned with the dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import torch
from torch import Tensor

from reverie.algorithms._off_policy import OffPolicyConfig, check_box_env, train_off_policy
from reverie.algorithms.base import Preset, TinyRun, check_range
from reverie.envs.tasks import model_functions, task_info
from reverie.errors import UserError
from reverie.learners.td3 import TD3, TD3Config
from reverie.models.dynamics import DynamicsModel
from reverie.models.model_env import ModelEnv
from reverie.models.simulator import SimulatorModel
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack

NAME = "mve"
EVALUATES_POLICY = True  # --eval-every evaluates TD3's deterministic policy mu(s)
TINY = TinyRun(
    "Pendulum-v1",
    {"horizon": "2", "hidden_size": "16", "model_train_every": "50", "learning_starts": "50", "epochs": "2",
     "td3.hidden_size": "16", "td3.hidden_size_2": "8", "td3.batch_size": "8"},
    episodes=2, split_at=1,
)  # fmt: skip


def _td3_defaults() -> TD3Config:
    return TD3Config()


@dataclass
class Config(OffPolicyConfig, TrainConfig):
    """MVE's settings: TD3's learner (``td3.KEY=VALUE``), the off-policy loop's, and the model's."""

    horizon: int = 3  # H: imagined steps in each critic target (0: plain TD3)
    td_k: bool = True  # train the critic at every imagined state (the TD-k trick), not at s_0 only
    dynamics: str = field(default="learned", metadata={"choices": ("learned", "oracle"), "help": (
        "learned: a network fitted to the buffer; oracle: the env's true simulator (envs.true_dynamics)")})  # fmt: skip
    ensemble_size: int = 1  # networks in the dynamics model; their mean prediction is the model (paper: one)
    num_elites: int = 1  # members kept as elites at each fit (all of them by default)
    hidden_size: int = 200  # width of the model's hidden layers
    num_layers: int = 3  # hidden layers of the model
    batch_size: int = 256  # transitions per model gradient step
    epochs: int = 20  # most passes over the buffer per model fit (each fit starts from the last weights)
    patience: int = 5  # model epochs without a better validation error before a fit stops
    model_train_every: int = 250  # real steps between model fits (the first at learning_starts)
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "known: the env's reward function where reverie knows it, else learned; learned: always learned")})  # fmt: skip
    td3: TD3Config = field(default_factory=_td3_defaults)  # the learner (td3.KEY=VALUE; reverie list td3)

    def __post_init__(self):
        OffPolicyConfig.__post_init__(self)
        check_range("horizon", self.horizon, 0, 1000)
        for name in ("ensemble_size", "hidden_size", "num_layers", "batch_size", "epochs", "model_train_every",
                     "open_loop_steps"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("patience", self.patience, 0, 10**9)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)
        if self.dynamics == "oracle" and self.reward == "learned":
            raise ValueError("reward=learned needs dynamics=learned (the oracle trains no model)")


PRESETS = {
    "ddpg": Preset(
        "MVE on DDPG, as in the paper: one critic, no policy delay, no target smoothing",
        {"td3.critics": 1, "td3.policy_delay": 1, "td3.target_noise": 0.0},
    ),
}


def mve_targets(reward: Tensor, terminated: Tensor, bootstrap: Tensor, gamma: float) -> Tensor:
    """The H+1 value-expansion targets of one expanded batch.

    reward, terminated [H+1, B]: r_t and whether s_t+1 is terminal, t = 0 (real) .. H (imagined); bootstrap [B]:
    Q_bar(s_H+1, pi_bar(s_H+1)). Returns y [H+1, B] with y_t = r_t + gamma (1 - terminated_t) y_t+1, y_H+1 =
    bootstrap: the (H+1-t)-step return from s_t, cut at the first termination.
    """
    targets, following = [], bootstrap
    for t in reversed(range(reward.shape[0])):
        following = reward[t] + gamma * (1.0 - terminated[t].float()) * following
        targets.append(following)
    return torch.stack(targets[::-1])


@torch.no_grad()
def expand(td3: TD3, model_env: ModelEnv, batch: dict[str, Tensor], horizon: int, generator) -> dict[str, Tensor]:
    """Imagine ``horizon`` steps past each real transition of ``batch`` ([B] rows) under the target policy.

    Returns obs [H+1, B, obs_dim] and unit_act [H+1, B, act_dim] (the critic's rows), reward and terminated
    [H+1, B], bootstrap [B], live [H+1, B] (1 where s_t is reached before any termination and every step to it is
    finite) and nonfinite (rows whose imagination left the finite numbers: their every row has live 0).
    """
    obs, next_obs = batch["obs"].float(), batch["next_obs"].float()
    rows = {"obs": [obs], "unit_act": [td3.scale.to_unit(batch["act"].float())], "reward": [batch["reward"].float()],
            "terminated": [batch["terminated"].float()]}  # fmt: skip
    live = [torch.ones(len(obs))]
    state, alive, finite = next_obs, 1.0 - batch["terminated"].float(), torch.ones(len(obs), dtype=torch.bool)
    for _ in range(horizon):
        unit_act = td3.target_action(state, generator)
        model_env.reset(state)
        following, reward, terminated = model_env.step(td3.scale.to_env(unit_act), generator)
        finite &= torch.isfinite(following).all(dim=1) & torch.isfinite(reward)  # the NaN guard
        for name, value in zip(rows, (state, unit_act, reward, terminated.float()), strict=True):
            rows[name].append(torch.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0))
        live.append(alive.clone())
        alive = alive * (1.0 - terminated.float())
        state = torch.nan_to_num(following, nan=0.0, posinf=0.0, neginf=0.0)
    bootstrap = torch.nan_to_num(td3.target_q(state, generator).min(dim=0).values)
    expanded = {name: torch.stack(parts) for name, parts in rows.items()}
    return {**expanded, "bootstrap": bootstrap, "live": torch.stack(live) * finite, "nonfinite": (~finite).sum()}


class MVE:
    """TD3 whose critic targets expand ``config.horizon`` steps through ``model_env`` (the off-policy loop's learner
    protocol, with ``observe`` fitting ``model`` to the buffer; ``model`` None for the oracle)."""

    def __init__(self, td3: TD3, model_env: ModelEnv, model: DynamicsModel | None, config: Config):
        self.td3, self.model_env, self.model, self.config = td3, model_env, model, config
        self.model_fits, self.nonfinite_rows = 0, 0
        self._fit_metrics: dict = {}

    def act(self, obs, generator, deterministic: bool = False):
        return self.td3.act(obs, generator, deterministic)

    def observe(self, buffer, generator) -> dict:
        """Fit the model every ``model_train_every`` real steps from ``learning_starts`` on; returns model metrics."""
        c, steps = self.config, buffer.inserted
        if (
            self.model is not None
            and steps >= c.learning_starts
            and (steps - c.learning_starts) % c.model_train_every == 0
        ):
            self._fit_metrics = fit(self.model, buffer, c, generator)
            self.model_fits += 1
        return {**self._fit_metrics, "mve/model_fits": self.model_fits, "mve/nonfinite_rows": self.nonfinite_rows}

    def update(self, batch: dict[str, Tensor], generator) -> dict[str, float]:
        """One TD3 critic step on the expanded targets (and the delayed actor and target step on the real s_0)."""
        c = self.config
        if c.horizon == 0 or (self.model is not None and self.model_fits == 0):
            return self.td3.update(batch, generator)
        rows = expand(self.td3, self.model_env, batch, c.horizon, generator)
        self.nonfinite_rows += int(rows["nonfinite"])
        targets = mve_targets(rows["reward"], rows["terminated"], rows["bootstrap"], c.td3.gamma)
        used = slice(None) if c.td_k else slice(0, 1)  # TD-k trains at every imagined state
        weight = rows["live"][used].reshape(-1)
        if weight.sum() == 0:  # every row's imagination diverged: nothing to learn from this batch
            return self.td3.update(batch, generator)
        obs_dim, act_dim = rows["obs"].shape[-1], rows["unit_act"].shape[-1]
        return self.td3.step(rows["obs"][used].reshape(-1, obs_dim), rows["unit_act"][used].reshape(-1, act_dim),
                             targets[used].reshape(-1), weight=weight, actor_obs=batch["obs"].float())  # fmt: skip

    def state(self):
        model = {} if self.model is None else pack(model=self.model)
        return {**self.td3.state(), **model, **pack(mve_counts=[self.model_fits, self.nonfinite_rows])}

    def load(self, arrays) -> None:
        self.td3.load(arrays)
        if self.model is not None:
            unpack(arrays, model=self.model)
        self.model_fits, self.nonfinite_rows = (int(v) for v in arrays["mve_counts"])


def check_env(env: gym.Env) -> None:
    check_box_env(env, NAME)


def check_config(env: gym.Env, config: Config) -> None:
    """``dynamics=oracle`` needs the env's true simulator and reward (checked before a run directory is made)."""
    env_id = env.spec.id if env.spec is not None else ""
    if config.dynamics == "oracle":
        SimulatorModel(env_id)  # a one-line UserError naming the envs that have one
        if task_info(env_id).reward_fn() is None:
            raise UserError(f"dynamics=oracle needs a known reward for '{env_id}'; reverie knows none")


def build(env: gym.Env, config: Config) -> MVE:
    """The MVE learner for ``env``: TD3, and a learned model or the env's true simulator behind a ModelEnv."""
    obs_dim, space = env.observation_space.shape[0], env.action_space
    env_id = env.spec.id if env.spec is not None else ""
    reward_fn, termination_fn = model_functions(env, config.reward)
    td3 = TD3(obs_dim, space.low, space.high, config.td3)
    if config.dynamics == "oracle":
        return MVE(td3, ModelEnv(SimulatorModel(env_id), reward_fn, termination_fn), None, config)
    model = DynamicsModel(obs_dim, space.shape[0], learn_reward=reward_fn is None,
                          learn_termination=termination_fn is None, ensemble_size=config.ensemble_size,
                          hidden_size=config.hidden_size, num_layers=config.num_layers)  # fmt: skip
    return MVE(td3, ModelEnv(model, reward_fn, termination_fn, members="mean", sample=False), model, config)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run MVE on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    check_config(env, config)
    return train_off_policy(env, config, run, lambda: build(env, config), "td3", batch_size=config.td3.batch_size)
