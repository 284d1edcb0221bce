"""PETS: probabilistic ensembles with trajectory sampling (Chua et al. 2018).

An ensemble of probabilistic networks captures both kinds of model uncertainty (noise in the data and
ignorance where data are missing); state particles carried through it score candidate action
sequences, and a CEM planner re-plans every step, executing only the first action (MPC).

Algorithm 1 of the paper:

    initialise data D with a random controller for one trial
    for trial k = 1..K:
        train a probabilistic ensemble f on D
        for t = 0..task horizon:
            for each action sequence a_{t:t+T} sampled by CEM (here iCEM by default):
                propagate state particles s^p with trajectory sampling through f
                evaluate the sequence as sum_tau (1/P) sum_p r(s^p_tau, a_tau)
                update CEM's distribution
            execute the first action a*_t of the best sequence
            record D <- D u {(s_t, a*_t, s_t+1)}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import Preset, TinyRun, check_range
from reverie.algorithms.episode import Episode, finite_observation
from reverie.config import one_of
from reverie.data.replay import ReplayBuffer, transition_fields
from reverie.envs.tasks import task_info
from reverie.errors import UserError
from reverie.learners.state_value import TDValue
from reverie.models.dynamics import DynamicsModel
from reverie.models.reward_model import RewardModel, fit_reward
from reverie.models.simulator import SimulatorModel
from reverie.models.training import TrainConfig, fit
from reverie.packing import pack, unpack
from reverie.planners.mpc import make_controller
from reverie.planners.propagation import PROPAGATIONS, ParticleScorer, check_particles
from reverie.planners.shooting import PLANNER_CONFIGS, build_planner
from reverie.planners.shooting.cem import CEMConfig
from reverie.planners.shooting.icem import ICEMConfig
from reverie.planners.shooting.mppi import MPPIConfig
from reverie.planners.shooting.random_shooting import RandomShootingConfig
from reverie.planners.tree import ModelExpander, TreeConfig, build_tree_search

PlannerConfig = CEMConfig | ICEMConfig | MPPIConfig | RandomShootingConfig | TreeConfig
# the shooting planners, and tree search over Discrete actions (planners/tree.py: planner=tree)
PLANNER_CHOICES = {**PLANNER_CONFIGS, "tree": TreeConfig}
LEAF_VALUES = ("none", "td")
VALUE_BATCH = 256

NAME = "pets"
# the contract test's run
TINY = TinyRun(
    "reverie/PointMass-v0",
    {
        "hidden_size": "16",
        "num_layers": "1",
        "num_particles": "5",
        "planner.planning_horizon": "5",
        "planner.population_size": "20",
        "planner.num_iterations": "2",
        "planner.num_elites": "5",
        "random_steps": "20",
        "epochs": "2",
    },
)


# PETS's settings for each planner, where they differ from the planner's own defaults: 15 steps of look-ahead
# with every planner (mbrl-lib's cart-pole tutorial), and iCEM at the settings the pets suite measured best
# (benchmarks/results/pets: the tutorial's returns at about 1/14 of its model evaluations per step)
PLANNER_DEFAULTS = {
    "icem": {"planning_horizon": 15, "population_size": 300, "num_iterations": 3, "num_elites": 10},
    # PETS executes CEM's final mean (iCEM and MPPI keep their own choice)
    "cem": {"planning_horizon": 15, "population_size": 500, "num_iterations": 5, "num_elites": 50, "return_mean": True},
    "mppi": {"planning_horizon": 15, "population_size": 500, "num_iterations": 5},
    "random": {"planning_horizon": 15, "population_size": 500},
}
_OLD_FLAT = ("planning_horizon", "population_size", "num_iterations")


@dataclass
class Config(TrainConfig):
    """PETS settings. Defaults: the paper's ensemble and propagation with iCEM (Pinneri et al. 2020) and 5
    particles, the settings the pets suite measured best; the paper's and mbrl-lib's are presets (PRESETS)."""

    ensemble_size: int = 5  # members of the ensemble
    hidden_size: int = 200  # width of each member's hidden layers
    num_layers: int = 3  # hidden layers per member
    probabilistic: bool = True  # Gaussian outputs (PE) instead of point predictions (DE)
    # how particles pick ensemble members (the paper's section 4.2)
    propagation: str = field(default="ts-inf", metadata={"choices": PROPAGATIONS})
    num_particles: int = 5  # particles per candidate sequence (a multiple of ensemble_size)
    # the action-sequence optimiser (planner=cem|icem|mppi|random, or tree: tree search over Discrete actions)
    # and its settings (planner.KEY=VALUE)
    planner: PlannerConfig = one_of(PLANNER_CHOICES, "icem", PLANNER_DEFAULTS)
    replan_every: int = 1  # execute this many planned actions before planning again
    random_steps: int = 200  # real steps of uniformly random actions before the first model (one trial)
    # "simulator": plan with the env's true dynamics (one deterministic particle, no learning): the upper bound
    dynamics: str = field(default="learned", metadata={"choices": ("learned", "simulator")})
    reward: str = field(default="known", metadata={"choices": ("known", "learned"), "help": (
        "learned: learn reward and termination (models.reward_model) even where reverie knows them; "
        "an env with no known reward or termination learns it either way")})  # fmt: skip
    # planner=tree only: "td", a value V(s) learned by TD(0) on the real data (learners.state_value, at the
    # tree's planner.discount, which must be below 1) scores the leaves; "none": leaves are worth 0
    leaf_value: str = field(default="none", metadata={"choices": LEAF_VALUES})
    value_updates: int = 1000  # leaf_value=td: TD(0) updates (batches of 256) after each episode

    RENAMED: ClassVar[dict] = {
        **{key: f"planner.{key}" for key in _OLD_FLAT},
        "planner_elites": "planner.num_elites",
    }

    def __post_init__(self):
        for name in ("ensemble_size", "hidden_size", "num_layers"):
            check_range(name, getattr(self, name), 1, 10**7)
        check_range("replan_every", self.replan_every, 1, self.planner.planning_horizon)
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
        # fail before a run directory exists: the particle layout (the planner checked its own settings)
        check_particles(self.propagation, self.num_particles, self.ensemble_size)
        check_range("value_updates", self.value_updates, 1, 10**9)
        if self.leaf_value != "none":
            if not isinstance(self.planner, TreeConfig):
                raise ValueError(f"leaf_value={self.leaf_value} scores a tree's leaves: it needs planner=tree")
            if self.planner.discount >= 1.0:
                raise ValueError("leaf_value=td needs planner.discount below 1 (e.g. 0.99): a TD value is discounted")


# named settings (`reverie train pets --preset NAME`, listed by `reverie list pets`); the user's --set keys win
_TUTORIAL = {
    "planner": "cem",
    "planner.population_size": 500,
    "planner.num_iterations": 5,
    "planner.num_elites": 50,
    "num_particles": 20,
}
PRESETS = {
    "mbrl-lib-tutorial": Preset(
        "mbrl-lib's PETS tutorial (and the defaults before 0.2): CEM 500 x 5 iterations, 50 elites, 20 particles",
        _TUTORIAL,
    ),
    "paper": Preset(
        "Chua et al. 2018 (cart-pole): CEM 400 x 5 iterations, 40 elites, horizon 25, 20 particles",
        {**_TUTORIAL, "planner.population_size": 400, "planner.num_elites": 40, "planner.planning_horizon": 25},
    ),
    "mpc": Preset(
        "Nagabandi et al. 2018: one deterministic network, expectation, random shooting 1000 x horizon 15",
        {
            "ensemble_size": 1,
            "num_elites": 1,
            "probabilistic": False,
            "propagation": "expectation",
            "num_particles": 1,
            "planner": "random",
            "planner.population_size": 1000,
        },
        tiny=TinyRun(
            "reverie/PointMass-v0",
            {
                "hidden_size": "16",
                "num_layers": "1",
                "planner.planning_horizon": "5",
                "planner.population_size": "20",
                "random_steps": "20",
                "epochs": "2",
            },
        ),
    ),
}


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


def check_config(env: gym.Env, config: Config) -> None:
    """Tree search needs Discrete actions (and no more branching than the env has actions): refused before a run
    directory exists."""
    if isinstance(config.planner, TreeConfig):
        build_tree_search(config.planner, env.action_space)


class Agent(NamedTuple):
    """What PETS builds for an env: the ensemble f, the reward / termination model where they are learned, the
    true simulator for ``dynamics=simulator``, the particle scorer over them (for tree search: the expander of
    single states) and the planner."""

    model: DynamicsModel
    reward_model: RewardModel | None
    true_model: SimulatorModel | None
    scorer: ParticleScorer | ModelExpander
    planner: object  # a planners.shooting.ShootingPlanner or a planners.tree.TreeSearch
    n_discrete: int | None  # the number of actions of a Discrete action space, else None
    value: TDValue | None = None  # the tree's learned leaf value (leaf_value=td), else None


def build_agent(env: gym.Env, config: Config) -> Agent:
    """PETS's parts for ``env`` and ``config`` (weights drawn from torch's global generator)."""
    env_id = env.spec.id if env.spec is not None else ""
    known = task_info(env_id)
    known_reward, known_termination = (
        (known.reward_fn(), known.termination_fn()) if config.reward == "known" else (None, None)
    )
    obs_dim = env.observation_space.shape[0]
    n_discrete = int(env.action_space.n) if isinstance(env.action_space, gym.spaces.Discrete) else None
    act_dim = n_discrete or env.action_space.shape[0]
    model = DynamicsModel(
        obs_dim, act_dim, ensemble_size=config.ensemble_size, hidden_size=config.hidden_size,
        num_layers=config.num_layers, probabilistic=config.probabilistic,
    )  # fmt: skip
    reward_model = None  # r(s, a, s') and p(done | s, a, s') where not known (models/reward_model.py)
    if known_reward is None or known_termination is None:
        reward_model = RewardModel(obs_dim, act_dim, known_reward is None, known_termination is None,
                                   ensemble_size=config.ensemble_size)  # fmt: skip
    true_model = SimulatorModel(env_id) if config.dynamics == "simulator" else None
    if isinstance(config.planner, TreeConfig):
        # a tree expands single states, not particles: through the ensemble's mean (planners.tree.ModelExpander
        # says why) or the simulator, with the same known or learned reward and termination
        scorer = ModelExpander(true_model or model, known_reward, known_termination, n_discrete, reward_model)
        value = TDValue(obs_dim, config.planner.discount) if config.leaf_value == "td" else None
        if value is not None:
            scorer.leaf_value = value.leaf_value
        return Agent(model, reward_model, true_model, scorer, build_tree_search(config.planner, env.action_space),
                     n_discrete, value)  # fmt: skip
    scorer = ParticleScorer(
        true_model or model, config.propagation,
        1 if true_model is not None else config.num_particles,  # the simulator is deterministic
        known_reward, known_termination, n_discrete, reward_model,
    )  # fmt: skip
    planner = build_planner(config.planner, env.action_space)
    return Agent(model, reward_model, true_model, scorer, planner, n_discrete)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run PETS on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    torch.manual_seed(run.seed)  # weight initialisation
    agent = build_agent(env, config)
    model, reward_model, discrete = agent.model, agent.reward_model, agent.n_discrete is not None
    act_shape = () if discrete else env.action_space.shape
    buffer = ReplayBuffer(
        transition_fields(env.observation_space.shape, np.float32, act_shape, np.int64 if discrete else np.float32)
    )
    generator = torch.Generator().manual_seed(run.seed)
    controller = make_controller(agent.planner, replan_every=config.replan_every)  # the re-plan queue and planner/*
    random_action = _random_controller(env.action_space, generator)
    model_metrics, trained_on = {}, 0
    learned = _learned_parts(agent)
    restored = run.restored_arrays()
    if restored is not None:
        trained_on = _restore(restored, learned, generator)
        run.restored_buffer("data", buffer)

    # for trial k = 1..K (one episode each; the random trial is the first episodes)
    while not run.finished():
        new_data = len(buffer) >= config.random_steps and len(buffer) > trained_on
        # train a probabilistic ensemble f on D (once per trial, after the random trial)
        if new_data and agent.true_model is None:
            started = time.perf_counter()
            model_metrics = fit(model, buffer, config, generator, agent.n_discrete)
            if reward_model is not None:  # and the reward / termination where they are not known
                model_metrics.update(fit_reward(reward_model, buffer, config, generator, agent.n_discrete))
            model_metrics["time/model_train_s"] = time.perf_counter() - started
            trained_on = len(buffer)
        if new_data and agent.value is not None:  # and the tree's leaf value V, by TD(0) on D
            model_metrics.update(agent.value.fit(buffer, config.value_updates, VALUE_BATCH, generator))
            trained_on = len(buffer)
        use_model = trained_on > 0 or agent.true_model is not None
        if use_model:
            run.phase("planning", learning=True)
        else:
            run.phase("random warm-up", learning=False, ends_when=f"{config.random_steps} random steps")
        episode = Episode(env, run, finite_observation)
        controller.reset()
        # for t = 0..task horizon
        while episode.running:
            obs = episode.obs
            if not use_model:  # initialise D with a random controller
                action = random_action()
            else:
                # iCEM/CEM samples sequences a_{t:t+T}, particles propagated through f score them;
                # execute the first action a*_t of the best (the controller re-plans every replan_every steps);
                # with planner=tree, a tree search through f picks a*_t instead of CEM
                action = controller.act(obs, agent.scorer, generator)
                action = int(action) if discrete else action.numpy()
            episode.step(action)
            # record D <- D u {(s_t, a_t, s_t+1)}
            buffer.add(obs, action, episode.obs, episode.reward, episode.terminated, episode.truncated)
        metrics = {**model_metrics, **(controller.metrics() if use_model else {})}
        if not episode.finish(metrics, lambda n=trained_on: _checkpoint(learned, generator, n, buffer)):
            break
    run.save_checkpoint(*_checkpoint(learned, generator, trained_on, buffer))
    return {"model_trained_on": trained_on}


def time_planning(env: gym.Env, config: Config, steps: int = 3) -> dict:
    """Seconds per planned step and model evaluations per second of PETS's planner on ``env`` at ``config``: the
    parts ``train`` builds, planning from the env's first state for ``steps`` steps after one warm-up step (the
    cost does not depend on the weights, so the model is not trained)."""
    torch.manual_seed(0)
    agent = build_agent(env, config)
    generator = torch.Generator().manual_seed(0)
    controller = make_controller(agent.planner, replan_every=config.replan_every)
    obs = finite_observation(env.reset(seed=0)[0])
    controller.act(obs, agent.scorer, generator)  # warm-up: first calls allocate and load kernels
    controller.reset()
    for _ in range(steps):
        controller.act(obs, agent.scorer, generator)
    return controller.metrics()


def _random_controller(action_space, generator: torch.Generator):
    """A function drawing one uniform action (an int index, or a float32 array in the bounds)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return lambda: int(torch.randint(int(action_space.n), (1,), generator=generator))
    low, high = torch.as_tensor(action_space.low), torch.as_tensor(action_space.high)
    return lambda: (low + (high - low) * torch.rand(low.shape[0], generator=generator)).numpy()


def _learned_parts(agent: Agent) -> dict:
    """What a checkpoint keeps of the agent: the ensemble, and the reward model and leaf value where there are."""
    parts = {"model": agent.model}
    if agent.reward_model is not None:
        parts["reward_model"] = agent.reward_model
    if agent.value is not None:
        parts.update(value=agent.value, value_optimizer=agent.value.optimizer)
    return parts


def _checkpoint(learned: dict, generator, trained_on, buffer) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, buffers) for ``run.save_checkpoint``: the models, the random stream, and the data as chunks."""
    return pack(**learned, generator=generator, trained_on=trained_on), {"data": buffer}


def _restore(arrays, learned: dict, generator) -> int:
    return int(unpack(arrays, **learned, generator=generator, trained_on=None)["trained_on"])
