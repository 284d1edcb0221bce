"""PILCO: probabilistic inference for learning control (Deisenroth & Rasmussen 2011).

A Gaussian-process model of the dynamics keeps track of what it does not know; the policy is improved by gradient
descent on the expected long-term cost of an *analytic* rollout, where the whole state distribution is propagated
through model and controller by moment matching, so model uncertainty is averaged over instead of exploited.

Algorithm 1 of the paper:

    init: sample controller parameters theta ~ N(0, I); apply random control signals and record data
    repeat
        learn a probabilistic (GP) dynamics model, using all data
        repeat                                                      (model-based policy search)
            approximate inference for policy evaluation: get J^pi(theta)
            gradient-based policy improvement: get dJ^pi(theta) / dtheta
            update theta (CG or L-BFGS)
        until convergence; return theta*
        set pi* <- pi(theta*)
        apply pi* to the system (single trial / episode) and record data
    until task learned
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import TinyRun, check_range, finite
from reverie.algorithms.episode import Episode
from reverie.data.replay import ReplayBuffer
from reverie.envs.tasks import env_ids_with, task_info
from reverie.envs.wrappers import ActionRepeat
from reverie.errors import UserError
from reverie.models.controllers import LinearController, RBFController
from reverie.models.gp import GPModel
from reverie.packing import pack, unpack
from reverie.planners.moment_rollout import RolloutSpec, augment, rollout

NAME = "pilco"
EVALUATES_POLICY = True  # the controller is evaluated alone (--eval-every)
# the contract test's run
TINY = TinyRun(
    "reverie/PendulumSwingUp-v0",
    {
        "num_centres": "5",
        "planning_horizon": "10",
        "policy_iterations": "3",
        "policy_restarts": "0",
        "gp_iterations": "5",
    },
)


@dataclass
class Config:
    """PILCO settings (defaults: the paper's cart-pole swing-up)."""

    controller: str = field(default="rbf", metadata={"choices": ("rbf", "linear")})  # the policy's form
    num_centres: int = 50  # RBF centres (the paper's cart-pole uses 50)
    planning_horizon: int = 40  # steps of the analytic rollout: 4 s at dt 0.1 s
    random_trials: int = 1  # initial trials with uniformly random actions
    policy_iterations: int = 75  # L-BFGS iterations per policy optimisation
    # extra optimisations from a fresh random controller, the best one kept: one escapes the cart-pole's local optimum
    # (a seed that never swung up without it); it doubles the time per trial
    policy_restarts: int = 1
    max_points: int = 350  # GP training points; above this a subset is kept
    subset: str = field(
        default="recent", metadata={"choices": ("recent", "fps")}
    )  # points kept: the newest, or farthest-point sampling
    gp_iterations: int = 100  # L-BFGS iterations of the GP's hyperparameter fit
    noise_floor: float = 1e-3  # lower bound on each GP's noise std (keeps the kernel matrix invertible)

    def __post_init__(self):
        for name in ("num_centres", "planning_horizon", "policy_iterations", "gp_iterations"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("random_trials", self.random_trials, 1, 10**6)
        check_range("policy_restarts", self.policy_restarts, 0, 100)
        check_range("max_points", self.max_points, 10, 10**5)
        check_range("noise_floor", self.noise_floor, 1e-6, 1.0)


def check_env(env: gym.Env, algo: str = NAME) -> None:
    """PILCO needs 1-D Box observations and actions with finite bounds, and a known PILCO cost for the env."""
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise UserError(f"{algo} needs a 1-D Box observation space; this env has {obs_space}")
    if not isinstance(act_space, gym.spaces.Box) or len(act_space.shape) != 1:
        raise UserError(f"{algo} needs 1-D Box actions; this env has {act_space}")
    if not (np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all()):
        raise UserError(f"{algo} needs finite action bounds; this env has {act_space}")
    env_id = env.spec.id if env.spec is not None else "this env"
    if task_info(env_id).pilco_task() is None:
        raise UserError(f"{algo} has no PILCO cost for {env_id}; known: {', '.join(env_ids_with('pilco'))}")


def _problem(env: gym.Env):
    """The policy-search problem of ``env``'s PILCO task, in the model's units: (task, RolloutSpec, start mean m0
    [D], start covariance S0 [D, D])."""
    task = task_info(env.spec.id).pilco_task().in_model_units()
    low, high = (torch.as_tensor(b, dtype=torch.float64) for b in (env.action_space.low, env.action_space.high))
    spec = RolloutSpec(
        list(task.angles), low, high, torch.as_tensor(task.z_target()), torch.as_tensor(task.Q) / task.width**2
    )
    m0 = torch.tensor(task.start_mean, dtype=torch.float64)
    return task, spec, m0, torch.diag(torch.tensor(task.start_std, dtype=torch.float64) ** 2)


def time_policy_step(env: gym.Env, config: Config, points: int, repeats: int = 4) -> dict:
    """Seconds (wall, CPU) of one policy-search step as ``train`` takes it on ``env``: the analytic rollout over
    ``config.planning_horizon`` steps and its backward, through a GP of ``points`` points (fitted to random data:
    the cost depends on the sizes only) and the controller ``config`` asks for. Of ``repeats`` steps the first
    (warm-up) is left out and the median of the rest is returned; run it in a fresh process for its peak memory."""
    task, spec, m0, S0 = _problem(env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    in_dim, rng = len(spec.input_dims(obs_dim)), np.random.default_rng(0)
    model = GPModel(in_dim + act_dim, obs_dim, points, config.subset, config.noise_floor, config.gp_iterations)
    model.fit(rng.normal(size=(points, in_dim + act_dim)), 0.1 * rng.normal(size=(points, obs_dim)))
    controller = _make_controller(config, in_dim, act_dim, task, spec, torch.Generator().manual_seed(0))
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        controller.zero_grad()
        rollout(m0, S0, controller, model, spec, config.planning_horizon)[0].sum().backward()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return {"wall_s": float(np.median(wall[1:] or wall)), "cpu_s": float(np.median(cpu[1:] or cpu))}


def _make_controller(config, in_dim, out_dim, task, spec, generator):
    if config.controller == "linear":
        return LinearController(in_dim, out_dim, generator)
    # centres from the start distribution, seen through the controller's input (z without the raw angles)
    m0 = torch.tensor(task.start_mean, dtype=torch.float64)
    mz, Sz = augment(m0, torch.diag(torch.tensor(task.start_std, dtype=torch.float64) ** 2), spec.angles)
    idx = torch.as_tensor(spec.input_dims(len(m0)))
    return RBFController(in_dim, out_dim, config.num_centres, mz[idx], Sz[idx][:, idx], generator)


def _features(obs: np.ndarray, spec: RolloutSpec) -> np.ndarray:
    """Observations [n, D] -> the model's state input z_in [n, D - k + 2k] (angles replaced by sin, cos)."""
    a = obs[:, spec.angles]
    plain = [d for d in range(obs.shape[1]) if d not in spec.angles]
    return np.concatenate([obs[:, plain], np.sin(a), np.cos(a)], 1)


def train(env: gym.Env, config: Config, run) -> dict:
    """Run PILCO on ``env`` until the run's budget is spent; returns extra summary fields."""
    check_env(env)
    in_env_units = task_info(env.spec.id).pilco_task()
    # the task's control period: one decision, one model transition, is action_repeat env steps, each one counted
    env = ActionRepeat(env, in_env_units.action_repeat, run.steps_left)

    def in_periods(plain_env):  # the eval env's control period is the same
        return ActionRepeat(plain_env, in_env_units.action_repeat)

    scale = in_env_units.scale()  # PILCO models, plans and stores obs / scale (the task's units)
    task, spec, m0, S0 = _problem(env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    low, high = spec.low, spec.high
    in_dim = len(spec.input_dims(obs_dim))
    generator = torch.Generator().manual_seed(run.seed)
    torch.manual_seed(run.seed)
    model = GPModel(
        in_dim + act_dim, obs_dim, config.max_points, config.subset, config.noise_floor, config.gp_iterations
    )
    controller = _make_controller(config, in_dim, act_dim, task, spec, generator)

    def act(obs) -> np.ndarray:  # the policy pi(x) = u_max sin(pi~(x)), squashed into the action bounds
        with torch.no_grad():
            u = controller(torch.as_tensor(_features(np.asarray(obs, np.float64)[None] / scale, spec)))[0]
        return ((high + low) / 2 + (high - low) / 2 * torch.sin(u)).numpy()

    # one row per control period, in the task's units: (x, u, x') float64
    data = ReplayBuffer(
        {"obs": ((obs_dim,), np.float64), "act": ((act_dim,), np.float64), "next_obs": ((obs_dim,), np.float64)}
    )
    trials = 0
    restored = run.restored_arrays()
    if restored is not None:
        trials = _restore(restored, model, controller, generator)
        run.restored_buffer("data", data)

    while not run.finished():
        metrics = {}
        if trials < config.random_trials:
            run.phase("random warm-up", learning=False, ends_when=f"{config.random_trials} random trial(s)")
        else:
            run.phase("policy search", learning=True)
            # learn a probabilistic (GP) dynamics model, using all data: z_in, a -> x' - x
            started = time.perf_counter()
            inputs = np.concatenate([_features(data["obs"], spec), data["act"]], 1)
            metrics.update(model.fit(inputs, data["next_obs"] - data["obs"]))
            metrics["time/model_fit_s"] = time.perf_counter() - started
            # model-based policy search: J(theta) = sum_t E[c(x_t)] by moment matching, dJ/dtheta by autograd
            started = time.perf_counter()
            expected, evaluations = _optimise(
                controller, model, spec, m0, S0, config, in_dim=in_dim, act_dim=act_dim, task=task, generator=generator
            )
            metrics["policy/expected_cost"] = expected
            metrics["policy/evaluations"] = evaluations
            metrics["time/policy_opt_s"] = time.perf_counter() - started
            metrics["time/policy_step_s"] = metrics["time/policy_opt_s"] / max(evaluations, 1)
        # apply pi* to the system (a random controller before the first model) and record data
        episode, rows = Episode(env, run, lambda obs: finite(obs, "observation")), []
        while episode.running:
            if trials < config.random_trials:
                action = (low + (high - low) * torch.rand(act_dim, generator=generator, dtype=torch.float64)).numpy()
            else:
                action = act(episode.obs)
            start = episode.obs / scale
            episode.step(action.astype(env.action_space.dtype))
            if episode.info["repeat_steps"] == task.action_repeat:  # a period cut short (end, budget): no transition
                rows.append((start, action, episode.obs / scale))
        if not episode.ended:
            break
        if rows:
            starts, actions, ends = zip(*rows, strict=True)
            data.add_batch(obs=np.stack(starts), act=np.stack(actions), next_obs=np.stack(ends))
        trials += 1
        # the controller alone, when --eval-every is due, on an eval env with the same control period
        run.evaluate(lambda obs: act(obs).astype(env.action_space.dtype), wrap=in_periods)
        episode.finish(metrics, lambda done=trials: (_checkpoint(done, model, controller, generator), {"data": data}))
    run.save_checkpoint(_checkpoint(trials, model, controller, generator), buffers={"data": data})
    return {"data_points": len(data)}


def _optimise(controller, model, spec, m0, S0, config, *, in_dim, act_dim, task, generator):
    """L-BFGS on the controller's parameters; with restarts, keep the lowest expected cost. Returns (J, evals).

    m0 [D], S0 [D, D]: the start state's distribution. The keyword-only arguments build the restarts' fresh
    controllers (``_make_controller``), drawn from ``generator``.
    """
    candidates = [{k: v.detach().clone() for k, v in controller.state_dict().items()}]  # L-BFGS works in place
    for _ in range(config.policy_restarts):
        candidates.append(_make_controller(config, in_dim, act_dim, task, spec, generator).state_dict())
    best, best_cost, evaluations = None, float("inf"), 0
    for state in candidates:
        controller.load_state_dict(state)
        optimizer = torch.optim.LBFGS(
            controller.parameters(), max_iter=config.policy_iterations, line_search_fn="strong_wolfe"
        )
        history = []

        def closure(optimizer=optimizer, history=history):
            optimizer.zero_grad()
            cost = rollout(m0, S0, controller, model, spec, config.planning_horizon)[0].sum()
            cost.backward()
            history.append(float(cost.detach()))
            return cost

        try:
            optimizer.step(closure)
            with torch.no_grad():
                final = float(rollout(m0, S0, controller, model, spec, config.planning_horizon)[0].sum())
        except np.linalg.LinAlgError:  # the line search stepped to NaN parameters: this start diverged
            final = float("nan")
        evaluations += len(history)
        if np.isfinite(final) and final < best_cost:
            best, best_cost = {k: v.clone() for k, v in controller.state_dict().items()}, final
    controller.load_state_dict(best if best is not None else candidates[0])  # a diverged search changes nothing
    return best_cost, evaluations


def _checkpoint(trials, model, controller, generator) -> dict[str, np.ndarray]:
    # the GP keeps only hyperparameters (its data are the buffer's, checkpointed as chunks)
    return {**pack(trials=trials, controller=controller, generator=generator), **model.hyper_arrays()}


def _restore(arrays, model, controller, generator) -> int:
    loaded = unpack(arrays, trials=None, controller=controller, generator=generator)  # None: a plain array
    model.load_hyper_arrays(arrays)
    return int(loaded["trials"])
