"""Value Prediction Network (Oh, Singh & Lee 2017) on the Collect domain, with the paper's DQN and OPN baselines.

VPN learns a model of *values*, not of observations: an encoder to an abstract state, and per option the reward,
the discount and the next abstract state, whose value head is trained by the returns the real options earned. It
plans in that model by d-step b-best tree search (``planners.tree.bbest_root_q``, VPN's backup). The paper's
Algorithm 1 (asynchronous n-step Q-learning with k-step prediction), as this file runs it synchronously on a batch
of envs (A2C's answer to A3C's workers):

    fill a dataset with random-policy options (the authors' off-policy outcome data)
    for each round: reset B envs
        until every episode of the round ended:
            o = epsilon-greedy on Q^d(s, o) by d-step planning (s = f_enc(x))          (bbest_root_q)
            step the envs; every n options (or at an episode's end) for each env's new segment:
                targets R_t = r_t + gamma^{tau_t} R_{t+1}, R_n = max_o Q^d_target(s_n, o) (0 at the end)
                loss = sum over t, l <= k of Huber(r^l_t - r_t) + Huber(tau^l_t - tau_t) + Huber(v^l_{t+1} - R_{t+1})
                       (predictions l steps ahead from the state encoded at t - l + 1, along the real options)
                     + the reward and length losses on a random-policy segment
                one Adam step (gradient norm clipped at 40); copy to the target net every 10,000 options
        evaluate the greedy planner every eval_every options (eval_episodes new episodes, the paper's curve)

``network=dqn`` trains the paper's DQN (the same encoder, n-step Q-learning of Q(x, o), no model, no planning) and
``network=opn`` the observation-prediction network (its model predicts the next observation; the plan's values are
V(x) of predicted observations). One env step is one option; the runner's budget counts options (``--steps``), as the
paper's step counts do. The random-policy dataset is drawn before training and not counted (as in the authors'
code); the summary says how many options it holds. A round's episodes are reported together when it ends, and a
checkpoint is written between rounds, so a resumed run continues with the next round.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from reverie.algorithms.base import TinyRun, check_range
from reverie.envs.collect import Collect, CollectBatch
from reverie.errors import UserError
from reverie.learners.vpn_nets import N_OPTIONS, OPNNet, QNet, VPNNet, huber, k_step_losses, parse_ints
from reverie.packing import pack, unpack
from reverie.planners.tree import bbest_root_q

NAME = "vpn"
NETWORKS = ("vpn", "dqn", "opn")
TEST_LAYOUTS = ("train", "fgs", "mws")
EVAL_SEED = 7_000_003  # evaluation episodes are drawn from seeds far from every training round's
TINY = TinyRun(
    "reverie/Collect-v0",
    {
        "envs": "2",
        "filters": "4,4",
        "hidden": "8",
        "random_steps": "40",
        "eval_every": "20",
        "eval_episodes": "4",
        "branching": "2,1",
    },
    episodes=6,
    split_at=4,
)


@dataclass
class Config:
    """VPN's settings; defaults are the authors' Collect runs (train.py and train_vpn of their code) except where the
    comment says why not."""

    network: str = field(default="vpn", metadata={"choices": NETWORKS})  # vpn, or a baseline: dqn, opn
    branching: str = "4,4,4,1,1"  # options kept per depth of the plan; VPN(5) of the paper (VPN(3): 4,4,4)
    prediction_steps: int = -1  # k of the k-step prediction loss (-1: the plan's depth, as the authors' runs)
    n_step: int = 10  # options per segment of n-step Q-learning (the authors' t_max)
    envs: int = 16  # envs stepped together (the authors' 16 asynchronous workers)
    # segments per gradient step: 1 is the authors' update (each worker stepped Adam on its own segment of n options)
    segments_per_update: int = 1
    discount: float = 0.98  # gamma per primitive step (an option of tau steps is discounted gamma^tau)
    learning_rate: float = 1e-4  # Adam
    lr_decay: float = 0.8  # the step size times lr_decay per million options (the authors': 0.8 for VPN(5))
    grad_clip: float = 40.0  # global gradient norm
    target_sync: int = 10_000  # options between copies to the target network
    epsilon_start: float = 1.0  # the exploration rate of the first option
    epsilon_final: float = 0.05  # and after epsilon_steps options (the authors' eps)
    epsilon_steps: int = 1_000_000  # options over which epsilon falls linearly
    # random-policy options for the outcome loss (the authors': 10^6; 2 x 10^5 hold 60 MB and serve the same
    # purpose, fresh mazes every episode); 0: none
    random_steps: int = 200_000
    # the encoder's filters (3x3, 3x3 then a 4x4 stride-2 layer to a 5x5 abstract state). The authors' 32,32,64 cost
    # 120 us per option expanded on one core, 72 ms per VPN(5) decision: weeks for 2M options on a CPU; 16,16,32
    # costs a third of it
    filters: str = "16,16,32"
    hidden: int = 64  # units of the value, reward and length heads (the authors' dim)
    eval_every: int = 250_000  # options between evaluations of the greedy planner (the authors' eval-freq)
    # episodes per evaluation and per test layout at the end (the authors' eval-num is 2000: 10 CPU-minutes per
    # layout for VPN(5) here; 500 give the mean score to about 0.15)
    eval_episodes: int = 500

    def __post_init__(self):
        for name, low, high in (("n_step", 1, 1000), ("envs", 1, 4096), ("segments_per_update", 1, 4096),
                                ("target_sync", 1, 10**9), ("epsilon_steps", 1, 10**10), ("random_steps", 0, 10**8),
                                ("hidden", 1, 10**5), ("eval_every", 1, 10**10),
                                ("eval_episodes", 1, 10**7)):  # fmt: skip
            check_range(name, getattr(self, name), low, high)
        check_range("discount", self.discount, 1e-6, 1.0)
        check_range("learning_rate", self.learning_rate, 1e-12, 10.0)
        check_range("lr_decay", self.lr_decay, 1e-6, 1.0)
        check_range("grad_clip", self.grad_clip, 1e-9, 1e9)
        check_range("epsilon_start", self.epsilon_start, 0.0, 1.0)
        check_range("epsilon_final", self.epsilon_final, 0.0, 1.0)
        parse_ints(self.filters, "filters")
        branching = parse_ints(self.branching, "branching")
        if max(branching) > N_OPTIONS:
            raise ValueError(f"branching counts are at most the {N_OPTIONS} options, got '{self.branching}'")
        if self.prediction_steps != -1:
            check_range("prediction_steps", self.prediction_steps, 1, 1000)

    @property
    def depth(self) -> int:
        return len(parse_ints(self.branching, "branching"))

    @property
    def k(self) -> int:
        return self.depth if self.prediction_steps == -1 else self.prediction_steps


def check_env(env: gym.Env) -> None:
    """VPN's networks read the Collect domain's 3 x 10 x 10 images: the env must be reverie/Collect-v0 with options."""
    if not isinstance(env.unwrapped, Collect):
        raise UserError(f"{NAME} runs on reverie/Collect-v0 (its networks read the 10x10 Collect images); got {env}")
    if not env.unwrapped.rules.options:
        raise UserError(f"{NAME} plans over options: drop options=false from the env")


def make_network(config: Config):
    filters = parse_ints(config.filters, "filters")
    if config.network == "dqn":
        return QNet(filters, config.hidden)
    cls = VPNNet if config.network == "vpn" else OPNNet
    return cls(filters, config.hidden, config.discount)


def planes_of(obs: np.ndarray, time_left: np.ndarray) -> torch.Tensor:
    """Observations [B, 3, 10, 10] uint8 and remaining time [B] -> the networks' planes [B, 4, 10, 10] float32."""
    time_plane = np.broadcast_to(np.asarray(time_left, np.float32)[:, None, None, None], (len(obs), 1, 10, 10))
    return torch.from_numpy(np.concatenate([obs.astype(np.float32), time_plane], axis=1))


