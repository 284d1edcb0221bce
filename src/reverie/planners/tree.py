"""Tree search over discrete actions in a model ("reversible planning"): try an action, go back to the parent, try
the next. Going back is free because every node keeps its state tensor in memory, so no model is ever rewound.

The searches are model-agnostic. They see the model only through

- ``expand(states [N, ...], actions [N] int64) -> (next_states [N, ...], rewards [N], continues [N])``, where
  ``continues`` lies in [0, 1]: 1 - terminated for a known termination, or a learned probability of going on (or a
  learned discount). A node whose continue is 0 is a dead end and is never expanded;
- ``leaf_value(states [N, ...]) -> [N]`` (optional, None: 0), the value of the states the search stops at;
- ``q_estimate(states [N, ...]) -> [N, n_actions]`` (optional, b-best only), which actions are worth expanding.

Two searches, chosen by ``TreeConfig.search``:

- ``"bbest"``, depth-limited b-best search (Oh et al. 2017, Value Prediction Network): depth d expands the
  ``branching[d]`` best actions of every live node of that depth (best by ``q_estimate``; without it, all actions
  when the branching equals their number, exhaustive search, else a random subset). Every node of one depth is
  expanded in ONE ``expand`` call of ``[nodes x branching]`` rows, which is what makes it fast: a batched model costs
  about as much for a thousand rows as for one. The backup is the plain max (or VPN's value mixture,
  ``backup="vpn"``);
- ``"uct"``, Monte Carlo tree search with UCB1 selection (Kocsis & Szepesvari 2006): each of ``simulations``
  simulations descends by UCB1, expands one untried action, evaluates the new leaf (``leaf_value``, a random rollout
  in the model, or 0) and backs the discounted return up the path. It is sequential by nature: one row per call.

``TreeSearch.plan`` returns a ``TreeResult``: the root action, the greedy path's actions (for MPC that executes more
than one), the root's Q per action and ``TreeStats`` (nodes expanded, ``expand`` calls, rows, depth reached, mean
branching). ``TreeController`` is the MPC loop around it (plan, execute, re-plan; the ``planner/*`` metrics, as
``planners.mpc.MPCController`` does for the shooting planners), and ``ModelExpander`` is ``expand`` through a learned
ensemble or the true simulator (``models.model_env.ModelEnv``), which is how PETS plans with ``planner=tree``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from reverie.config import check_range
from reverie.errors import UserError
from reverie.models.model_env import ModelEnv

# (states [N, ...], actions [N] int64) -> (next_states [N, ...], rewards [N], continues [N] in [0, 1])
Expand = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
StateValue = Callable[[Tensor], Tensor]  # states [N, ...] -> [N]
QEstimate = Callable[[Tensor], Tensor]  # states [N, ...] -> [N, n_actions]

SEARCHES = ("bbest", "uct")
BACKUPS = ("max", "vpn")
MAX_DEPTH = 1000
# a b-best tree above this many nodes is refused when it is built: its levels are held in memory at once
MAX_BBEST_NODES = 10**7


def _check(name: str, value, low, high) -> None:
    """``config.check_range``, raised as the one-line UserError a directly built config gives too."""
    try:
        check_range(name, value, low, high)
    except ValueError as error:
        raise UserError(str(error)) from None


@dataclass
class TreeConfig:
    """Tree search over discrete actions: depth-limited b-best search (Oh et al. 2017) or UCT (Kocsis & Szepesvari
    2006). Defaults: exhaustive search 10 steps deep, the undiscounted return (as PETS's shooting planners score)."""

    # bbest: expand the best `branching` actions of every node, depth by depth, one batched call per depth;
    # uct: Monte Carlo tree search with UCB1, one expansion per simulation
    search: str = field(default="bbest", metadata={"choices": SEARCHES})
    depth: int = 10  # bbest: the search depth; uct: the deepest a node may lie (rollouts may go further)
    # bbest: actions expanded per node at each depth, comma-separated, one per depth (e.g. 4,4,4,1,1 as VPN(5)),
    # or one number for every depth; empty: all actions (exhaustive search)
    branching: str = ""
    # bbest: max: V(s) = max_a Q(s, a); vpn: Oh et al. 2017's mixture of the node's own value and the max
    backup: str = field(default="max", metadata={"choices": BACKUPS})
    simulations: int = 200  # uct: simulations per plan (each expands at most one node)
    # uct: c in UCB1's Q~ + c sqrt(ln N(s) / N(s, a)), Q~ the Q rescaled into [0, 1] by the tree's Q range;
    # sqrt(2) is UCB1's own
    exploration: float = 1.414
    discount: float = 1.0  # gamma of the backed-up returns: Q(s, a) = r + gamma * continue * V(s')
    rollout_length: int = 0  # uct: random-action steps in the model from a new leaf (0: leaf_value, or 0)

    def __post_init__(self):
        if self.search not in SEARCHES:
            raise UserError(f"search must be one of {', '.join(SEARCHES)}, got '{self.search}'.")
        if self.backup not in BACKUPS:
            raise UserError(f"backup must be one of {', '.join(BACKUPS)}, got '{self.backup}'.")
        _check("depth", self.depth, 1, MAX_DEPTH)
        _check("simulations", self.simulations, 1, 10**7)
        _check("exploration", self.exploration, 0.0, 1e9)
        _check("discount", self.discount, 0.0, 1.0)
        _check("rollout_length", self.rollout_length, 0, 10**6)
        if isinstance(self.branching, list | tuple):  # from Python: (4, 4, 4, 1, 1); kept as the text --set gives
            self.branching = ",".join(str(b) for b in self.branching)
        self.branching = str(self.branching).replace(" ", "")
        self.branching_per_depth(None)  # the format and length checks

    @property
    def planning_horizon(self) -> int:
        """The longest plan the search returns (PETS checks ``replan_every`` against it)."""
        return self.depth

    def branching_per_depth(self, n_actions: int | None) -> tuple[int, ...]:
        """``branching`` as one count per depth, ``[depth]``; empty means ``n_actions`` everywhere (0 if unknown)."""
        if not self.branching:
            return (n_actions or 0,) * self.depth
        try:
            counts = tuple(int(part) for part in self.branching.split(","))
        except ValueError:
            raise UserError(
                f"branching must be comma-separated whole numbers, one per depth (e.g. 4,4,4,1,1), got "
                f"'{self.branching}'."
            ) from None
        if len(counts) == 1:
            counts = counts * self.depth
        if len(counts) != self.depth:
            raise UserError(f"branching lists {len(counts)} counts but depth is {self.depth}: give one per depth.")
        if min(counts) < 1:
            raise UserError(f"branching counts must be at least 1, got '{self.branching}'.")
        if n_actions is not None and max(counts) > n_actions:
            raise UserError(f"branching {max(counts)} exceeds the env's {n_actions} actions ('{self.branching}').")
        return counts


class TreeStats(NamedTuple):
    """What one search cost and reached."""

    nodes: int  # nodes expanded (created), the root not counted
    calls: int  # expand calls, rollouts included
    rows: int  # rows passed to expand, rollouts included (the model evaluations, before any ensemble factor)
    depth: int  # the deepest node's depth (the root is 0)
    branching: float  # mean children per expanded node (nodes / nodes with children)


class TreeResult(NamedTuple):
    """``action``: the root's choice; ``actions`` ``[k]`` int64: the greedy path from the root (``actions[0] ==
    action``; k <= depth, shorter where the path meets a dead end or the tree's edge); ``root_q`` ``[n_actions]``:
    Q(root, a), NaN for an action not expanded; ``value``: Q(root, action); ``stats``."""

    action: int
    actions: Tensor
    root_q: Tensor
    value: float
    stats: TreeStats


def _best_child(q: Tensor, tie_break: Tensor, generator: torch.Generator | None) -> int:
    """The index of a maximum of ``q`` ``[k]``; among exact ties the maximum of ``tie_break`` ``[k]``, and among
    ties of both a uniformly random one (always the first would push a cart-pole steadily to one side)."""
    best = (q == q.max()).nonzero().reshape(-1)
    best = best[tie_break[best] == tie_break[best].max()]
    if len(best) == 1 or generator is None:
        return int(best[0])
    return int(best[torch.randint(len(best), (1,), generator=generator)])


def _checked(next_states: Tensor, rewards: Tensor, continues: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """``expand``'s outputs with their shapes checked; returns (next_states, rewards float, continues float)."""
    if next_states.shape[0] != n or rewards.shape != (n,) or continues.shape != (n,):
        raise ValueError(
            f"expand must return next_states [{n}, ...], rewards [{n}] and continues [{n}], got "
            f"{tuple(next_states.shape)}, {tuple(rewards.shape)}, {tuple(continues.shape)}"
        )
    return next_states, rewards.float(), continues.float()


def _finite_rows(states: Tensor, rewards: Tensor) -> Tensor:
    """[N] bool: rows whose next state and reward are finite (a diverged model's rows are dead ends)."""
    return torch.isfinite(states.reshape(states.shape[0], -1)).all(dim=1) & torch.isfinite(rewards)


class _Level(NamedTuple):
    """The nodes of one depth t >= 1 of a b-best tree, ``[M]`` each (states ``[M, ...]``)."""

    states: Tensor
    parent: Tensor  # index of each node's parent among the nodes of depth t - 1
    action: Tensor  # the action that led from the parent here
    reward: Tensor
    continues: Tensor
    finite: Tensor  # bool: the prediction was finite
    live: Tensor  # bool: finite and not terminated, so expanded at depth t + 1 (if t < depth)


def bbest_search(
    root: Tensor,
    expand: Expand,
    n_actions: int,
    branching: tuple[int, ...],
    *,
    discount: float = 1.0,
    backup: str = "max",
    leaf_value: StateValue | None = None,
    q_estimate: QEstimate | None = None,
    generator: torch.Generator | None = None,
) -> TreeResult:
    """Depth-limited b-best search from ``root`` ``[...]``: ``len(branching)`` levels, level t expanding
    ``branching[t]`` actions of each live node in one batched ``expand`` call.

    Values, with k the depth still to go below a node (k = 0 at the deepest level) and v the ``leaf_value``:

        V^0(s) = v(s)
        Q^k(s, a) = r + gamma * c * V^{k-1}(s')
        V^k(s) = max_{expanded a} Q^k(s, a)                                   backup="max"
        V^k(s) = 1/(k+1) v(s) + k/(k+1) max_{expanded a} Q^k(s, a)            backup="vpn"

    The "vpn" line is Oh et al. 2017, eq. (1), d-step planning, V^d(s) = V(s) if d = 1 and otherwise
    (1/d) V(s) + ((d-1)/d) max_o Q^{d-1}(s, o), with Q^d(s, o) = r + gamma V^d(s'): the paper's d is our k + 1 (its
    V^1 is a node with no step left). Mixing in the node's own value at every depth averages the value predictions
    of all depths, which damps the error of a deep, learned rollout; with no ``leaf_value`` it only shrinks the
    deeper part of the return, so it is meant for searches that have one.
    """
    tree = _bbest_tree(root.unsqueeze(0), expand, n_actions, branching, discount=discount, backup=backup,
                       leaf_value=leaf_value, q_estimate=q_estimate, generator=generator)  # fmt: skip
    # -- the root's Q and the greedy path ---------------------------------------------------------------------
    root_q = torch.full((n_actions,), math.nan, device=root.device)
    actions: list[int] = []
    node = 0
    for level, q, m in zip(tree.levels, tree.q, tree.mean, strict=True):
        kids = (level.parent == node).nonzero().reshape(-1)
        if len(kids) == 0:
            break
        if not actions:
            root_q[level.action[kids]] = q[kids]
        pick = int(kids[_best_child(q[kids], m[kids], generator)])
        actions.append(int(level.action[pick]))
        node = pick
    best_q = float(root_q[actions[0]]) if actions else math.nan
    return TreeResult(actions[0], torch.tensor(actions, dtype=torch.int64), root_q, best_q, tree.stats)


def bbest_root_q(
    roots: Tensor,
    expand: Expand,
    n_actions: int,
    branching: tuple[int, ...],
    *,
    discount: float = 1.0,
    backup: str = "max",
    leaf_value: StateValue | None = None,
    prune: str = "estimate",
    q_estimate: QEstimate | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, TreeStats]:
    """``bbest_search``'s values for many roots at once: ``roots`` ``[R, ...]`` -> (Q ``[R, n_actions]``, -inf for an
    action not expanded at the root; the stats of the whole batch). Every level of every tree is one ``expand``
    call, so R trees cost about as many calls as one.

    ``prune`` says how a level picks the ``branching[t]`` actions worth keeping: ``"estimate"`` by ``q_estimate``
    (as ``bbest_search``), ``"expansion"`` by expanding *all* actions and keeping the children with the best
    one-step Q, r + gamma * c * v(s'): VPN's rule (Oh et al. 2017, section 3.2; the authors' code expands every
    option at every depth and keeps the top b), which needs ``leaf_value``.
    """
    if prune not in ("estimate", "expansion"):
        raise ValueError(f"prune must be 'estimate' or 'expansion', got {prune!r}")
    tree = _bbest_tree(roots, expand, n_actions, branching, discount=discount, backup=backup, leaf_value=leaf_value,
                       q_estimate=q_estimate, generator=generator, by_expansion=prune == "expansion")  # fmt: skip
    root_q = torch.full((roots.shape[0], n_actions), -math.inf, device=roots.device)
    if tree.levels:
        first = tree.levels[0]
        root_q[first.parent, first.action] = tree.q[0]
    return root_q, tree.stats


class _Tree(NamedTuple):
    levels: list[_Level]
    q: list[Tensor]  # per level, Q of each node's incoming edge
    mean: list[Tensor]  # the same recursion with the mean over children (bbest_search's tie-break)
    stats: TreeStats


def _bbest_tree(roots: Tensor, expand: Expand, n_actions: int, branching: tuple[int, ...], *, discount: float,
                backup: str, leaf_value, q_estimate, generator, by_expansion: bool = False) -> _Tree:  # fmt: skip
    """Build the b-best trees of ``roots`` ``[R, ...]`` level by level and back their values up (``bbest_search``)."""
    if backup not in BACKUPS:
        raise ValueError(f"backup must be one of {BACKUPS}, got {backup!r}")
    if by_expansion and leaf_value is None:
        raise ValueError("pruning by expansion scores children by r + gamma * c * v(s'): it needs a leaf_value")
    device = roots.device

    def own_value(level_states: Tensor, level_live: Tensor) -> Tensor:
        """v(s) of the live nodes of a level (0 elsewhere: a dead end's value is never used)."""
        out = torch.zeros(level_live.shape[0], device=device)
        if leaf_value is not None and level_live.any():
            out[level_live] = torch.nan_to_num(leaf_value(level_states[level_live]).float(), nan=-math.inf)
        return out

    def edge_values(level: _Level, child_value: Tensor) -> Tensor:
        """r + gamma * c * V(s') per node of ``level``; -inf where the prediction was not finite (never the max)."""
        going_on = torch.where(level.continues > 0, child_value, 0.0)  # c = 0 must not meet V = -inf: 0 * inf = NaN
        q = torch.where(level.finite, level.reward + discount * level.continues * going_on, -math.inf)
        return torch.nan_to_num(q, nan=-math.inf)

    # -- expansion: one batched call per depth ----------------------------------------------------------------
    levels: list[_Level] = []
    root_live = torch.ones(roots.shape[0], dtype=torch.bool, device=device)
    states, live = roots, root_live
    expanded_parents, rows, values = 0, 0, []  # values: v(s) per level when pruning by expansion computed it
    for b in branching:
        parents = live.nonzero().reshape(-1)  # a terminated or diverged node has no children
        if len(parents) == 0:
            break
        expanded_parents += len(parents)
        tried = n_actions if by_expansion else b
        if by_expansion or b >= n_actions:
            chosen = torch.arange(n_actions, device=device).expand(len(parents), -1)
        else:
            chosen = _choose_actions(states[parents], b, n_actions, q_estimate, generator)  # [P, b]
        parent = parents.repeat_interleave(tried)  # [P * b]: node i's children are a block of b rows
        action = chosen.reshape(-1)
        next_states, rewards, continues = _checked(*expand(states[parent], action), len(action))
        rows += len(action)
        finite = _finite_rows(next_states, rewards)
        level = _Level(next_states, parent, action, rewards, continues, finite, finite & (continues > 0))
        if by_expansion:
            value = own_value(level.states, level.live)
            if b < n_actions:  # keep each parent's b children of best one-step Q
                keep = edge_values(level, value).reshape(-1, n_actions).topk(b, dim=1).indices
                keep = (keep + n_actions * torch.arange(len(parents), device=device).unsqueeze(1)).reshape(-1)
                level, value = _Level(*(field[keep] for field in level)), value[keep]
            values.append(value)
        levels.append(level)
        states, live = level.states, level.live

    # -- backup, deepest level first --------------------------------------------------------------------------
    # V^0 at the deepest nodes; when every branch ended early, the deepest level holds only dead ends (V unused).
    # Beside V, the same recursion with the mean over the children in place of the max (M) breaks ties between
    # equally valued actions: with a 0/1 termination most actions survive the horizon equally (Q = the depth), and
    # the higher M, the more continuations of that action survive too: a more robust state. On CartPole-v1 with
    # the true model at depth 10, random ties drove the cart off the track after 92-263 steps (seeds 0-3); with M
    # all four balanced the full 500. M changes no value, only which of exactly equal maxima is taken.
    if levels:
        value = values[-1] if values else own_value(levels[-1].states, levels[-1].live)
    else:
        value = torch.zeros(0, device=device)
    mean_value = value
    q_per_level: list[Tensor] = [torch.empty(0)] * len(levels)
    m_per_level: list[Tensor] = [torch.empty(0)] * len(levels)
    for t in range(len(levels) - 1, -1, -1):
        level = levels[t]
        parent_states, parent_live = (levels[t - 1].states, levels[t - 1].live) if t else (roots, root_live)
        n_parents = len(parent_live)
        q, m = edge_values(level, value), edge_values(level, mean_value)
        q_per_level[t], m_per_level[t] = q, m
        best = torch.full((n_parents,), -math.inf, device=device).scatter_reduce(0, level.parent, q, "amax")
        children = torch.zeros(n_parents, device=device).index_add_(0, level.parent, torch.ones_like(m))
        mean = torch.zeros(n_parents, device=device).index_add_(0, level.parent, m) / children.clamp(min=1)
        if backup == "vpn":
            k = len(branching) - t  # the depth still to go below the parents
            own = values[t - 1] if values and t else own_value(parent_states, parent_live)
            best, mean = (own + k * best) / (k + 1), (own + k * mean) / (k + 1)
        value, mean_value = torch.where(parent_live, best, 0.0), torch.where(parent_live, mean, 0.0)
    nodes = sum(len(level.action) for level in levels)
    stats = TreeStats(nodes, len(levels), rows, len(levels), nodes / max(expanded_parents, 1))
    return _Tree(levels, q_per_level, m_per_level, stats)


def _choose_actions(states: Tensor, b: int, n_actions: int, q_estimate: QEstimate | None, generator) -> Tensor:
    """[P, b] int64: the b actions each of the P nodes expands (all, the b best by ``q_estimate``, or random)."""
    p, device = states.shape[0], states.device
    if b >= n_actions:
        return torch.arange(n_actions, device=device).expand(p, -1)
    if q_estimate is not None:
        q = q_estimate(states)
        if q.shape != (p, n_actions):
            raise ValueError(f"q_estimate must return [{p}, {n_actions}], got {tuple(q.shape)}")
        return q.topk(b, dim=1).indices
    # no estimate: a uniformly random subset of b actions per node (the top b of uniform keys)
    return torch.rand(p, n_actions, generator=generator, device=device).topk(b, dim=1).indices


def uct_search(
    root: Tensor,
    expand: Expand,
    n_actions: int,
    *,
    depth: int,
    simulations: int,
    exploration: float,
    discount: float = 1.0,
    rollout_length: int = 0,
    leaf_value: StateValue | None = None,
    generator: torch.Generator | None = None,
) -> TreeResult:
    """UCT from ``root`` ``[...]``: ``simulations`` times select, expand one node, evaluate it, back up.

    Per simulation, mapped to the code below:

        s = root
        while s is live and above the depth limit:            (selection)
            if s has an untried action a:                     (expansion: one expand call, one row)
                s' = new child of s by a; s = s'; break
            s = the child maximising Q~(s, a) + c sqrt(ln N(s) / N(s, a))    (UCB1)
        G = 0 if s terminated else the leaf's value:          (evaluation)
            rollout_length random actions in the model, discounted, then leaf_value (or 0) at the end
        for each node on the path, deepest first:             (backup)
            G = r + gamma * c * G;  N(node) += 1;  W(node) += G      (Q = W / N)

    UCB1's bound is for returns in [0, 1] (Auer et al. 2002, whose c is sqrt(2)), and a tree's returns have any
    scale (a cart-pole's grow by 1 a step), so Q~ is Q rescaled by the smallest and largest Q in the tree so far,
    as MuZero does (Schrittwieser et al. 2020, appendix B); ``exploration`` then means the same on every task.

    The statistics sit in flat NumPy arrays indexed by node (a node holds the edge into it: its action's reward,
    continue, visits N and return sum W), the states in one preallocated tensor ``[simulations + 1, ...]``: a
    simulation adds at most one node. An untried action is drawn at random, so no action order is favoured. The
    root's action is its most visited child (the "robust child"; ties: the higher Q), and so is each step of the
    greedy path.
    """
    capacity = simulations + 1
    states = root.new_empty((capacity, *root.shape))
    states[0] = root
    children = np.full((capacity, n_actions), -1, dtype=np.int64)  # node index of child a, -1: untried
    visits, returns = np.zeros(capacity), np.zeros(capacity)
    reward, continues = np.zeros(capacity), np.ones(capacity)
    node_depth, action_into = np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.int64)
    dead = np.zeros(capacity, dtype=bool)  # the model's prediction was not finite: never selected
    leaf_cache = np.full(capacity, math.nan)  # a deterministic leaf value, computed once per node
    size, calls, rows = 1, 0, 0
    q_low, q_high = math.inf, -math.inf  # the range of every node's Q so far, which UCB1 rescales Q by

    def step(state: Tensor, action: int) -> tuple[Tensor, float, float, bool]:
        nonlocal calls, rows
        act = torch.tensor([action], dtype=torch.int64, device=root.device)
        next_state, r, c = _checked(*expand(state.unsqueeze(0), act), 1)
        calls, rows = calls + 1, rows + 1
        return next_state[0], float(r[0]), float(c[0]), bool(_finite_rows(next_state, r)[0])

    def evaluate(node: int) -> float:
        if continues[node] == 0:  # the episode ended on the edge into this node: nothing follows
            return 0.0
        if rollout_length == 0 and not math.isnan(leaf_cache[node]):
            return leaf_cache[node]
        state, total, weight = states[node], 0.0, 1.0
        for _ in range(rollout_length):
            action = int(torch.randint(n_actions, (1,), generator=generator))
            state, r, c, finite = step(state, action)
            if not finite:  # a diverged rollout ends with what it gathered so far
                weight = 0.0
                break
            total, weight = total + weight * r, weight * discount * c
            if weight == 0.0:
                break
        if leaf_value is not None and weight > 0.0:
            v = float(leaf_value(state.unsqueeze(0))[0])
            total += weight * (v if math.isfinite(v) else 0.0)
        if rollout_length == 0:
            leaf_cache[node] = total
        return total

    for _ in range(simulations):
        node, path = 0, [0]
        # selection and expansion
        while continues[node] > 0 and node_depth[node] < depth:
            untried = np.flatnonzero(children[node] < 0)
            if untried.size:
                action = int(untried[torch.randint(untried.size, (1,), generator=generator)])
                next_state, r, c, finite = step(states[node], action)
                new, size = size, size + 1
                children[node, action] = new
                states[new], reward[new], continues[new] = next_state, r, c
                node_depth[new], action_into[new], dead[new] = node_depth[node] + 1, action, not finite
                node = new
                path.append(new)
                break
            kids = children[node][~dead[children[node]]]
            if kids.size == 0:  # every child diverged: this node is evaluated as a leaf
                break
            q = returns[kids] / visits[kids]
            q = (q - q_low) / (q_high - q_low) if q_high > q_low else np.zeros_like(q)  # into [0, 1]
            ucb = q + exploration * np.sqrt(math.log(visits[node]) / visits[kids])
            node = int(kids[np.argmax(ucb)])
            path.append(node)
        if dead[node]:  # a diverged prediction: the simulation is spent, and nothing is backed up
            continue
        # evaluation and backup
        g = evaluate(node)
        for n in reversed(path[1:]):
            g = reward[n] + discount * continues[n] * g
            visits[n] += 1
            returns[n] += g
            q_low, q_high = min(q_low, returns[n] / visits[n]), max(q_high, returns[n] / visits[n])
        visits[0] += 1

    def robust_child(node: int) -> int:
        """The most visited live child of ``node`` (the higher Q on ties), -1 when it has none."""
        kids = children[node][children[node] >= 0]
        kids = kids[~dead[kids] & (visits[kids] > 0)]
        if kids.size == 0:
            return -1
        return int(max(kids, key=lambda k: (visits[k], returns[k] / visits[k])))

    root_kids = children[0]
    tried = (root_kids >= 0) & (visits[np.maximum(root_kids, 0)] > 0)
    root_q = torch.full((n_actions,), math.nan)
    root_q[torch.as_tensor(tried)] = torch.as_tensor(returns[root_kids[tried]] / visits[root_kids[tried]]).float()
    actions, node = [], robust_child(0)
    while node >= 0:
        actions.append(int(action_into[node]))
        node = robust_child(node)
    if not actions:  # every expansion of the root diverged: any action is as good as another
        actions = [int(torch.randint(n_actions, (1,), generator=generator))]
    with_children = int((children[:size] >= 0).any(axis=1).sum())
    stats = TreeStats(size - 1, calls, rows, int(node_depth[:size].max()), (size - 1) / max(with_children, 1))
    value = float(root_q[actions[0]])
    return TreeResult(actions[0], torch.tensor(actions, dtype=torch.int64), root_q.to(root.device), value, stats)


class TreeSearch:
    """The search ``config`` chooses, for ``n_actions`` discrete actions: ``plan(root, expand, generator)``.

    It has the shooting planners' ``horizon``, ``reset`` and ``shift`` too, so code written for an MPC planner
    (``replan_every`` checks, episode resets) runs unchanged; a tree search keeps nothing between plans.
    """

    def __init__(self, config: TreeConfig, n_actions: int):
        if n_actions < 1:
            raise UserError(f"tree search needs at least one action, got {n_actions}.")
        self.config, self.n_actions, self.horizon = config, int(n_actions), config.depth
        self.branching = config.branching_per_depth(self.n_actions)  # also refuses a branching above n_actions
        if config.search == "bbest":
            nodes = sum(math.prod(self.branching[: t + 1]) for t in range(config.depth))
            if nodes > MAX_BBEST_NODES:
                raise UserError(
                    f"the b-best tree would hold {nodes:.3g} nodes (depth {config.depth}, branching "
                    f"'{config.branching or 'all actions'}'); lower depth or branching, or use search=uct."
                )

    def reset(self) -> None:
        """Nothing to forget: every plan searches a fresh tree."""

    def shift(self, steps: int = 1) -> None:
        """Nothing to shift (the interface of ``planners.shooting.ShootingPlanner``)."""

    @torch.no_grad()
    def plan(
        self,
        root: Tensor,
        expand: Expand,
        generator: torch.Generator,
        *,
        leaf_value: StateValue | None = None,
        q_estimate: QEstimate | None = None,
    ) -> TreeResult:
        """Search from state ``root`` ``[...]``; all randomness (ties, random subsets, untried actions, rollouts)
        comes from ``generator``."""
        cfg = self.config
        if cfg.search == "bbest":
            return bbest_search(
                root, expand, self.n_actions, self.branching, discount=cfg.discount, backup=cfg.backup,
                leaf_value=leaf_value, q_estimate=q_estimate, generator=generator,
            )  # fmt: skip
        return uct_search(
            root, expand, self.n_actions, depth=cfg.depth, simulations=cfg.simulations,
            exploration=cfg.exploration, discount=cfg.discount, rollout_length=cfg.rollout_length,
            leaf_value=leaf_value, generator=generator,
        )  # fmt: skip


def build_tree_search(config: TreeConfig, action_space) -> TreeSearch:
    """The search for a Gymnasium ``Discrete`` action space (starting at 0); any other space raises UserError."""
    if not hasattr(action_space, "n") or hasattr(action_space, "low"):
        raise UserError(f"planner=tree searches over Discrete actions; this env's action space is {action_space}.")
    if int(getattr(action_space, "start", 0)) != 0:
        raise UserError("planner=tree needs a Discrete action space that starts at 0.")
    return TreeSearch(config, int(action_space.n))


class ModelExpander:
    """``expand`` through a model that ``ModelEnv`` steps: a ``DynamicsModel`` ensemble or a ``SimulatorModel``.

    Every row is moved by the MEAN of the members' predicted means (``members="mean"``, ``sample=False``). A tree
    reuses a node's state for all its children and compares siblings by a max, so it needs one deterministic
    prediction per (state, action): a sampled member or Gaussian draw per node would give each sibling its own
    noise and the max would favour the luckiest draw (and a fixed member would ignore the rest of the ensemble).
    The mean costs E member evaluations per row, in the same single batched call. Reward and termination come
    from the known functions where given, else from ``reward_model`` or the model's heads; ``continues`` is
    1 - the termination (a learned one is a probability).

    ``evals_per_row`` (the members run per row) scales the rows into model evaluations; ``leaf_value`` and
    ``q_estimate`` are None (PETS learns neither), and a caller with a value function sets them.
    """

    def __init__(self, model, reward_fn=None, termination_fn=None, n_discrete: int | None = None, reward_model=None):
        self.env = ModelEnv(
            model, reward_fn, termination_fn, n_discrete, members="mean", sample=False, reward_model=reward_model
        )
        self.evals_per_row = int(model.ensemble_size)
        self.leaf_value: StateValue | None = None
        self.q_estimate: QEstimate | None = None

    def __call__(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        self.env.reset(states)
        next_states, rewards, p_done = self.env.step_prob(actions, None)  # deterministic: no generator needed
        return next_states, rewards, 1.0 - p_done


class TreeController:
    """The MPC loop around a ``TreeSearch``: plan from the real state every ``replan_every`` steps and execute the
    greedy path's first actions in between (``planners.mpc.MPCController``'s interface and ``planner/*`` metrics).

    ``act(obs, expander, generator)``: ``expander`` is ``expand`` (a ``ModelExpander`` or any callable), optionally
    with ``evals_per_row``, ``leaf_value`` and ``q_estimate`` attributes. ``metrics()``, per episode:
    ``planner/seconds_per_step``, ``planner/model_evals_per_s`` (rows x ``evals_per_row`` per second of planning),
    ``planner/nodes_expanded`` (per plan), ``planner/nodes_per_s``, ``planner/depth`` (mean depth reached) and
    ``planner/branching`` (mean children per expanded node).
    """

    def __init__(self, search: TreeSearch, *, replan_every: int = 1):
        if not 1 <= replan_every <= search.horizon:
            raise ValueError(f"replan_every must lie in [1, depth={search.horizon}], got {replan_every}")
        self.planner, self.replan_every = search, replan_every
        self.reset()

    def reset(self) -> None:
        """Forget the queued actions and the episode's counters."""
        self.planner.reset()
        self.queue: list[Tensor] = []
        self.steps, self.plans, self.plan_seconds = 0, 0, 0.0
        self.nodes, self.evaluations, self.depth, self.branching = 0, 0, 0, 0.0

    def act(self, obs, expander: Expand, generator: torch.Generator) -> Tensor:
        """The action for real state ``obs`` ``[...]``: a 0-d int64 index."""
        if not self.queue:
            started = time.perf_counter()
            result = self.planner.plan(
                torch.as_tensor(obs), expander, generator,
                leaf_value=getattr(expander, "leaf_value", None), q_estimate=getattr(expander, "q_estimate", None),
            )  # fmt: skip
            # the greedy path past its first action is only as good as the tree below it: the queue takes at
            # most replan_every actions, fewer where the path is shorter (the controller then re-plans sooner)
            self.queue = list(result.actions[: self.replan_every])
            self.plan_seconds += time.perf_counter() - started
            self.plans += 1
            stats = result.stats
            self.nodes += stats.nodes
            self.evaluations += stats.rows * getattr(expander, "evals_per_row", 1)
            self.depth += stats.depth
            self.branching += stats.branching
        self.steps += 1
        return self.queue.pop(0)

    def metrics(self) -> dict[str, float]:
        """This episode's ``planner/*`` metrics (since the last ``reset``)."""
        seconds, plans = max(self.plan_seconds, 1e-9), max(self.plans, 1)
        return {
            "planner/seconds_per_step": self.plan_seconds / max(self.steps, 1),
            "planner/model_evals_per_s": self.evaluations / seconds,
            "planner/nodes_expanded": self.nodes / plans,
            "planner/nodes_per_s": self.nodes / seconds,
            "planner/depth": self.depth / plans,
            "planner/branching": self.branching / plans,
        }
