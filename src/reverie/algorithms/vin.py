"""Value Iteration Networks (Tamar, Wu, Thomas, Levine & Abbeel 2016), trained by imitation on grid worlds.

The planning step is itself a network: value iteration written as convolution and max-pooling over action
channels (``planners/vi_module.py``), so a policy that plans can be trained end to end by backpropagation. The
paper's grid-world experiment (section 4.1), as this file runs it:

    draw the training maps and the expert's shortest paths from the data seed, the test maps from another seed
    for each epoch:
        for each batch of training maps:
            R = f_R(map image); Q = K iterations of value iteration by convolution on R     (learners/grid_policies)
            logits = reactive head(Q at each expert state)                                   (attention)
            minimise the NLL of the expert's moves (RMSprop, the authors' optimiser)
        evaluate on the test maps: action accuracy and NLL; greedy rollouts from every test start, scored by
        success rate (the goal reached within 2 x optimal + 1 moves, never leaving the free cells) and the mean
        trajectory difference (moves beyond the shortest path, over the successful rollouts): Table 1's columns

``network=cnn`` and ``network=fcn`` train the paper's two baselines on the same data with the same loop.

For the runner, one epoch is one episode: ``--episodes 40`` trains 40 epochs (the default budget). The episode's
return is the mean return of the greedy test rollouts (minus the path length walked), and its metrics hold the
test figures; no env steps are taken for training, and the env only says which maps (its ``size``,
``max_obstacles`` and ``obstacle_size``). The datasets are cached in the run directory (``grid-train.npz``,
``grid-test.npz``) and a checkpoint is written between epochs, so a resumed run continues with the next epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import TinyRun, check_range
from reverie.data.grid_demos import GridDemos, cached_demos, make_demos
from reverie.envs.grid_planning import MOVE_COSTS, MOVES, GridPlanning
from reverie.errors import UserError
from reverie.learners.grid_policies import POLICIES, imitation_loss, make_policy, paper_iterations
from reverie.packing import pack, unpack

NAME = "vin"
EVALUATES_POLICY = False  # every epoch already ends with the test-set evaluation
TINY = TinyRun(
    "reverie/GridPlanning-v0",
    {"train_maps": "24", "test_maps": "8", "maps_per_batch": "6", "iterations": "3"},
    episodes=2,
    split_at=1,
)
TEST_SEED_OFFSET = 1_000_003  # the test maps' seed lies far from every training set's


@dataclass
class Config:
    """VIN's settings; defaults are the paper's grid-world experiment (Tamar et al. 2016, appendix and code)."""

    network: str = field(default="vin", metadata={"choices": tuple(POLICIES)})  # vin, or a baseline: cnn, fcn
    iterations: int = -1  # K, value-iteration steps (-1: the paper's 10 / 20 / 36 for 8 / 16 / 28)
    train_maps: int = 5000  # maps in the training set (the paper's 5000)
    starts_per_map: int = 7  # expert trajectories per map (the paper's 7)
    test_maps: int = 1000  # held-out maps, drawn from data_seed + 1000003
    data_seed: int = 0  # the training maps' seed (the same for every run seed, so networks train on the same data)
    maps_per_batch: int = 12  # maps per gradient step, each with all its states (the authors' 12 images)
    learning_rates: str = "0.01,0.005,0.002,0.001"  # RMSprop step sizes in turn (the authors' four runs)
    epochs_per_rate: int = 10  # epochs at each step size; the last one is kept after the list ends

    def __post_init__(self):
        if self.iterations != -1:
            check_range("iterations", self.iterations, 1, 10_000)
        check_range("train_maps", self.train_maps, 1, 10**7)
        check_range("test_maps", self.test_maps, 1, 10**7)
        check_range("starts_per_map", self.starts_per_map, 1, 10_000)
        check_range("maps_per_batch", self.maps_per_batch, 1, 10**6)
        check_range("epochs_per_rate", self.epochs_per_rate, 1, 10**6)
        rates = self.rates()
        if not rates or min(rates) <= 0:
            raise ValueError(
                f"learning_rates must be positive numbers separated by commas, got '{self.learning_rates}'"
            )

    def rates(self) -> list[float]:
        try:
            return [float(part) for part in self.learning_rates.split(",") if part.strip()]
        except ValueError:
            return []


def check_env(env: gym.Env) -> None:
    """VIN trains on the grid-world domain's maps: the env must be reverie/GridPlanning-v0 (any size)."""
    if not isinstance(env.unwrapped, GridPlanning):
        raise UserError(f"{NAME} trains on reverie/GridPlanning-v0's maps (imitation of shortest paths); got {env}")
    if env.unwrapped.layout is not None:
        raise UserError(f"{NAME} trains on random maps: drop the env's fixed layout")