@torch.no_grad()
def option_values(net, planes: torch.Tensor, config: Config, chunk: int = 256) -> torch.Tensor:
    """Q(x, o) for every option, [B, 4]: d-step planning for VPN and OPN, the Q head for DQN."""
    if isinstance(net, QNet):
        return net(planes)
    branching = parse_ints(config.branching, "branching")

    def expand(states, options):
        nxt, reward, gamma, _ = net.step(states, options)
        return nxt, reward, gamma  # the learned discount is the continue of the tree

    parts = []
    for start in range(0, planes.shape[0], chunk):
        roots = net.encode(planes[start : start + chunk])
        q, _ = bbest_root_q(roots, expand, N_OPTIONS, branching, backup="vpn", leaf_value=net.value,
                            prune="expansion")  # fmt: skip
        parts.append(q)
    return torch.cat(parts)


def train(env: gym.Env, config: Config, run) -> dict:
    """Train by n-step Q-learning (and k-step prediction for VPN and OPN) until the run's budget is spent."""
    check_env(env)
    rules = env.unwrapped.rules
    batch_rules = {"layout": rules.layout, "slip": rules.slip, "goal_move": rules.goal_move,
                   "num_goals": rules.num_goals, "holes": rules.holes, "option_discount": config.discount}  # fmt: skip
    torch.manual_seed(run.seed)
    net, target = make_network(config), make_network(config)
    target.load_state_dict(net.state_dict())
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    # -- the random-policy dataset (a pure function of the seed: drawn again on resume, never saved) --------------
    restored = run.restored_arrays()
    if restored is None:  # on resume the data is drawn again, after learning began
        run.phase("random-policy options", learning=False, ends_when=f"{config.random_steps} random options")
    random_data = None
    if config.network != "dqn" and config.random_steps > 0:
        random_data = random_dataset(config.random_steps, batch_rules, np.random.default_rng([run.seed, 2]))
    state = {"round": 0, "options": 0, "updates": 0, "synced_at": 0, "cpu_s": 0.0}
    history = {"eval_steps": [], "eval_scores": []}
    if restored is not None:
        loaded = unpack(restored, net=net, target=target, optimizer=optimizer, **dict.fromkeys(state),
                        history_eval_steps=None, history_eval_scores=None)  # fmt: skip
        state = {key: type(value)(loaded[key]) for key, value in state.items()}
        history = {key: [float(v) for v in loaded[f"history_{key}"]] for key in history}
    cpu_start, cpu_before = time.process_time(), state["cpu_s"]
    run.phase(f"training {config.network}", learning=True)
    update_s, act_s, metrics = 0.0, 0.0, {}
    while not run.finished():
        # -- one round: B fresh episodes played to their ends, updates every n options --------------------------
        envs = config.envs
        episodes_left = getattr(run, "max_episodes", None)
        if episodes_left is not None:  # an episode budget is met exactly
            envs = max(1, min(envs, episodes_left - len(run.lengths)))
        # every round's randomness is a function of (seed, round): a resumed run plays what a straight one does
        generator = np.random.default_rng([run.seed, 1, state["round"]])
        seeds = [np.random.default_rng([run.seed, state["round"], i]) for i in range(envs)]
        batch = CollectBatch(envs, seeds, **batch_rules)
        obs, time_left = batch.reset(), batch.time_left()
        alive = np.ones(envs, dtype=bool)
        returns, lengths = np.zeros(envs), np.zeros(envs, dtype=np.int64)
        segment = Segment(envs)
        while alive.any():
            started = time.perf_counter()
            planes = planes_of(obs, time_left)
            actions = generator.integers(0, N_OPTIONS, envs)
            epsilon = epsilon_at(config, state["options"])
            greedy = alive & (generator.random(envs) >= epsilon)
            if greedy.any():
                actions[greedy] = option_values(net, planes[torch.from_numpy(np.flatnonzero(greedy))],
                                                config).argmax(dim=1).numpy()  # fmt: skip
            act_s += time.perf_counter() - started
            obs, reward, terminated, truncated, info = batch.step(actions)
            time_left = info["time_left"]
            ended = terminated | truncated
            for row in np.flatnonzero(alive):
                run.count_step(float(info["score"][row]))
            returns[alive] += info["score"][alive]
            lengths[alive] += 1
            state["options"] += int(alive.sum())
            segment.add(alive, planes, actions, reward, info["steps"])
            alive &= ~ended
            if segment.full(config.n_step) or not alive.any():
                started = time.perf_counter()
                bootstrap = np.zeros(envs)
                going = np.flatnonzero(alive & segment.active)
                if len(going):
                    bootstrap[going] = option_values(target, planes_of(obs, time_left)[torch.from_numpy(going)],
                                                     config).max(dim=1).values.numpy()  # fmt: skip
                metrics = update(
                    net,
                    optimizer,
                    config,
                    segment,
                    bootstrap,
                    random_data=random_data,
                    generator=generator,
                    state=state,
                )
                segment = Segment(envs)
                if state["options"] - state["synced_at"] >= config.target_sync:
                    target.load_state_dict(net.state_dict())
                    state["synced_at"] = state["options"]
                update_s += time.perf_counter() - started
        state["round"] += 1
        # -- the greedy planner's score on new episodes, the paper's learning curve --------------------------------
        eval_metrics = {}
        if state["options"] >= (len(history["eval_steps"]) + 1) * config.eval_every or run.out_of_steps():
            if not history["eval_steps"] or history["eval_steps"][-1] != state["options"]:
                score = evaluate(net, config, batch_rules, config.eval_episodes)
                history["eval_steps"].append(state["options"])
                history["eval_scores"].append(score)
                eval_metrics = {"eval/score": score}
        round_metrics = {**metrics, **eval_metrics, "train/epsilon": epsilon, "train/updates": state["updates"],
                         "time/act_s": round(act_s, 3), "time/update_s": round(update_s, 3)}  # fmt: skip
        for row in range(envs):
            run.end_episode(float(returns[row]), int(lengths[row]), None, round_metrics if row == 0 else {})
        if run.checkpoint_due() or run.finished():
            state["cpu_s"] = cpu_before + time.process_time() - cpu_start
            saved = {f"history_{key}": np.asarray(values, dtype=np.float64) for key, values in history.items()}
            run.save_checkpoint(pack(net=net, target=target, optimizer=optimizer, **state, **saved))
    # -- the paper's table: the final greedy planner on the training layout and the two unseen ones --------------
    run.phase("testing on the train, FGs and MWs layouts", learning=True)
    tests = {}
    for layout in TEST_LAYOUTS:
        layout_rules = {**batch_rules, "layout": layout, "num_goals": None, "holes": None}
        if layout == rules.layout:
            layout_rules = batch_rules
        tests[layout] = evaluate(net, config, layout_rules, config.eval_episodes)
    cpu_s = round(cpu_before + time.process_time() - cpu_start, 1)
    variant = "stochastic" if rules.slip > 0 or rules.goal_move > 0 else "deterministic"
    headline = (f"{config.network} on {variant} Collect after {state['options']:,} options: score "
                f"{tests['train']:.2f} (FGs {tests['fgs']:.2f}, MWs {tests['mws']:.2f}; {config.eval_episodes} greedy "
                "episodes each)")  # fmt: skip
    return {"network": config.network, "depth": config.depth, "options": state["options"], "updates": state["updates"],
            "random_options": config.random_steps if random_data is not None else 0, "headline": headline,
            "cpu_s": cpu_s, **{f"final_score_{layout}": value for layout, value in tests.items()},
            **history}  # fmt: skip


