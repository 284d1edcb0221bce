"""Fitting a DynamicsModel to real transitions: bootstrapped member data sets, a held-out split,
early stopping on validation MSE, elites by validation MSE, a NaN/inf guard, and the scores a
training round logs (validation NLL and MSE, multi-step open-loop error)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from reverie.data.dataset import TransitionData
from reverie.models.dynamics import DynamicsModel, encode_actions

# encode_actions: its old home
__all__ = ["TrainConfig", "dataset_tensors", "encode_actions", "fit", "open_loop_error", "open_loop_errors"]


@dataclass
class TrainConfig:
    """How each training round fits the model (defaults: mbrl-lib's PETS tutorial where it has one)."""

    model_lr: float = 1e-3  # Adam step size
    weight_decay: float = 5e-5  # L2 on all weights
    batch_size: int = 32  # transitions per gradient step, per member
    epochs: int = 50  # most passes over the data per round
    patience: int = 10  # stop after this many epochs without a better validation MSE (0: never)
    validation_ratio: float = 0.1  # held out from training, for early stopping and elites
    num_elites: int = 5  # members kept as elites (the best validation MSE)
    open_loop_steps: int = 10  # horizon of the multi-step prediction error


def dataset_tensors(
    model: DynamicsModel, data: TransitionData, n_discrete: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All of ``data`` as model inputs [N, in_dim] and targets [N, out_dim] (not normalised)."""
    obs, next_obs = torch.as_tensor(data["obs"]), torch.as_tensor(data["next_obs"])
    act = encode_actions(torch.as_tensor(data["act"]), n_discrete)
    reward, terminated = torch.as_tensor(data["reward"]), torch.as_tensor(data["terminated"])
    return model.make_inputs(obs, act), model.make_targets(obs, next_obs, reward, terminated)


def fit(
    model: DynamicsModel, data: TransitionData, config: TrainConfig, generator: torch.Generator, n_discrete=None
) -> dict:
    """One training round on all N transitions of ``data`` (e.g. a ReplayBuffer); returns ``model/*`` metrics.

    Normalisers are refitted to the training split; each member trains on its own bootstrap resample
    (drawn with replacement) so the members disagree where data are scarce.
    """
    inputs, targets = dataset_tensors(model, data, n_discrete)
    finite = torch.isfinite(inputs).all(dim=1) & torch.isfinite(targets).all(dim=1)
    dropped = int((~finite).sum())  # a NaN row would poison the normalisers and every later prediction
    inputs, targets = inputs[finite], targets[finite]
    n = len(inputs)
    if n == 0:
        return {"model/nonfinite_rows": dropped, "model/epochs": 0, "model/nan_restored": 0}
    order = torch.randperm(n, generator=generator)
    n_val = min(max(1, round(n * config.validation_ratio)), n - 1) if n > 1 and config.validation_ratio > 0 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    round_start = copy.deepcopy(model.state_dict())  # weights and normalisers as they were before this round
    model.input_normalizer.fit(inputs[train_idx])
    model.target_normalizer.fit(targets[train_idx])
    x = model.input_normalizer.normalize(inputs)
    y = model.target_normalizer.normalize(targets)
    ensemble = model.ensemble
    members = ensemble.ensemble_size
    boot = train_idx[torch.randint(len(train_idx), (members, len(train_idx)), generator=generator)]  # [E, N_train]
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=config.model_lr, weight_decay=config.weight_decay)
    x_val = x[val_idx].expand(members, -1, -1) if n_val else None
    y_val = y[val_idx].expand(members, -1, -1) if n_val else None

    best_score, best_state, stale, nan_restores, epochs_run, train_loss = math.inf, None, 0, 0, 0, math.nan
    for _ in range(config.epochs):
        good_state = copy.deepcopy(ensemble.state_dict())
        perm = boot[:, torch.randperm(boot.shape[1], generator=generator)]
        losses = []
        for start in range(0, perm.shape[1], config.batch_size):
            batch = perm[:, start : start + config.batch_size]  # [E, b]
            loss = ensemble.loss(x[batch], y[batch])
            if not torch.isfinite(loss):
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        finite = all(torch.isfinite(p).all() for p in ensemble.parameters()) and (
            not losses or math.isfinite(losses[-1])
        )
        if not finite or len(losses) < math.ceil(perm.shape[1] / config.batch_size):
            # NaN/inf: back to the last good weights, end the round; with no good epoch yet, the last good
            # weights belong to the old normalisers, so those come back too
            if epochs_run == 0:
                model.load_state_dict(round_start)
            else:
                ensemble.load_state_dict(good_state)
            nan_restores += 1
            break
        epochs_run += 1
        train_loss = float(np.mean(losses)) / members
        if n_val == 0:
            continue
        score = ensemble.scores(x_val, y_val)["mse"].mean().item()
        if score < best_score - 1e-8:
            best_score, best_state, stale = score, copy.deepcopy(ensemble.state_dict()), 0
        else:
            stale += 1
            if config.patience and stale >= config.patience:
                break
    if best_state is not None:
        ensemble.load_state_dict(best_state)

    metrics = {"model/train_loss": train_loss, "model/epochs": epochs_run, "model/nan_restored": nan_restores}
    metrics["model/nonfinite_rows"] = dropped
    if n_val:
        scores = ensemble.scores(x_val, y_val)
        model.elite_mask.zero_()
        model.elite_mask[torch.argsort(scores["mse"])[: config.num_elites]] = True
        metrics["model/val_mse"] = scores["mse"].mean().item()
        metrics["model/val_nll"] = scores["nll"].mean().item()
    metrics["model/open_loop_error"] = open_loop_error(model, data, config.open_loop_steps, n_discrete)
    metrics["model/open_loop_errors"] = open_loop_errors(model, data, config.open_loop_steps, n_discrete)
    return metrics


@torch.no_grad()
def open_loop_error(model: DynamicsModel, data: TransitionData, steps: int, n_discrete=None) -> float:
    """Mean squared error of the ensemble's mean prediction rolled ``steps`` steps open loop along the
    most recent episode's real actions (the error that compounds when a planner looks ahead)."""
    episodes = data.episodes()
    if not episodes:
        return math.nan
    last = episodes[-1]
    horizon = min(steps, last.stop - last.start)
    obs = torch.as_tensor(data["obs"][last.start : last.start + 1]).expand(model.ensemble_size, 1, -1)
    errors = []
    for t in range(horizon):
        i = last.start + t
        act = encode_actions(torch.as_tensor(data["act"][i : i + 1]), n_discrete).expand(model.ensemble_size, 1, -1)
        obs, _, _ = model.predict(obs, act, sample=False)
        real = torch.as_tensor(data["next_obs"][i])
        errors.append(((obs.mean(dim=0)[0] - real) ** 2).mean().item())
    return float(np.mean(errors))


@torch.no_grad()
def open_loop_errors(model: DynamicsModel, data: TransitionData, steps: int, n_discrete=None, starts: int = 16):
    """The model's error against the horizon: MSE of the ensemble's mean prediction after 1..``steps`` open-loop
    steps along the most recent episode's real actions, averaged over up to ``starts`` evenly spaced start states
    of that episode -> list [min(steps, episode length)] (empty before an episode has ended)."""
    episodes = data.episodes()
    if not episodes:
        return []
    last = episodes[-1]
    horizon = min(steps, last.stop - last.start)
    first = last.start + np.unique(np.linspace(0, last.stop - last.start - horizon, starts).astype(int))
    obs = torch.as_tensor(data["obs"][first]).expand(model.ensemble_size, len(first), -1)
    errors = []
    for t in range(horizon):
        act = encode_actions(torch.as_tensor(data["act"][first + t]), n_discrete)
        obs, _, _ = model.predict(obs, act.expand(model.ensemble_size, len(first), -1), sample=False)
        real = torch.as_tensor(data["next_obs"][first + t])
        errors.append(float(f"{((obs.mean(dim=0) - real) ** 2).mean().item():.4g}"))  # 4 significant digits
    return errors
