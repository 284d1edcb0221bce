"""PETS: probabilistic ensembles with trajectory sampling (Chua et al. 2018).

An ensemble of probabilistic networks captures both kinds of model uncertainty (noise in the data and
ignorance where data are missing); state particles carried through it score candidate action
sequences, and a CEM planner re-plans every step, executing only the first action (MPC).

Algorithm 1 of the paper:

    initialise data D with a random controller for one trial
    for trial k = 1..K:
        train a probabilistic ensemble f on D
        for t = 0..task horizon:
            for each action sequence a_{t:t+T} sampled by CEM:
                propagate state particles s^p with trajectory sampling through f
                evaluate the sequence as sum_tau (1/P) sum_p r(s^p_tau, a_tau)
                update CEM's distribution
            execute the first action a*_t of the best sequence
            record D <- D u {(s_t, a*_t, s_t+1)}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import TinyRun, check_range, finite
from reverie.data.buffer import TransitionBuffer
from reverie.envs.rewards import reward_fn, termination_fn
from reverie.errors import UserError
from reverie.models.dynamics import DynamicsModel
from reverie.models.reward_model import RewardModel, fit_reward
from reverie.models.simulator import SimulatorModel
from reverie.models.training import TrainConfig, fit
from reverie.planners.mpc import MPCController
from reverie.planners.propagation import PROPAGATIONS, ParticleScorer, check_particles
from reverie.planners.shooting import make_planner, planner_config, planner_fields

NAME = "pets"
# the contract test's run
TINY = TinyRun(
    "reverie/PointMass-v0",
    {
        "hidden_size": "16",
        "num_layers": "1",
        "num_particles": "5",
        "planning_horizon": "5",
        "population_size": "20",
        "num_iterations": "2",
        "planner_elites": "5",
        "random_steps": "20",
        "epochs": "2",
    },
)


@dataclass
class Config(TrainConfig):
    """PETS settings (defaults: mbrl-lib's PETS tutorial on the continuous cart-pole, which follow the paper)."""

    ensemble_size: int = 5  # members of the ensemble
    hidden_size: int = 200  # width of each member's hidden layers
    num_layers: int = 3  # hidden layers per member
    probabilistic: bool = True  # Gaussian outputs (PE) instead of point predictions (DE)
    # how particles pick ensemble members (the paper's section 4.2)
    propagation: str = field(default="ts-inf", metadata={"choices": PROPAGATIONS})
    num_particles: int = 20  # particles per candidate sequence (a multiple of ensemble_size)
    # the action-sequence optimiser
    planner: str = field(default="cem", metadata={"choices": ("cem", "icem", "mppi", "random")})
    planning_horizon: int = 15  # steps each candidate looks ahead
    population_size: int = 500  # candidates per planner iteration
    num_iterations: int = 5  # planner refits per step (ignored by random shooting)
    planner_elites: int = 50  # candidates the planner refits to (CEM / iCEM)
    replan_every: int = 1  # execute this many planned actions before planning again
    random_steps: int = 200  # real steps of uniformly random actions before the first model (one trial)
    # "simulator": plan with the env's true dynamics (one deterministic particle, no learning): the upper bound
    dynamics: str = field(default="learned", metadata={"choices": ("learned", "simulator")})
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "learned: learn reward and termination (models.reward_model) even where reverie knows them; "
        "an env with no known reward or termination learns it either way")})  # fmt: skip

    def __post_init__(self):
        for name in ("ensemble_size", "hidden_size", "num_layers", "planning_horizon", "population_size"):
            check_range(name, getattr(self, name), 1, 10**7)
        check_range("replan_every", self.replan_every, 1, self.planning_horizon)
        check_range("random_steps", self.random_steps, 1, 10**9)
        check_range("num_elites", self.num_elites, 1, self.ensemble_size)
        check_range("validation_ratio", self.validation_ratio, 0.0, 0.9)
        check_range("model_lr", self.model_lr, 1e-12, 1.0)
        for name in ("batch_size", "epochs", "open_loop_steps"):
            check_range(name, getattr(self, name), 1, 10**9)
        check_range("patience", self.patience, 0, 10**9)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        if self.reward == "learned" and self.dynamics == "simulator":
            raise ValueError("reward=learned needs dynamics=learned (the simulator trains no model)")
        # fail before a run directory exists: particle layout and the planner's own settings
        check_particles(self.propagation, self.num_particles, self.ensemble_size)
        planner_config(self.planner, self.planner_overrides())

    def planner_overrides(self) -> dict:
        """The planner's own config keys, from this config's planning settings."""
        wanted = {
            "planning_horizon": self.planning_horizon,
            "population_size": self.population_size,
            "num_iterations": self.num_iterations,
            "num_elites": self.planner_elites,
        }
        if self.planner == "cem":
            wanted["return_mean"] = True  # PETS executes CEM's final mean (iCEM and MPPI keep their own choice)
        known = planner_fields(self.planner)
        return {k: v for k, v in wanted.items() if k in known}