def epsilon_at(config: Config, options: int) -> float:
    fraction = min(1.0, options / config.epsilon_steps)
    return config.epsilon_start + fraction * (config.epsilon_final - config.epsilon_start)


class Segment:
    """Each env's options since the last update, left-aligned: planes, options, rewards, lengths, a validity mask."""

    def __init__(self, envs: int):
        self.envs, self.steps = envs, []
        self.active = np.zeros(envs, dtype=bool)  # envs with at least one option in the segment

    def add(self, alive, planes, actions, reward, lengths) -> None:
        self.steps.append((alive.copy(), planes, actions.copy(), reward.copy(), lengths.copy()))
        self.active |= alive

    def full(self, n: int) -> bool:
        return len(self.steps) >= n

    def tensors(self):
        """planes [B, T, 4, 10, 10], options, rewards, lengths and valid [B, T] (rows: the active envs)."""
        rows = np.flatnonzero(self.active)
        valid = np.stack([s[0] for s in self.steps], axis=1)[rows]
        planes = torch.stack([s[1] for s in self.steps], dim=1)[torch.from_numpy(rows)]
        options, rewards, lengths = (np.stack([s[i] for s in self.steps], axis=1)[rows] for i in (2, 3, 4))
        return (rows, planes, torch.from_numpy(options), torch.from_numpy(rewards).float(),
                torch.from_numpy(lengths).float(), torch.from_numpy(valid))  # fmt: skip


