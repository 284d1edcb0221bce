"""A learned model stepped like an environment: ``ModelEnv.reset(obs) / step(actions, generator)``.

Everything that imagines trajectories in a model needs the same step: PETS's particles, MBPO's branched
rollouts, ME-TRPO's imagined episodes. ``ModelEnv`` is that step for a batch of ``N`` rows. It owns the
ensemble's ``[members, rows]`` layout, so callers see ``[N, ...]`` only, and it adds the reward and the
termination, from known functions, a learned ``RewardModel`` (``models.reward_model``) or the model's learned heads.

Which member moves which row (``members``):

- ``"fixed"``: row r is always moved by member ``r // (N / E)`` (rows in E equal consecutive blocks);
  PETS's TS-inf when a sequence's particles are spread over the blocks;
- ``"random"``: every step a fresh random permutation of the rows is split into E equal blocks, so each
  row gets a random member and each member still moves N / E rows (PETS's TS1; MBPO, ME-TRPO); N need not be a
  multiple of E (a few rows are repeated to fill the blocks and their predictions dropped);
- ``"random-elite"``: ``"random"`` over the model's elites only (``model.elites``, the members with the best
  validation error): MBPO's random elite per row;
- ``"mean"``: every member moves every row and the predictions are averaged (E times the compute); a
  learned termination is then the members' majority vote (a ``RewardModel``'s: its members' mean on every row).

``sample=False`` takes each member's predicted mean instead of a draw from its Gaussian (PETS's
expectation scheme is ``members="fixed", sample=False``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from reverie.errors import UserError
from reverie.models.dynamics import encode_actions

MEMBERS = ("fixed", "random", "random-elite", "mean")

# (obs [N, obs_dim], act [N, ...] as the env takes it, next_obs [N, obs_dim]) -> [N]
StepFn = Callable[[Tensor, Tensor, Tensor], Tensor]


class ModelEnv:
    """A batch of rows stepped through ``model`` (a ``DynamicsModel`` or anything with its ``predict``).

    Args:
        model: ``predict(obs [E, B, obs_dim], act [E, B, act_dim], sample, generator)`` ->
            ``(next_obs [E, B, obs_dim], reward [E, B] or None, terminated [E, B] bool or None)`` and
            ``ensemble_size``.
        reward_fn, termination_fn: known functions ``(obs, act, next_obs) -> [N]``; None uses ``reward_model``
            when it learns that output, else the model's learned head (a model without that head then raises
            UserError at ``step``; no termination at all means no row ever terminates).
        n_discrete: number of Discrete actions, which ``step`` one-hot encodes; None for Box actions.
        members: ``"fixed"``, ``"random"``, ``"random-elite"`` or ``"mean"`` (module docstring).
        sample: draw from each member's Gaussian (True) or take its mean.
        resample: ``(next_obs [N, obs_dim], generator) -> [N, obs_dim]``, applied to the predicted next
            states before rewards and terminations are computed on them (moment matching).
        reward_model: ``predict(obs, encoded act, next_obs) -> (reward [N] or None, p_done [N] or None)``
            (``models.reward_model.RewardModel``), or None.
    """

    def __init__(
        self,
        model,
        reward_fn: StepFn | None = None,
        termination_fn: StepFn | None = None,
        n_discrete: int | None = None,
        *,
        members: str = "fixed",
        sample: bool = True,
        resample: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        reward_model=None,
    ):
        if members not in MEMBERS:
            raise ValueError(f"members must be one of {MEMBERS}, got {members!r}")
        self.model, self.reward_fn, self.termination_fn = model, reward_fn, termination_fn
        self.n_discrete, self.members, self.sample, self.resample = n_discrete, members, sample, resample
        self.reward_model = reward_model
        self.obs: Tensor | None = None

    def reset(self, obs: Tensor) -> Tensor:
        """Start every row at ``obs`` ``[N, obs_dim]`` (copied, as float32); returns the copy."""
        ensemble = self.moving_members()
        if self.members == "fixed" and obs.shape[0] % ensemble:
            raise ValueError(f"members='fixed' needs rows ({obs.shape[0]}) in multiples of {ensemble}")
        self.obs = obs.float().clone()
        return self.obs

    def step(self, actions: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """Move every row one step: actions ``[N, act_dim]`` (Box) or ``[N]`` (Discrete indices).

        Returns next_obs ``[N, obs_dim]``, reward ``[N]`` float32 and terminated ``[N]`` bool (a learned
        termination probability above 0.5); the next states become the rows' states. All randomness (member
        draws, Gaussian samples) comes from ``generator``, in this order: the permutation, the model's
        samples, ``resample``.
        """
        next_obs, reward, p_done = self.step_prob(actions, generator)
        return next_obs, reward, p_done > 0.5

    @torch.no_grad()
    def step_prob(self, actions: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """``step``, with the termination as a probability ``[N]`` float32 in [0, 1] (0 or 1 when known)."""
        obs, n = self.obs, self.obs.shape[0]
        encoded = encode_actions(actions, self.n_discrete)
        next_obs, reward, terminated = self._predict(obs, encoded, generator)
        if self.resample is not None:
            next_obs = self.resample(next_obs, generator)
        learned_reward = learned_done = None
        if self.reward_model is not None and (self.reward_fn is None or self.termination_fn is None):
            # "mean" averages every member on every row; the other assignments give a row its block's member
            every = {"every_member": True} if self.members == "mean" else {}
            learned_reward, learned_done = self.reward_model.predict(obs, encoded, next_obs, **every)
        if self.reward_fn is not None:
            reward = self.reward_fn(obs, actions, next_obs)
        elif learned_reward is not None:
            reward = learned_reward
        elif reward is None:
            raise UserError("no reward function is known for this env and the model learns none")
        if self.termination_fn is not None:
            terminated = self.termination_fn(obs, actions, next_obs)
        elif learned_done is not None:
            terminated = learned_done
        if reward.shape != (n,) or (terminated is not None and terminated.reshape(-1).shape != (n,)):
            shapes = f"reward {tuple(reward.shape)}" + (
                "" if terminated is None else f", termination {tuple(terminated.shape)}"
            )
            raise UserError(f"the reward/termination functions must return [{n}] for {n} rows; got {shapes}")
        if terminated is None:
            terminated = torch.zeros(n, device=obs.device)
        self.obs = next_obs
        return next_obs, reward.float(), terminated.reshape(n).float()

    def moving_members(self) -> int:
        """How many members share the rows out: the elites for ``"random-elite"``, else the whole ensemble."""
        return len(self.model.elites) if self.members == "random-elite" else self.model.ensemble_size

    def _predict(self, obs: Tensor, act: Tensor, generator) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """The model's (next_obs [N, obs_dim], reward [N] or None, terminated [N] or None) for each row."""
        n, ensemble = obs.shape[0], self.moving_members()
        if self.members == "mean":
            next_obs, reward, terminated = self.model.predict(
                obs.expand(ensemble, -1, -1), act.expand(ensemble, -1, -1), self.sample, generator
            )
            reward = None if reward is None else reward.mean(dim=0)
            terminated = None if terminated is None else terminated.float().mean(dim=0) > 0.5
            return next_obs.mean(dim=0), reward, terminated
        order, rows = None, n
        if self.members != "fixed":  # rows order[j] go to slot j; slot j is moved by member j // (rows / E)
            pad = (-n) % ensemble  # repeated rows, so every member moves as many; their predictions are dropped
            if pad:
                extra = torch.arange(pad, device=obs.device) % n
                obs, act, rows = torch.cat([obs, obs[extra]]), torch.cat([act, act[extra]]), n + pad
            order = torch.randperm(rows, generator=generator, device=obs.device)
            obs, act = obs[order], act[order]
        per_member = rows // ensemble
        subset = {"members": self.model.elites} if self.members == "random-elite" else {}
        next_obs, reward, terminated = self.model.predict(
            obs.reshape(ensemble, per_member, -1),
            act.reshape(ensemble, per_member, -1),
            self.sample,
            generator,
            **subset,
        )
        outputs = [next_obs.reshape(rows, -1)] + [None if x is None else x.reshape(rows) for x in (reward, terminated)]
        if order is not None:  # back to the callers' row order, without the padding rows
            outputs = [None if x is None else x.new_empty(x.shape).index_copy_(0, order, x)[:n] for x in outputs]
        return tuple(outputs)


def branched_rollouts(model_env: ModelEnv, policy, start_obs: torch.Tensor, length: int, generator) -> tuple:
    """``length``-step rollouts from each row of ``start_obs`` [M, obs_dim] under ``policy`` (obs tensor [n, d] ->
    action tensor [n, act_dim]); a row stops when it terminates or the model returns a non-finite value.

    Returns ({obs, act, next_obs, reward, terminated}: tensors [R, ...] of every imagined step kept, the number
    of non-finite rows dropped)."""
    columns: dict[str, list] = {"obs": [], "act": [], "next_obs": [], "reward": [], "terminated": []}
    obs, dropped = start_obs, 0
    for _ in range(length):
        if len(obs) == 0:
            break
        model_env.reset(obs)
        act = policy(obs)
        next_obs, reward, terminated = model_env.step(act, generator)
        finite = torch.isfinite(next_obs).all(dim=1) & torch.isfinite(reward)  # the NaN guard: counted, dropped
        dropped += int((~finite).sum())
        for name, value in zip(columns, (obs, act, next_obs, reward, terminated), strict=True):
            columns[name].append(value[finite])
        obs = next_obs[finite & ~terminated]
    return {name: torch.cat(parts) for name, parts in columns.items()}, dropped