def check_env(env: gym.Env, algo: str = NAME) -> None:
    """PETS models Box observations (1-D) and plans over Box or Discrete actions."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UserError(f"{algo} needs a 1-D Box observation space; this env has {obs_space}")
    box_actions = isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1
    if not (box_actions or isinstance(act_space, gym.spaces.Discrete)):
        raise UserError(f"{algo} needs 1-D Box or Discrete actions; this env has {act_space}")
    if box_actions and not (np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()):
        raise UserError(f"{algo} needs finite action bounds to plan in; this env has {act_space}")


def train(env: gym.Env, config: Config, run) -> dict:
    """Run PETS on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    env_id = env.spec.id if env.spec is not None else ""
    known_reward, known_termination = (
        (reward_fn(env_id), termination_fn(env_id)) if config.reward == "known" else (None, None)
    )
    obs_dim = env.observation_space.shape[0]
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    n_discrete = int(env.action_space.n) if discrete else None
    act_dim = n_discrete if discrete else env.action_space.shape[0]
    torch.manual_seed(run.seed)  # weight initialisation
    model = DynamicsModel(
        obs_dim, act_dim, ensemble_size=config.ensemble_size, hidden_size=config.hidden_size,
        num_layers=config.num_layers, probabilistic=config.probabilistic,
    )  # fmt: skip
    reward_model = None  # r(s, a, s') and p(done | s, a, s') where not known (models/reward_model.py)
    if known_reward is None or known_termination is None:
        reward_model = RewardModel(obs_dim, act_dim, known_reward is None, known_termination is None,
                                   ensemble_size=config.ensemble_size)  # fmt: skip
    true_model = SimulatorModel(env_id) if config.dynamics == "simulator" else None
    scorer = ParticleScorer(
        true_model or model, config.propagation,
        1 if true_model is not None else config.num_particles,  # the simulator is deterministic
        known_reward, known_termination, n_discrete, reward_model,
    )  # fmt: skip
    planner = make_planner(config.planner, config.planner_overrides(), env.action_space)
    buffer = TransitionBuffer(obs_dim, () if discrete else (act_dim,), np.int64 if discrete else np.float32)
    generator = torch.Generator().manual_seed(run.seed)
    controller = MPCController(planner, replan_every=config.replan_every)  # the re-plan queue and planner/*
    random_action = _random_controller(env.action_space, generator)
    model_metrics, trained_on = {}, 0
    restored = run.restored_arrays()
    if restored is not None:
        trained_on = _restore(restored, model, buffer, generator, reward_model)

    # for trial k = 1..K (one episode each; the random trial is the first episodes)
    while not run.finished():
        # train a probabilistic ensemble f on D (once per trial, after the random trial)
        if true_model is None and len(buffer) >= config.random_steps and len(buffer) > trained_on:
            started = time.perf_counter()
            model_metrics = fit(model, buffer, config, generator, n_discrete)
            if reward_model is not None:  # and the reward / termination where they are not known
                model_metrics.update(fit_reward(reward_model, buffer, config, generator, n_discrete))
            model_metrics["time/model_train_s"] = time.perf_counter() - started
            trained_on = len(buffer)
        use_model = trained_on > 0 or true_model is not None
        obs, _ = env.reset(seed=run.episode_seed())
        obs = finite(obs, "observation", np.float32)
        controller.reset()
        episode_return, length, ended = 0.0, 0, False
        # for t = 0..task horizon
        while not ended and not run.out_of_steps():
            if not use_model:  # initialise D with a random controller
                action = random_action()
            else:
                # CEM samples sequences a_{t:t+T}, particles propagated through f score them;
                # execute the first action a*_t of the best (the controller re-plans every replan_every steps)
                action = controller.act(obs, scorer, generator)
                action = int(action) if discrete else action.numpy()
            next_obs, reward, terminated, truncated, info = env.step(action)
            next_obs = finite(next_obs, "observation", np.float32)
            finite(reward, "reward")
            # record D <- D u {(s_t, a_t, s_t+1)}
            buffer.add(obs, action, next_obs, reward, terminated, truncated)
            run.count_step(float(reward))
            episode_return += float(reward)
            length += 1
            ended = terminated or truncated
            obs = next_obs
        if not ended:
            break
        metrics = {**model_metrics, **(controller.metrics() if use_model else {})}
        run.end_episode(episode_return, length, info.get("is_success"), metrics)
        if run.checkpoint_due():
            run.save_checkpoint(_checkpoint(model, buffer, generator, trained_on, reward_model))
    run.save_checkpoint(_checkpoint(model, buffer, generator, trained_on, reward_model))
    return {"model_trained_on": trained_on}


def _random_controller(action_space, generator: torch.Generator):
    """A function drawing one uniform action (an int index, or a float32 array in the bounds)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return lambda: int(torch.randint(int(action_space.n), (1,), generator=generator))
    low, high = torch.as_tensor(action_space.low), torch.as_tensor(action_space.high)
    return lambda: (low + (high - low) * torch.rand(low.shape[0], generator=generator)).numpy()


def _checkpoint(model, buffer, generator, trained_on, reward_model=None) -> dict[str, np.ndarray]:
    arrays = {f"model.{k}": v.detach().numpy().copy() for k, v in model.state_dict().items()}
    if reward_model is not None:
        arrays.update({f"reward_model.{k}": v.detach().numpy().copy() for k, v in reward_model.state_dict().items()})
    arrays.update(buffer.to_arrays())
    arrays["generator"] = generator.get_state().numpy()
    arrays["trained_on"] = np.array(trained_on)
    return arrays


def _restore(arrays, model, buffer, generator, reward_model=None) -> int:
    try:
        for prefix, module in (("model.", model), ("reward_model.", reward_model)):
            state = {k[len(prefix) :]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith(prefix)}
            if module is not None:
                module.load_state_dict(state)
        buffer.load_arrays(arrays)
        generator.set_state(torch.as_tensor(arrays["generator"]))
        return int(arrays["trained_on"])
    except (KeyError, RuntimeError, ValueError):
        raise UserError("checkpoint does not fit this PETS configuration (or is corrupt)") from None