def train(env: gym.Env, config: Config, run) -> dict:
    """Train the policy by imitation, one epoch per episode, until the run's budget is spent."""
    check_env(env)
    grid = env.unwrapped
    iterations = paper_iterations(grid.size) if config.iterations == -1 else config.iterations
    # -- data: the training maps from the data seed, the test maps from another ------------------------------
    run.phase("drawing maps and expert paths", learning=True)
    demo_args = {"size": grid.size, "max_obstacles": grid.max_obstacles, "obstacle_size": grid.obstacle_size,
                 "starts": config.starts_per_map}  # fmt: skip
    train_set = cached_demos(run.artifact_path("grid-train.npz"), maps=config.train_maps, seed=config.data_seed,
                             **demo_args)  # fmt: skip
    test_set = cached_demos(run.artifact_path("grid-test.npz"), maps=config.test_maps,
                            seed=config.data_seed + TEST_SEED_OFFSET, **demo_args)  # fmt: skip
    torch.manual_seed(run.seed)
    policy = make_policy(config.network, grid.size, iterations)
    rates = config.rates()
    optimizer = torch.optim.RMSprop(policy.parameters(), lr=rates[0], alpha=0.9, eps=1e-6)
    epoch, history = 0, {key: [] for key in ("test_accuracy", "test_loss", "success_rate", "trajectory_diff")}
    cpu_before, cpu_start = 0.0, time.process_time()  # this process's CPU seconds: the CPU-minutes
    restored = run.restored_arrays()
    if restored is not None:  # the figures of the epochs before the checkpoint come back with it
        saved = {"epoch": None, "cpu_s": None, **{f"history_{key}": None for key in history}}
        loaded = unpack(restored, policy=policy, optimizer=optimizer, **saved)
        epoch, cpu_before = int(loaded["epoch"]), float(loaded["cpu_s"])
        history = {key: [float(v) for v in loaded[f"history_{key}"]] for key in history}
    run.phase(f"training {config.network} (K={iterations})" if config.network == "vin" else "training "
              f"{config.network}", learning=True)  # fmt: skip
    while not run.finished():
        start = time.perf_counter()
        rate = rates[min(epoch // config.epochs_per_rate, len(rates) - 1)]
        for group in optimizer.param_groups:
            group["lr"] = rate
        # -- one epoch over the training maps, a batch of maps with all their states per step -------------------
        rng = np.random.default_rng([run.seed, epoch])
        losses, updates = [], 0
        for maps in batches(rng.permutation(len(train_set.goals)), config.maps_per_batch):
            logits, actions = _logits_on(policy, train_set, maps)
            loss = imitation_loss(logits, actions)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            updates += 1
        train_s = time.perf_counter() - start
        # -- Table 1's columns on the test maps ---------------------------------------------------------------
        scores = evaluate(policy, test_set)
        for key in history:
            history[key].append(scores[key])
        epoch += 1
        metrics = {
            "imitation/train_loss": float(np.mean(losses)),
            "imitation/learning_rate": rate,
            "imitation/epoch_s": round(train_s, 3),
            "imitation/eval_s": round(time.perf_counter() - start - train_s, 3),
            **{f"imitation/{key}": value for key, value in scores.items()},
        }
        run.end_episode(scores["rollout_return"], updates, None, metrics)
        if run.checkpoint_due() or run.finished():
            saved_history = {f"history_{key}": np.asarray(values, dtype=np.float64) for key, values in history.items()}
            cpu_s = cpu_before + time.process_time() - cpu_start
            run.save_checkpoint(pack(policy=policy, optimizer=optimizer, epoch=epoch, cpu_s=cpu_s, **saved_history))
    last = {key: values[-1] for key, values in history.items() if values}
    headline = ""
    if last:
        headline = (f"{config.network} on {grid.size}x{grid.size} test maps: action accuracy "
                    f"{100 * last['test_accuracy']:.2f}%, success {100 * last['success_rate']:.2f}%, trajectory "
                    f"difference {last['trajectory_diff']:.4f} moves")  # fmt: skip
    cpu_s = round(cpu_before + time.process_time() - cpu_start, 1)
    return {"network": config.network, "iterations": iterations, "epochs": epoch, "headline": headline, "cpu_s": cpu_s,
            **{f"final_{key}": value for key, value in last.items()},
            **{f"epoch_{key}": values for key, values in history.items()}}  # fmt: skip


def evaluate_policy(
    arrays: dict,
    network: str,
    *,
    size: int,
    iterations: int,
    max_obstacles: int | None = None,
    obstacle_size: int | None = None,
    maps: int = 1000,
    starts: int = 7,
    seed: int = 2_000_003,
) -> dict:
    """A trained policy (``arrays``: a run's checkpoint arrays) on ``maps`` new maps of side ``size``, density
    ``max_obstacles`` / ``obstacle_size`` (None: the generator's defaults), with K = ``iterations`` (VIN is
    convolutional, so the same weights run on any grid); returns ``evaluate``'s figures."""
    policy = make_policy(network, size, iterations)
    unpack({k: v for k, v in arrays.items() if k.startswith("policy.")}, policy=policy)
    grid = GridPlanning(size=size, max_obstacles=max_obstacles, obstacle_size=obstacle_size)
    demos = make_demos(maps=maps, starts=starts, size=size, seed=seed, max_obstacles=grid.max_obstacles,
                       obstacle_size=grid.obstacle_size)  # fmt: skip
    return evaluate(policy, demos)


def batches(order: np.ndarray, size: int):
    for start in range(0, len(order), size):
        yield order[start : start + size]


def _logits_on(policy, demos: GridDemos, maps: np.ndarray):
    """The policy's logits at every expert state of ``maps``, and the expert's moves: [N, 8], [N]."""
    maps = np.sort(maps)
    rows = demos.sample_rows(maps)
    local = np.searchsorted(maps, demos.sample_map[rows])
    features = policy.features(torch.from_numpy(demos.images(maps)))
    logits = policy.logits(features, torch.from_numpy(local), torch.from_numpy(demos.sample_position[rows]))
    return logits, torch.from_numpy(demos.sample_action[rows])


@torch.no_grad()
def evaluate(policy, demos: GridDemos, chunk: int = 250) -> dict:
    """Table 1's figures on ``demos``: action accuracy and NLL over its expert states, and greedy rollouts from every
    trajectory's start: success rate, mean trajectory difference of the successes, mean return (minus the length
    walked)."""
    correct, nll, count = 0, 0.0, 0
    successes, differences, returns = [], [], []
    for maps in batches(np.arange(len(demos.goals)), chunk):
        logits, actions = _logits_on(policy, demos, maps)
        correct += int((logits.argmax(dim=1) == actions).sum())
        nll += float(imitation_loss(logits, actions)) * len(actions)
        count += len(actions)
        reached, moves, walked = greedy_rollouts(policy, demos, maps)
        optimal = demos.optimal_steps[demos.start_rows(maps)]
        successes.append(reached)
        differences.append((moves - optimal)[reached])
        returns.append(walked)
    successes, differences = np.concatenate(successes), np.concatenate(differences)
    return {
        "test_accuracy": correct / max(count, 1),
        "test_loss": nll / max(count, 1),
        "success_rate": float(successes.mean()),
        "trajectory_diff": float(differences.mean()) if len(differences) else float("nan"),
        "rollout_return": float(np.concatenate(returns).mean()),
    }


def greedy_rollouts(policy, demos: GridDemos, maps: np.ndarray):
    """Greedy rollouts from every start on ``maps`` (sorted), all at once: (reached [T] bool, moves [T] int64,
    return [T] float64). A rollout fails when it leaves the free cells or runs out of its 2 x optimal + 1 moves."""
    rows = demos.start_rows(maps)
    on_map = np.searchsorted(maps, demos.start_map[rows])
    features = policy.features(torch.from_numpy(demos.images(maps)))
    obstacles, goals = demos.obstacles[maps], demos.goals[maps]
    position = demos.start_position[rows].copy()
    limit = 2 * demos.optimal_steps[rows] + 1
    reached, failed = np.zeros(len(rows), bool), np.zeros(len(rows), bool)
    moves, walked = np.zeros(len(rows), np.int64), np.zeros(len(rows))
    size = obstacles.shape[-1]
    for _ in range(int(limit.max())):
        active = np.flatnonzero(~reached & ~failed & (moves < limit))
        if len(active) == 0:
            break
        logits = policy.logits(features, torch.from_numpy(on_map[active]), torch.from_numpy(position[active]))
        action = logits.argmax(dim=1).numpy()
        target = position[active] + MOVES[action]
        moves[active] += 1
        walked[active] -= MOVE_COSTS[action]
        inside = ((target >= 0) & (target < size)).all(axis=1)
        clipped = np.clip(target, 0, size - 1)
        blocked = ~inside | obstacles[on_map[active], clipped[:, 0], clipped[:, 1]]
        failed[active[blocked]] = True
        moving = active[~blocked]
        position[moving] = target[~blocked]
        reached[moving] = (position[moving] == goals[on_map[moving]]).all(axis=1)
    return reached, moves, walked