def n_step_targets(rewards: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, bootstrap: torch.Tensor,
                   discount: float) -> torch.Tensor:  # fmt: skip
    """R_t = r_t + gamma^{tau_t} R_{t+1} within each left-aligned segment, R at its end = ``bootstrap`` [B]:
    [B, T + 1] (R_T the bootstrap of a full segment; a shorter segment's value after its end is its bootstrap)."""
    batch, steps = rewards.shape
    out = torch.zeros(batch, steps + 1)
    out[:, steps] = bootstrap
    following = bootstrap.clone()
    for t in range(steps - 1, -1, -1):
        here = rewards[:, t] + discount ** lengths[:, t] * following
        following = torch.where(valid[:, t], here, bootstrap)
        out[:, t] = following
    return out


def update(net, optimizer, config: Config, segment: Segment, bootstrap, *, random_data, generator, state) -> dict:
    """Adam steps on the segments, ``segments_per_update`` at a time (with as many random-policy segments); returns
    the last step's losses per segment and the number of steps."""
    rows, planes, options, rewards, lengths, valid = segment.tensors()
    targets = n_step_targets(rewards, lengths, valid, torch.from_numpy(bootstrap[rows]).float(), config.discount)
    for group in optimizer.param_groups:  # the authors' decay: lr * decay ** (options / 10^6)
        group["lr"] = config.learning_rate * config.lr_decay ** (state["options"] / 1e6)
    order = generator.permutation(len(rows))
    for start in range(0, len(rows), config.segments_per_update):
        pick = torch.from_numpy(order[start : start + config.segments_per_update])
        segments = (planes[pick], options[pick], rewards[pick], lengths[pick], valid[pick], targets[pick])
        metrics = _gradient_step(net, optimizer, config, segments, random_data, generator)
        state["updates"] += 1
    return metrics


