"""Bootstrapped DDPG: DDPG (Lillicrap et al. 2016) with a critic of K bootstrap heads, MA-BDDPG's learner
(Kalweit & Boedecker 2017). The heads share a torso (as Osband et al.'s bootstrapped DQN); each transition
carries a mask m [K] drawn once, Bernoulli(p), and head k learns only from the transitions whose m_k is 1, so
the heads disagree where data are few. The actor follows the mean of the heads; their spread is the critic's
uncertainty, which MA-BDDPG turns into a probability of learning from imagined transitions.

    for each gradient step on a batch (s, a, r, s', terminated, m):
        y_k = r + gamma (1 - terminated) Q_bar_k(s', mu_bar(s'))               (each head its own target head)
        theta <- argmin 1/K sum_k sum_b m_kb (Q_k(s_b, a_b) - y_kb)^2 / sum_b m_kb
        phi   <- phi + lambda grad mean_b 1/K sum_k Q_k(s_b, mu(s_b))
        theta_bar <- tau theta + (1 - tau) theta_bar;  phi_bar <- tau phi + (1 - tau) phi_bar

Actions inside the learner are in [-1, 1]; ``act`` and ``update`` take and give the env's own Box actions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from reverie.config import check_range
from reverie.learners.nets import ActionScale, DeterministicActor, EnsembleMLP, adam, soft_update
from reverie.packing import pack, unpack


@dataclass
class BootstrappedDDPGConfig:
    """The learner's settings; defaults are DDPG's (TD3's preset ddpg: SB3 2.9) and the paper's K = 10, p = 0.5."""

    lr: float = 1e-3  # Adam step size of actor and critic
    gamma: float = 0.99  # discount
    tau: float = 0.005  # target smoothing per update
    batch_size: int = 256  # transitions per gradient step
    hidden_size: int = 400  # width of the first hidden layer of the actor and of the critic's shared torso
    hidden_size_2: int = 300  # width of the second hidden layer (the torso's output, which every head reads)
    heads: int = 10  # K: bootstrap heads of the critic
    mask_probability: float = 0.5  # p: chance that a transition is in a head's bootstrap sample
    exploration_noise: float = 0.1  # std of the Gaussian added to mu(s) when collecting data, in [-1, 1] units

    def __post_init__(self):
        check_range("lr", self.lr, 1e-12, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0)
        for name in ("batch_size", "hidden_size", "hidden_size_2"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("heads", self.heads, 1, 100)
        check_range("mask_probability", self.mask_probability, 1e-6, 1.0)  # 0 would train no head at all
        check_range("exploration_noise", self.exploration_noise, 0.0, 10.0)


class BootstrappedCritic(nn.Module):
    """K heads Q_k(s, a) on one shared torso: obs [B, obs_dim], act [B, act_dim] -> [K, B].

    The torso is DDPG's critic without its output layer (two ReLU layers); each head is one linear unit on the
    torso's features, so K heads cost about as much as one critic."""

    def __init__(self, obs_dim: int, act_dim: int, heads: int, hidden: tuple[int, int] = (400, 300)):
        super().__init__()
        self.heads = heads
        self.torso = EnsembleMLP(1, obs_dim + act_dim, hidden[1], hidden[:1])
        self.head_layer = EnsembleMLP(heads, hidden[1], 1, ())

    def forward(self, obs: Tensor, act: Tensor) -> Tensor:
        features = torch.relu(self.torso(torch.cat([obs, act], dim=-1))[0])  # [B, hidden_2]
        return self.head_layer(features).squeeze(-1)


# -- losses and the uncertainty (pure functions) ------------------------------------------------------
def bootstrapped_target(reward: Tensor, terminated: Tensor, next_q: Tensor, gamma: float) -> Tensor:
    """y_k = r + gamma (1 - terminated) Q_bar_k(s', mu_bar(s')) per head; reward, terminated [B], next_q [K, B]
    -> [K, B]. A truncated row (time limit) is not terminated, so it bootstraps."""
    return reward + gamma * (1.0 - terminated.float()) * next_q


def masked_critic_loss(q: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """1/2 mean_k [sum_b m_kb (Q_k - y_k)^2 / max(1, sum_b m_kb)]: each head's mean squared error over the rows
    of its own bootstrap sample. q, target, mask [K, B] (mask 0/1; target without gradient) -> scalar.

    A row a head's mask excludes contributes exactly zero to that head's loss, and so no gradient to it."""
    mask = mask.float()
    squared = (q - target.detach()).pow(2) * mask
    return 0.5 * (squared.sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()


def mean_head_actor_loss(q_pi: Tensor) -> Tensor:
    """-mean_b 1/K sum_k Q_k(s_b, mu(s_b)): the deterministic policy gradient on the heads' mean; q_pi [K, B]."""
    return -q_pi.mean()


def head_spread(q: Tensor) -> Tensor:
    """The critic's uncertainty: the standard deviation over the K heads (0 for one head); q [K, B] -> [B]."""
    return q.std(dim=0, correction=0)


class BootstrappedDDPG:
    """A bootstrapped-critic DDPG learner for observations [obs_dim] and Box actions in [low, high]."""

    def __init__(self, obs_dim: int, low, high, config: BootstrappedDDPGConfig):
        self.config, self.scale = config, ActionScale(low, high)
        act_dim = len(self.scale.low)
        hidden = (config.hidden_size, config.hidden_size_2)
        self.actor = DeterministicActor(obs_dim, act_dim, hidden)
        self.critic = BootstrappedCritic(obs_dim, act_dim, config.heads, hidden)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = adam(self.actor.parameters(), config.lr)
        self.critic_optimizer = adam(self.critic.parameters(), config.lr)

    def masks(self, rows: int, generator: torch.Generator) -> np.ndarray:
        """Bootstrap masks for ``rows`` new transitions: bool [rows, K], each entry 1 with ``mask_probability``."""
        return (torch.rand(rows, self.config.heads, generator=generator) < self.config.mask_probability).numpy()

    @torch.no_grad()
    def act(self, obs: np.ndarray, generator: torch.Generator | None, deterministic: bool = False) -> np.ndarray:
        """The env action for one observation [obs_dim] (or [B, obs_dim]): mu(s), plus clipped exploration noise
        unless ``deterministic``."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        unit = self.actor(obs_t.reshape(-1, obs_t.shape[-1]))
        if not deterministic and self.config.exploration_noise > 0:
            noise = torch.randn(unit.shape, generator=generator) * self.config.exploration_noise
            unit = (unit + noise).clamp(-1.0, 1.0)
        return self.scale.to_env(unit).reshape(*obs_t.shape[:-1], -1).numpy()

    @torch.no_grad()
    def uncertainty(self, obs: np.ndarray, action: np.ndarray) -> float:
        """The heads' standard deviation of Q at one (s [obs_dim], a [act_dim] in env units)."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)
        unit = self.scale.to_unit(torch.as_tensor(action, dtype=torch.float32).reshape(1, -1))
        return head_spread(self.critic(obs_t, unit)).item()

    def update(self, batch: dict[str, Tensor], generator: torch.Generator | None = None) -> dict[str, float]:
        """One critic step (each head on its masked rows), one actor step and one target step on ``batch``
        (obs, act, reward, next_obs, terminated [B, ...] and mask [B, K]); returns the losses as floats."""
        c = self.config
        obs, next_obs = batch["obs"].float(), batch["next_obs"].float()
        act = self.scale.to_unit(batch["act"].float())
        with torch.no_grad():
            next_q = self.critic_target(next_obs, self.actor_target(next_obs))  # [K, B]
            target = bootstrapped_target(batch["reward"].float(), batch["terminated"], next_q, c.gamma)
        loss_q = masked_critic_loss(self.critic(obs, act), target, batch["mask"].T)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_optimizer.step()

        # the actor climbs the mean of the just-updated heads (the critic's weights get no gradient from it)
        self.critic.requires_grad_(False)
        loss_pi = mean_head_actor_loss(self.critic(obs, self.actor(obs)))
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss_pi.backward()
        self.actor_optimizer.step()
        self.critic.requires_grad_(True)

        soft_update(self.critic_target, self.critic, c.tau)
        soft_update(self.actor_target, self.actor, c.tau)
        return {"bddpg/critic_loss": loss_q.item(), "bddpg/actor_loss": loss_pi.item()}

    def state(self) -> dict[str, np.ndarray]:
        """The learner as named arrays for a checkpoint (weights, targets, optimizer moments)."""
        return pack(**self._parts())

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``state()``'s arrays in place."""
        unpack(arrays, **self._parts())

    def _parts(self) -> dict:
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target, "actor_optimizer": self.actor_optimizer,
                "critic_optimizer": self.critic_optimizer}  # fmt: skip
