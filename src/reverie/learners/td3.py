"""TD3 (Fujimoto et al. 2018, Algorithm 1) and DDPG (Lillicrap et al. 2016) as its configuration.

TD3's three changes to DDPG are settings here: ``critics=2`` (clipped double Q: the target takes the smaller),
``policy_delay=2`` (the actor and the targets move every second critic step) and ``target_noise=0.2`` (target
policy smoothing: clipped Gaussian noise on a'). DDPG is ``critics=1, policy_delay=1, target_noise=0``.

    for each gradient step:
        a' = clip(mu_bar(s') + clip(N(0, sigma~), -c, c), -1, 1)
        y  = r + gamma (1 - terminated) min_i Q_bar_i(s', a')
        theta_i <- argmin sum_i mean (Q_i(s, a) - y)^2
        every d steps:
            phi <- phi + lambda grad mean Q_1(s, mu(s))
            theta_bar_i <- tau theta_i + (1 - tau) theta_bar_i;  phi_bar <- tau phi + (1 - tau) phi_bar
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from reverie.config import check_range
from reverie.learners.nets import ActionScale, DeterministicActor, QEnsemble, adam, soft_update
from reverie.packing import pack, unpack


@dataclass
class TD3Config:
    """TD3's settings; defaults are Stable-Baselines3 2.9's TD3 (400-300 hidden units as in the paper's code)."""

    lr: float = 1e-3  # Adam step size of actor and critics
    gamma: float = 0.99  # discount
    tau: float = 0.005  # target smoothing per target update
    batch_size: int = 256  # transitions per gradient step
    hidden_size: int = 400  # width of the first hidden layer of actor and critics
    hidden_size_2: int = 300  # width of the second hidden layer
    critics: int = 2  # Q-functions; the target takes their minimum (1: DDPG)
    policy_delay: int = 2  # critic steps per actor and target step (1: DDPG)
    target_noise: float = 0.2  # std of the smoothing noise on a', in [-1, 1] action units (0: DDPG)
    target_noise_clip: float = 0.5  # the smoothing noise is clipped to +-this
    exploration_noise: float = 0.1  # std of the Gaussian added to mu(s) when collecting data, in [-1, 1] units

    def __post_init__(self):
        check_range("lr", self.lr, 1e-12, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("tau", self.tau, 0.0, 1.0)
        for name in ("batch_size", "hidden_size", "hidden_size_2"):
            check_range(name, getattr(self, name), 1, 10**6)
        check_range("critics", self.critics, 1, 100)
        check_range("policy_delay", self.policy_delay, 1, 10**6)
        for name in ("target_noise", "target_noise_clip", "exploration_noise"):
            check_range(name, getattr(self, name), 0.0, 10.0)


def td3_target(reward: Tensor, terminated: Tensor, next_q: Tensor, gamma: float) -> Tensor:
    """y = r + gamma (1 - terminated) min_i Q_bar_i(s', a'); reward, terminated [B], next_q [critics, B] -> [B]."""
    return reward + gamma * (1.0 - terminated.float()) * next_q.min(dim=0).values


def deterministic_actor_loss(q_first: Tensor) -> Tensor:
    """-mean_B Q_1(s, mu(s)) (the deterministic policy gradient); q_first [B] -> scalar."""
    return -q_first.mean()


class TD3:
    """A TD3 / DDPG learner for observations [obs_dim] and Box actions in [low, high] (``TD3Config``)."""

    def __init__(self, obs_dim: int, low, high, config: TD3Config):
        self.config, self.scale = config, ActionScale(low, high)
        act_dim = len(self.scale.low)
        hidden = (config.hidden_size, config.hidden_size_2)
        self.actor = DeterministicActor(obs_dim, act_dim, hidden)
        self.critic = QEnsemble(obs_dim, act_dim, config.critics, hidden)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = adam(self.actor.parameters(), config.lr)
        self.critic_optimizer = adam(self.critic.parameters(), config.lr)
        self.critic_steps = 0
        self._last_actor_loss = float("nan")

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

    def update(self, batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, float]:
        """One critic step on ``batch`` and, every ``policy_delay`` of them, an actor and target step."""
        obs, next_obs = batch["obs"].float(), batch["next_obs"].float()
        with torch.no_grad():
            bootstrap = self.target_q(next_obs, generator)
            target = td3_target(batch["reward"].float(), batch["terminated"], bootstrap, self.config.gamma)
        return self.step(obs, self.scale.to_unit(batch["act"].float()), target)

    @torch.no_grad()
    def target_action(self, obs: Tensor, generator: torch.Generator | None) -> Tensor:
        """mu_bar(s) plus TD3's clipped smoothing noise, in [-1, 1] action units: obs [B, obs_dim] -> [B, act_dim]."""
        c = self.config
        action = self.actor_target(obs)
        if c.target_noise > 0:  # target policy smoothing
            noise = torch.randn(action.shape, generator=generator) * c.target_noise
            action = (action + noise.clamp(-c.target_noise_clip, c.target_noise_clip)).clamp(-1, 1)
        return action

    @torch.no_grad()
    def target_q(self, obs: Tensor, generator: torch.Generator | None) -> Tensor:
        """Every target critic at (s, target_action(s)): obs [B, obs_dim] -> [critics, B]."""
        return self.critic_target(obs, self.target_action(obs, generator))

    def step(
        self, obs: Tensor, unit_act: Tensor, target: Tensor, *, weight: Tensor | None = None, actor_obs=None
    ) -> dict[str, float]:
        """One critic step towards ``target`` [R] at rows obs [R, obs_dim], unit_act [R, act_dim] (a mean weighted
        by ``weight`` [R] if given), and every ``policy_delay`` steps an actor step on ``actor_obs`` [B, obs_dim]
        (default ``obs``) and a target step."""
        c = self.config
        squared = (self.critic(obs, unit_act) - target).pow(2)  # [critics, R]
        per_critic = squared.mean(dim=1) if weight is None else (squared * weight).sum(dim=1) / weight.sum()
        loss_q = 0.5 * per_critic.sum()
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss_q.backward()
        self.critic_optimizer.step()
        self.critic_steps += 1

        if self.critic_steps % c.policy_delay == 0:  # delayed policy and target updates
            self.critic.requires_grad_(False)
            actor_obs = obs if actor_obs is None else actor_obs
            loss_pi = deterministic_actor_loss(self.critic(actor_obs, self.actor(actor_obs))[0])
            self.actor_optimizer.zero_grad(set_to_none=True)
            loss_pi.backward()
            self.actor_optimizer.step()
            self.critic.requires_grad_(True)
            soft_update(self.critic_target, self.critic, c.tau)
            soft_update(self.actor_target, self.actor, c.tau)
            self._last_actor_loss = loss_pi.item()
        return {"td3/critic_loss": loss_q.item(), "td3/actor_loss": self._last_actor_loss}

    def state(self) -> dict[str, np.ndarray]:
        """The learner as named arrays for a checkpoint (weights, targets, optimizer moments, step count)."""
        return pack(**self._parts(), critic_steps=self.critic_steps)

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``state()``'s arrays in place."""
        self.critic_steps = int(unpack(arrays, **self._parts(), critic_steps=None)["critic_steps"])

    def _parts(self) -> dict:
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target, "actor_optimizer": self.actor_optimizer,
                "critic_optimizer": self.critic_optimizer}  # fmt: skip