def _gradient_step(net, optimizer, config: Config, segments: tuple, random_data, generator) -> dict:
    """One Adam step on ``segments`` (planes, options, rewards, lengths, valid, targets) and as many random ones."""
    planes, options, rewards, lengths, valid, targets = segments
    count = len(options)
    if isinstance(net, QNet):
        flat = valid.reshape(-1)
        q = net(planes.reshape(-1, *planes.shape[2:])[flat]).gather(1, options.reshape(-1, 1)[flat]).squeeze(1)
        losses = {"q": huber(q - targets[:, :-1].reshape(-1)[flat]).sum()}
    else:
        value_rows = None
        if random_data is not None:  # the random-policy segments join the same pass (no value loss on them)
            extra = random_data.sample(count, config.n_step, generator)
            planes, options, rewards, lengths, valid, targets = _joined(
                (planes, options, rewards, lengths, valid, targets), extra, config.n_step
            )
            value_rows = torch.arange(len(options)) < count
        losses = k_step_losses(net, planes, options, valid, rewards, lengths, targets=targets, k=config.k,
                               value_rows=value_rows)  # fmt: skip
    total = sum(losses.values()) / count
    optimizer.zero_grad()
    total.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
    optimizer.step()
    metrics = {f"loss/{key}": value.item() / count for key, value in losses.items()}
    return {**metrics, "loss/grad_norm": float(grad_norm)}


def _joined(segments: tuple, extra: tuple, n: int) -> tuple:
    """On-policy ``segments`` (planes, options, rewards, lengths, valid, targets; T <= n steps) padded to n steps and
    followed by the random-policy ``extra`` (the same without targets; their targets are zeros, never used)."""
    planes, options, rewards, lengths, valid, targets = segments
    pad = n - options.shape[1]

    def widened(x, fill=0):
        return torch.cat([x, torch.full((x.shape[0], pad, *x.shape[2:]), fill, dtype=x.dtype)], dim=1) if pad else x

    r_planes, r_options, r_rewards, r_lengths, r_valid = extra
    return (torch.cat([widened(planes), r_planes]), torch.cat([widened(options), r_options]),
            torch.cat([widened(rewards), r_rewards]), torch.cat([widened(lengths), r_lengths]),
            torch.cat([widened(valid, False), r_valid]),
            torch.cat([widened(targets), torch.zeros(len(r_options), n + 1)]))  # fmt: skip


