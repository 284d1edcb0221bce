"""A learned reward and termination model r(s, a, s'), p(done | s, a, s'), separate from the dynamics ensemble.

Why separate, and why on (s, a, s'): the planner asks for the reward of a *predicted* transition, and most rewards
are simple functions of the next state (minus the distance to a goal, +1 while alive), so a small net on
(s, a, s') learns them from few samples; as extra outputs of the dynamics ensemble they were sampled with the
dynamics' Gaussian noise, and a 0/1 termination column regressed on a 0/1 target and read as ``output > 0.5``
after that noise fired "terminated" at random wherever the predicted variance was large, i.e. off the data.

Why values off the data cannot be exploited (the user's point mass, see docs/algorithms/pets.md): inputs are clamped to
the box of inputs seen in training and the reward to the range of rewards seen, so a planner that drives the model
outside its data gains nothing there. The box is per input: unseen combinations inside it (perhaps Pendulum-v1's
(cos, sin) off the unit circle) are not covered. Termination is a classifier (BCE on logits, positives weighted by
negatives / positives, since terminal transitions are few), read as a probability that ``ModelEnv`` turns into a
survival weight for the rewards that follow.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

from reverie.models.dynamics import encode_actions
from reverie.models.ensemble import GaussianEnsemble, Normalizer

HIDDEN_SIZE, NUM_LAYERS = 128, 2  # rewards are simple functions of (s, a, s'): a small net, cheap to plan with
MAX_POS_WEIGHT = 100.0  # bounds the positives' weight when there are very few of them


class RewardModel(nn.Module):
    """An ensemble of small deterministic MLPs; prediction averages the members.

    Args:
        obs_dim, act_dim: observation size and encoded action size (one-hot size for Discrete actions).
        learn_reward, learn_termination: which outputs exist (a reward column, a termination logit).
        ensemble_size: members, each trained on its own bootstrap resample.
    """

    def __init__(self, obs_dim, act_dim, learn_reward=True, learn_termination=True, *, ensemble_size=5):
        super().__init__()
        self.learn_reward, self.learn_termination = learn_reward, learn_termination
        in_dim, out_dim = 2 * obs_dim + act_dim, int(learn_reward) + int(learn_termination)
        self.ensemble = GaussianEnsemble(in_dim, out_dim, ensemble_size, HIDDEN_SIZE, NUM_LAYERS, probabilistic=False)
        self.input_normalizer, self.reward_normalizer = Normalizer(in_dim), Normalizer(1)
        # the data's box: inputs are clamped into it, the reward into the range seen (fixed size: checkpointable)
        self.register_buffer("input_low", torch.full((in_dim,), -math.inf))
        self.register_buffer("input_high", torch.full((in_dim,), math.inf))
        self.register_buffer("reward_range", torch.tensor([-math.inf, math.inf]))

    def _outputs(self, inputs: torch.Tensor, every_member: bool = False) -> torch.Tensor:
        """inputs [N, in_dim] (raw) -> [E, N / E, out_dim] (row r on member r // (N / E), the rows' blocks of
        ModelEnv's "fixed" layout: one member per row costs E times less than all members on every row) or, when
        N is not a multiple of E or ``every_member`` is set, [E, N, out_dim] (every member on every row)."""
        x = self.input_normalizer.normalize(torch.clamp(inputs, self.input_low, self.input_high))
        members, n = self.ensemble.ensemble_size, inputs.shape[0]
        blocks = n % members == 0 and not every_member
        x = x.view(members, n // members, -1) if blocks else x.expand(members, -1, -1)
        return self.ensemble(x)[0]

    @torch.no_grad()
    def predict(self, obs, act, next_obs, every_member=False) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """obs [N, obs_dim], act [N, act_dim] (encoded), next_obs [N, obs_dim] -> reward [N] or None,
        termination probability [N] or None (from the row's member, see ``_outputs``; with ``every_member``, the
        members' mean on every row, whatever N, as ModelEnv's "mean" assignment needs)."""
        n = obs.shape[0]
        out = self._outputs(torch.cat([obs, act, next_obs], dim=-1), every_member)
        out = out.reshape(n, -1) if out.shape[1] * out.shape[0] == n else out.mean(dim=0)  # [N, out_dim]
        reward = p_done = None
        if self.learn_reward:
            reward = self.reward_normalizer.denormalize(out[:, :1])[:, 0]
            reward = reward.clamp(self.reward_range[0], self.reward_range[1])
        if self.learn_termination:
            p_done = torch.sigmoid(out[:, -1])
        return reward, p_done

    def loss(self, inputs, reward, done, pos_weight) -> torch.Tensor:
        """Summed over members: MSE of the normalised reward + positive-weighted BCE of the termination.
        inputs [E, B, in_dim] (raw), reward [E, B] (normalised), done [E, B] in {0, 1}."""
        x = self.input_normalizer.normalize(inputs)
        out = self.ensemble(x)[0]
        total = out.new_zeros(())
        if self.learn_reward:
            total = total + F.mse_loss(out[..., 0], reward, reduction="none").mean(dim=1).sum()
        if self.learn_termination:
            bce = F.binary_cross_entropy_with_logits(out[..., -1], done, pos_weight=pos_weight, reduction="none")
            total = total + bce.mean(dim=1).sum()
        return total


def fit_reward(model: RewardModel, buffer, config, generator: torch.Generator, n_discrete=None) -> dict:
    """One training round on all of ``buffer`` (``config``: a ``TrainConfig``: lr, weight decay, batch size,
    epochs, patience, validation ratio); returns ``model/reward_*`` metrics."""
    obs, next_obs = torch.as_tensor(buffer["obs"]), torch.as_tensor(buffer["next_obs"])
    act = encode_actions(torch.as_tensor(buffer["act"]), n_discrete)
    inputs = torch.cat([obs, act, next_obs], dim=-1)
    reward = torch.as_tensor(buffer["reward"]).float()
    done = torch.as_tensor(buffer["terminated"]).float()
    keep = torch.isfinite(inputs).all(dim=1) & torch.isfinite(reward)
    inputs, reward, done = inputs[keep], reward[keep], done[keep]
    n = len(inputs)
    if n < 2:
        return {}
    model.input_normalizer.fit(inputs)
    model.reward_normalizer.fit(reward[:, None])
    model.input_low.copy_(inputs.min(dim=0).values)
    model.input_high.copy_(inputs.max(dim=0).values)
    model.reward_range.copy_(torch.stack([reward.min(), reward.max()]))
    y = model.reward_normalizer.normalize(reward[:, None])[:, 0]
    positives = float(done.sum())
    # few terminal transitions (a cart-pole episode has one): unweighted, "never terminates" is nearly optimal
    pos_weight = torch.tensor(min(MAX_POS_WEIGHT, max(1.0, (n - positives) / positives)) if positives else 1.0)
    order = torch.randperm(n, generator=generator)
    n_val = min(max(1, round(n * config.validation_ratio)), n - 1) if config.validation_ratio > 0 else 0
    val, train = order[:n_val], order[n_val:]
    members = model.ensemble.ensemble_size
    boot = train[torch.randint(len(train), (members, len(train)), generator=generator)]  # [E, N_train]
    optimizer = torch.optim.Adam(model.ensemble.parameters(), lr=config.model_lr, weight_decay=config.weight_decay)
    best, best_state, stale = math.inf, None, 0
    for _ in range(config.epochs):
        perm = boot[:, torch.randperm(boot.shape[1], generator=generator)]
        for start in range(0, perm.shape[1], config.batch_size):
            batch = perm[:, start : start + config.batch_size]
            loss = model.loss(inputs[batch], y[batch], done[batch], pos_weight)
            if not torch.isfinite(loss):  # keep the best weights so far (or the previous round's)
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if n_val == 0:
            continue
        with torch.no_grad():
            score = model.loss(inputs[val].expand(members, -1, -1), y[val].expand(members, -1),
                               done[val].expand(members, -1), pos_weight).item() / members  # fmt: skip
        if score < best - 1e-8:
            best, best_state, stale = score, copy.deepcopy(model.ensemble.state_dict()), 0
        else:
            stale += 1
            if config.patience and stale >= config.patience:
                break
    if best_state is not None:
        model.ensemble.load_state_dict(best_state)
    return {"model/reward_val_loss": best, "model/terminal_fraction": positives / n}
