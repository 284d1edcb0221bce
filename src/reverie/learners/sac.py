"""Soft actor-critic (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications"): twin critics, soft
target updates and a learned temperature. The losses are pure functions; ``SAC.update`` is the paper's
gradient step (Algorithm 1) on one batch, in the order Stable-Baselines3 takes it:

    for each gradient step:
        alpha   <- alpha   - lambda grad J(alpha)          (temperature, towards the target entropy)
        theta_i <- theta_i - lambda grad J_Q(theta_i)      (both critics, on the soft Bellman target)
        phi     <- phi     - lambda grad J_pi(phi)         (the actor, against min_i Q_i)
        theta_bar_i <- tau theta_i + (1 - tau) theta_bar_i (target critics)

Actions inside the learner are in [-1, 1]; ``act`` and ``update`` take and give the env's own Box actions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from reverie.config import check_range
from reverie.learners.nets import ActionScale, QEnsemble, TanhGaussianActor, adam, soft_update
from reverie.packing import pack, unpack


@dataclass
class SACConfig:
    """SAC's settings; defaults are Stable-Baselines3 2.9's (and the paper's, but for its 1e6 buffer)."""

    lr: float = 3e-4  # Adam step size of actor, critics and temperature
    gamma: float = 0.99  # discount
    tau: float = 0.005  # target-critic smoothing per update
    batch_size: int = 256  # transitions per gradient step
    hidden_size: int = 256  # width of the actor's and critics' hidden layers
    num_layers: int = 2  # hidden layers of the actor and critics
    init_temperature: float = 1.0  # alpha at the start
    learn_temperature: bool = True  # tune alpha towards the target entropy (else it stays at init_temperature)
    # entropy the temperature aims for, in nats; 0 means the paper's -(action dimensions)
    target_entropy: float = 0.0

    def __post_init__(self):
        check_range("lr", self.lr, 1e-12, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0)
        for name in ("batch_size", "hidden_size", "num_layers"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("init_temperature", self.init_temperature, 1e-12, 1e6)


# -- losses (pure functions) --------------------------------------------------------------------------
def soft_q_target(reward: Tensor, terminated: Tensor, next_q: Tensor, next_log_prob: Tensor, alpha, gamma: float):
    """y = r + gamma (1 - terminated) (min_i Q_bar_i(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s').

    reward, terminated [B]; next_q [critics, B]; next_log_prob [B] -> [B]. A truncated row (time limit) is
    not terminated, so it bootstraps."""
    soft_value = next_q.min(dim=0).values - alpha * next_log_prob
    return reward + gamma * (1.0 - terminated.float()) * soft_value


def critic_loss(q: Tensor, target: Tensor) -> Tensor:
    """J_Q = sum_i 1/2 mean_B (Q_i(s, a) - y)^2; q [critics, B], target [B] (no gradient) -> scalar."""
    return 0.5 * (q - target.detach()).pow(2).mean(dim=1).sum()


def actor_loss(log_prob: Tensor, q_pi: Tensor, alpha) -> Tensor:
    """J_pi = mean_B (alpha log pi(a|s) - min_i Q_i(s, a)), a ~ pi(.|s) reparameterised; q_pi [critics, B]."""
    return (alpha * log_prob - q_pi.min(dim=0).values).mean()


def temperature_loss(log_alpha: Tensor, log_prob: Tensor, target_entropy: float) -> Tensor:
    """J(alpha) = -mean_B log(alpha) (log pi(a|s) + H_target): alpha grows while the entropy is below target."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


class SAC:
    """A SAC learner for observations [obs_dim] and Box actions in [low, high].

    Args:
        obs_dim: observation size.
        low, high: the action bounds [act_dim] (finite).
        config: ``SACConfig``.
    """

    def __init__(self, obs_dim: int, low, high, config: SACConfig):
        self.config, self.scale = config, ActionScale(low, high)
        act_dim = len(self.scale.low)
        hidden = (config.hidden_size,) * config.num_layers
        self.actor = TanhGaussianActor(obs_dim, act_dim, hidden)
        self.critic = QEnsemble(obs_dim, act_dim, 2, hidden)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.nn.Parameter(torch.tensor(float(np.log(config.init_temperature))))
        self.target_entropy = config.target_entropy or -float(act_dim)
        self.actor_optimizer = adam(self.actor.parameters(), config.lr)
        self.critic_optimizer = adam(self.critic.parameters(), config.lr)
        self.alpha_optimizer = adam([self.log_alpha], config.lr)

    @torch.no_grad()
    def act(self, obs: np.ndarray, generator: torch.Generator | None, deterministic: bool = False) -> np.ndarray:
        """The env action for one observation [obs_dim] (or a batch [B, obs_dim]): sampled, or tanh(mu)."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        unit, _ = self.actor(obs_t.reshape(-1, obs_t.shape[-1]), generator, deterministic)
        return self.scale.to_env(unit).reshape(*obs_t.shape[:-1], -1).numpy()

    def update(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, float]:
        """One gradient step on ``batch`` (obs, act, reward, next_obs, terminated, each [B, ...]); returns
        the losses and alpha as floats."""
        obs, next_obs = batch["obs"].float(), batch["next_obs"].float()
        act = self.scale.to_unit(batch["act"].float())
        action_pi, log_prob = self.actor(obs, generator)  # a ~ pi(.|s), reparameterised

        # temperature step
        alpha = self.log_alpha.detach().exp()
        if self.config.learn_temperature:
            loss_alpha = temperature_loss(self.log_alpha, log_prob, self.target_entropy)
            self.alpha_optimizer.zero_grad(set_to_none=True)
            loss_alpha.backward()
            self.alpha_optimizer.step()

        # critic step on the soft Bellman target of the target critics
        with torch.no_grad():  # a' ~ pi(.|s') carries no gradient, so the actor's backward covers s only
            next_action, next_log_prob = self.actor(next_obs, generator)
            next_q = self.critic_target(next_obs, next_action)
            target = soft_q_target(batch["reward"].float(), batch["terminated"], next_q, next_log_prob, alpha,
                                   self.config.gamma)  # fmt: skip
        loss_q = critic_loss(self.critic(obs, act), target)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_optimizer.step()

        # actor step against the updated critics (their weights get no gradient from it)
        self.critic.requires_grad_(False)
        loss_pi = actor_loss(log_prob, self.critic(obs, action_pi), alpha)
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.actor_optimizer.step()
        self.critic.requires_grad_(True)

        soft_update(self.critic_target, self.critic, self.config.tau)
        return {"sac/critic_loss": loss_q.item(), "sac/actor_loss": loss_pi.item(), "sac/alpha": alpha.item(),
                "sac/entropy": -log_prob.mean().item()}  # fmt: skip

    def state(self) -> dict[str, np.ndarray]:
        """The learner as named arrays for a checkpoint (weights, targets, alpha, optimizer moments)."""
        return pack(**self._parts())

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``state()``'s arrays in place."""
        unpack(arrays, **self._parts())

    def _parts(self) -> dict:
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target,
                "log_alpha": torch.nn.ParameterList([self.log_alpha]), "actor_optimizer": self.actor_optimizer,
                "critic_optimizer": self.critic_optimizer, "alpha_optimizer": self.alpha_optimizer}  # fmt: skip