class RandomData:
    """Random-policy options, flat: planes uint8 [N, 3, 10, 10], time_left [N], option, reward, length, episode end."""

    def __init__(self, obs, time_left, options, rewards, lengths, last):
        self.obs, self.time_left, self.options = obs, time_left, options
        self.rewards, self.lengths, self.last = rewards, lengths, last
        # the next episode end at or after each row: a segment never crosses it
        ends = np.flatnonzero(last)
        self.end_at = ends[np.searchsorted(ends, np.arange(len(last)))]

    def sample(self, count: int, n: int, generator: np.random.Generator):
        """``count`` segments of up to ``n`` options from uniform start rows, cut at episode ends (``k_step_losses``'
        arguments without the targets)."""
        starts = generator.integers(0, len(self.last), count)
        offsets = np.arange(n)
        index = np.minimum(starts[:, None] + offsets, len(self.last) - 1)  # [count, n]
        valid = starts[:, None] + offsets <= self.end_at[starts][:, None]
        planes = planes_of(self.obs[index.reshape(-1)], self.time_left[index.reshape(-1)])
        return (planes.reshape(count, n, *planes.shape[1:]), torch.from_numpy(self.options[index]),
                torch.from_numpy(self.rewards[index]).float(), torch.from_numpy(self.lengths[index]).float(),
                torch.from_numpy(valid))  # fmt: skip


def random_dataset(options: int, batch_rules: dict, generator: np.random.Generator, envs: int = 64) -> RandomData:
    """``options`` options of the uniformly random policy in ``envs`` auto-resetting Collect envs."""
    batch = CollectBatch(envs, generator, **batch_rules)
    obs, time_left = batch.reset(), batch.time_left()
    steps = math.ceil(options / envs)
    record = {key: [] for key in ("obs", "time_left", "options", "rewards", "lengths", "last")}
    for _ in range(steps):
        actions = generator.integers(0, N_OPTIONS, envs)
        next_obs, reward, terminated, truncated, info = batch.step(actions)
        for key, value in (("obs", obs), ("time_left", time_left), ("options", actions), ("rewards", reward),
                           ("lengths", info["steps"]), ("last", terminated | truncated)):  # fmt: skip
            record[key].append(value)
        obs, time_left = next_obs, info["time_left"]
    # env-major order, so each env's episodes lie in a row; the last option of each env counts as an end
    arrays = {key: np.stack(values, axis=1).reshape(envs * steps, *np.shape(values[0])[1:])
              for key, values in record.items()}  # fmt: skip
    arrays["last"].reshape(envs, steps)[:, -1] = True
    return RandomData(**{key: value[:options] if key != "last" else _cut_last(value, options)
                         for key, value in arrays.items()})  # fmt: skip


def _cut_last(last: np.ndarray, options: int) -> np.ndarray:
    out = last[:options].copy()
    out[-1] = True
    return out


@torch.no_grad()
def evaluate(net, config: Config, batch_rules: dict, episodes: int, chunk: int = 250) -> float:
    """Mean score of the greedy planner over ``episodes`` new episodes (fixed seeds) of the ``batch_rules`` variant."""
    scores = []
    for start in range(0, episodes, chunk):
        envs = min(chunk, episodes - start)
        batch = CollectBatch(envs, [np.random.default_rng([EVAL_SEED, start + i]) for i in range(envs)], **batch_rules)
        obs, time_left = batch.reset(), batch.time_left()
        alive, total = np.ones(envs, dtype=bool), np.zeros(envs)
        while alive.any():
            actions = np.zeros(envs, dtype=np.int64)
            rows = np.flatnonzero(alive)
            q = option_values(net, planes_of(obs, time_left)[torch.from_numpy(rows)], config)
            actions[rows] = q.argmax(dim=1).numpy()
            obs, _, terminated, truncated, info = batch.step(actions)
            time_left = info["time_left"]
            total[alive] += info["score"][alive]
            alive &= ~(terminated | truncated)
        scores.append(total)
    return float(np.concatenate(scores).mean())
