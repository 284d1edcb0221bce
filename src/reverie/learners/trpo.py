"""Trust region policy optimisation (Schulman et al. 2015, "Trust Region Policy Optimization"), the single-path
variant with a natural-gradient step, in the form Stable-Baselines3 (sb3-contrib) ships it:

    for each batch of trajectories [T, N] collected with pi_old:
        A_t   = GAE(lambda) from r_t, V(s_t), V(s_t+1)                         (gae)
        L(th) = mean_t [ pi_th(a_t|s_t) / pi_old(a_t|s_t) * A_t ]                (surrogate)
        g     = grad L(th_old);  F = Hessian of mean_t KL(pi_th || pi_old) at th_old (+ damping I)
        x     = F^-1 g by conjugate gradient                                   (conjugate_gradient)
        step  = sqrt(2 delta / x^T F x) x
        th    = th_old + shrink^k step for the first k whose KL <= delta and L improves, else th_old
                                                                               (backtracking_line_search)
        V     <- Adam on (V(s_t) - (A_t + V_old(s_t)))^2, n_critic_updates epochs of minibatches

The policy is a Gaussian over the env's own action units, mean from a tanh MLP, one state-independent log-std per
action dimension; the env gets the sample clipped to its Box (as SB3 does), while the log-probabilities are of the
unclipped sample. ``update`` takes any batch of trajectories ``[T, N, ...]``: N real envs, or N imagined rows of a
learned model (ME-TRPO).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from reverie.config import check_range
from reverie.packing import pack, unpack


@dataclass
class TRPOConfig:
    """TRPO's learner settings; defaults are sb3-contrib 2.9.2 TRPO's with its MlpPolicy (64-64 tanh, separate
    policy and value networks, log-std starting at 0)."""

    learning_rate: float = 1e-3  # Adam step size of the value function (the policy moves by the trust-region step)
    batch_size: int = 128  # rows per value-function minibatch
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE's lambda (bias-variance trade-off of the advantages)
    cg_max_steps: int = 15  # conjugate-gradient iterations for F^-1 g
    cg_damping: float = 0.1  # added to the Fisher matrix's diagonal (keeps the solve well conditioned)
    line_search_shrinking_factor: float = 0.8  # backtracking multiplies the step by this after each refusal
    line_search_max_iter: int = 10  # step sizes tried before the update is given up (old policy kept)
    n_critic_updates: int = 10  # passes over the batch fitting the value function
    target_kl: float = 0.01  # delta: the largest mean KL(pi_new || pi_old) a step may take
    normalize_advantage: bool = True  # standardise the advantages over the batch
    hidden_size: int = 64  # width of the policy's and the value function's hidden layers
    num_layers: int = 2  # hidden layers of each
    log_std_init: float = 0.0  # initial log standard deviation of the Gaussian policy

    def __post_init__(self):
        check_range("learning_rate", self.learning_rate, 1e-12, 1.0)
        check_range("gamma", self.gamma, 0.0, 1.0)
        check_range("gae_lambda", self.gae_lambda, 0.0, 1.0)
        check_range("cg_damping", self.cg_damping, 0.0, 1e6)
        check_range("line_search_shrinking_factor", self.line_search_shrinking_factor, 1e-6, 1.0 - 1e-6)
        check_range("target_kl", self.target_kl, 1e-12, 1e3)
        check_range("log_std_init", self.log_std_init, -20.0, 5.0)
        for name in ("batch_size", "cg_max_steps", "line_search_max_iter", "n_critic_updates", "hidden_size",
                     "num_layers"):  # fmt: skip
            check_range(name, getattr(self, name), 1, 10**6)


# -- pure functions -----------------------------------------------------------------------------------
def gae(reward: Tensor, value: Tensor, next_value: Tensor, terminated: Tensor, done: Tensor, *, gamma: float,
        lam: float) -> Tensor:  # fmt: skip
    """Generalised advantage estimates over trajectories laid out [T, N] (time first, N parallel rows).

    delta_t = r_t + gamma (1 - terminated_t) V(s_t+1) - V(s_t);  A_t = delta_t + gamma lam (1 - done_t) A_t+1.

    reward, value (V(s_t)), next_value (V(s_t+1), of the step's own next observation), terminated, done: [T, N]
    -> advantages [T, N]. ``done`` marks the last row of an episode (terminated or truncated): the sum stops
    there. A terminated row does not bootstrap; a truncated one (a time limit, not the MDP's end) bootstraps from
    V(s'). Past row T - 1 nothing is known, so the last row is its own one-step estimate."""
    not_terminated, not_done = 1.0 - terminated.float(), 1.0 - done.float()
    delta = reward + gamma * not_terminated * next_value - value
    advantages = torch.zeros_like(delta)
    running = torch.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        running = delta[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages


def gaussian_log_prob(action: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """log N(action; mean, diag(exp(log_std))^2) summed over the action dimension: [B, A] (log_std [A]) -> [B]."""
    z = (action - mean) * torch.exp(-log_std)
    return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)


def gaussian_kl(mean_p: Tensor, log_std_p: Tensor, mean_q: Tensor, log_std_q: Tensor) -> Tensor:
    """KL(p || q) of diagonal Gaussians, summed over the action dimension: means [B, A], log-stds [A] -> [B].

    KL = sum_i log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2."""
    var_p, var_q = torch.exp(2 * log_std_p), torch.exp(2 * log_std_q)
    return (log_std_q - log_std_p + (var_p + (mean_p - mean_q).pow(2)) / (2 * var_q) - 0.5).sum(dim=-1)


def surrogate(log_prob: Tensor, old_log_prob: Tensor, advantages: Tensor) -> Tensor:
    """L = mean_B [exp(log pi(a|s) - log pi_old(a|s)) A]: the importance-sampled advantage; [B] each -> scalar."""
    return (torch.exp(log_prob - old_log_prob) * advantages).mean()


def conjugate_gradient(fvp: Callable[[Tensor], Tensor], b: Tensor, iters: int, residual_tol: float = 1e-10) -> Tensor:
    """An approximate solution x [P] of A x = b for a symmetric positive-definite A known only through ``fvp(v)``
    = A v ([P] -> [P]), after at most ``iters`` conjugate-gradient steps from x = 0 (exact after P steps in exact
    arithmetic); stops early once the squared residual |b - A x|^2 falls below ``residual_tol``."""
    x = torch.zeros_like(b)
    residual, direction = b.clone(), b.clone()
    residual_sq = residual @ residual
    for _ in range(iters):
        if residual_sq < residual_tol:
            break
        a_direction = fvp(direction)
        alpha = residual_sq / (direction @ a_direction)
        x = x + alpha * direction
        residual = residual - alpha * a_direction
        new_residual_sq = residual @ residual
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


class LineSearchResult(NamedTuple):
    params: Tensor  # the accepted parameters [P], or the old ones when no step was accepted
    accepted: bool
    steps: int  # step sizes tried
    kl: float  # mean KL of the accepted step (0 when none was)
    improvement: float  # surrogate gain of the accepted step (0 when none was)


def backtracking_line_search(evaluate: Callable[[Tensor], tuple[float, float]], old_params: Tensor, full_step: Tensor,
                             old_objective: float, *, target_kl: float, shrinking_factor: float,
                             max_iter: int) -> LineSearchResult:  # fmt: skip
    """Try old_params + shrinking_factor^k full_step for k = 0, 1, ..., max_iter - 1 and accept the first whose
    mean KL <= target_kl and whose surrogate beats ``old_objective``; keep ``old_params`` when none does.

    ``evaluate(params [P]) -> (surrogate, mean KL)``; a NaN in either refuses the step (every comparison fails)."""
    fraction = 1.0
    for tried in range(1, max_iter + 1):
        candidate = old_params + fraction * full_step
        objective, kl = evaluate(candidate)
        if kl <= target_kl and objective > old_objective:
            return LineSearchResult(candidate, True, tried, float(kl), float(objective - old_objective))
        fraction *= shrinking_factor
    return LineSearchResult(old_params, False, max_iter, 0.0, 0.0)


# -- networks -------------------------------------------------------------------------------------------
def _mlp(in_dim: int, out_dim: int, hidden: int, layers: int, out_gain: float) -> nn.Sequential:
    """A tanh MLP initialised as SB3's on-policy MlpPolicy: orthogonal weights (gain sqrt 2 in the hidden layers,
    ``out_gain`` in the last), zero biases."""
    sizes, modules = [in_dim] + [hidden] * layers, []
    for fan_in, fan_out in itertools.pairwise(sizes):
        modules += [nn.Linear(fan_in, fan_out), nn.Tanh()]
    modules.append(nn.Linear(sizes[-1], out_dim))
    for module in modules:
        if isinstance(module, nn.Linear):
            gain = out_gain if module is modules[-1] else math.sqrt(2)
            nn.init.orthogonal_(module.weight, gain=gain)
            nn.init.zeros_(module.bias)
    return nn.Sequential(*modules)


class GaussianPolicy(nn.Module):
    """pi(a|s) = N(mu(s), diag(exp(log_std))^2): obs [B, obs_dim] -> mean [B, act_dim]; log_std [act_dim]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, layers: int, log_std_init: float):
        super().__init__()
        self.mean = _mlp(obs_dim, act_dim, hidden, layers, out_gain=0.01)  # small start: actions near 0
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def forward(self, obs: Tensor) -> Tensor:
        return self.mean(obs)


class TRPO:
    """A TRPO learner for observations [obs_dim] and Box actions in [low, high].

    Args:
        obs_dim: observation size.
        low, high: the action bounds [act_dim] (finite).
        config: ``TRPOConfig``.
    """

    def __init__(self, obs_dim: int, low, high, config: TRPOConfig):
        self.config = config
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        act_dim = len(self.low)
        self.policy = GaussianPolicy(obs_dim, act_dim, config.hidden_size, config.num_layers, config.log_std_init)
        self.value_net = _mlp(obs_dim, 1, config.hidden_size, config.num_layers, out_gain=1.0)
        # SB3's on-policy Adam uses eps 1e-5; only the value function takes Adam steps
        self.value_optimizer = torch.optim.Adam(self.value_net.parameters(), lr=config.learning_rate, eps=1e-5)

    # -- acting ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, obs: Tensor, generator: torch.Generator | None) -> Tensor:
        """Unclipped Gaussian actions [B, act_dim] for obs [B, obs_dim] (what the update takes as ``act``)."""
        mean = self.policy(obs.float())
        return mean + torch.exp(self.policy.log_std) * torch.randn(mean.shape, generator=generator)

    def clip(self, action: Tensor) -> Tensor:
        """Actions clipped to the Box (what the env, or a model, is given): [..., act_dim] -> [..., act_dim]."""
        return torch.maximum(torch.minimum(action, self.high), self.low)

    @torch.no_grad()
    def act(self, obs: np.ndarray, generator: torch.Generator | None, deterministic: bool = False) -> np.ndarray:
        """The env action for one observation [obs_dim] (or a batch [B, obs_dim]): a Gaussian sample, or the
        mean when ``deterministic``, clipped to the Box."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        flat = obs_t.reshape(-1, obs_t.shape[-1])
        action = self.policy(flat) if deterministic else self.sample(flat, generator)
        return self.clip(action).reshape(*obs_t.shape[:-1], -1).numpy()

    @torch.no_grad()
    def value(self, obs: Tensor) -> Tensor:
        """V(s): obs [..., obs_dim] -> [...]."""
        return self.value_net(obs.float()).squeeze(-1)

    def reset_std(self) -> None:
        """Put the policy's log-std back to its initial value (ME-TRPO's authors do before each optimisation)."""
        with torch.no_grad():
            self.policy.log_std.fill_(self.config.log_std_init)

    # -- the update -----------------------------------------------------------------------------------
    def update(self, rollout: dict[str, Tensor], generator: torch.Generator) -> dict[str, float]:
        """One TRPO iteration on trajectories collected with the current policy.

        ``rollout`` holds tensors laid out [T, N, ...]: obs [T, N, obs_dim], act [T, N, act_dim] (the unclipped
        samples of ``sample``), reward, terminated, done [T, N] (done: the row ends its episode, terminated or
        truncated; or ``truncated`` instead of ``done``) and next_obs [T, N, obs_dim] (each step's own next
        observation, so a truncated row bootstraps from it). Returns the step's KL, surrogate gain, line-search
        steps, value loss, ... as ``trpo/*`` floats.
        """
        c = self.config
        obs, next_obs, act = rollout["obs"].float(), rollout["next_obs"].float(), rollout["act"].float()
        done = rollout["done"] if "done" in rollout else rollout["terminated"] | rollout["truncated"]
        value = self.value(obs)
        advantages = gae(rollout["reward"].float(), value, self.value(next_obs), rollout["terminated"], done,
                         gamma=c.gamma, lam=c.gae_lambda)  # fmt: skip
        returns = (advantages + value).reshape(-1)  # the value function's targets (TD(lambda) returns)
        obs, act, advantages = obs.reshape(-1, obs.shape[-1]), act.reshape(-1, act.shape[-1]), advantages.reshape(-1)
        if c.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        metrics = self._policy_step(obs, act, advantages)
        metrics["trpo/value_loss"] = self._fit_value(obs, returns, generator)
        metrics["trpo/explained_variance"] = _explained_variance(value.reshape(-1), returns)
        metrics["trpo/std"] = self.policy.log_std.exp().mean().item()
        return metrics

    def _policy_step(self, obs: Tensor, act: Tensor, advantages: Tensor) -> dict[str, float]:
        """The natural-gradient step in the KL trust region, by conjugate gradient and a backtracking line search."""
        c, params = self.config, list(self.policy.parameters())
        with torch.no_grad():
            old_mean, old_log_std = self.policy(obs), self.policy.log_std.clone()
            old_log_prob = gaussian_log_prob(act, old_mean, old_log_std)

        def objective_and_kl() -> tuple[Tensor, Tensor]:
            mean = self.policy(obs)
            log_prob = gaussian_log_prob(act, mean, self.policy.log_std)
            kl = gaussian_kl(mean, self.policy.log_std, old_mean, old_log_std).mean()
            return surrogate(log_prob, old_log_prob, advantages), kl

        objective, kl = objective_and_kl()
        gradient = parameters_to_vector(torch.autograd.grad(objective, params, retain_graph=True))
        kl_gradient = parameters_to_vector(torch.autograd.grad(kl, params, create_graph=True))

        def fisher_vector_product(vector: Tensor) -> Tensor:  # F v = d/dth (grad KL . v), plus damping
            product = torch.autograd.grad(kl_gradient @ vector, params, retain_graph=True)
            return parameters_to_vector(product) + c.cg_damping * vector

        direction = conjugate_gradient(fisher_vector_product, gradient, c.cg_max_steps)
        curvature = float(direction @ fisher_vector_product(direction))
        metrics = {"trpo/surrogate": objective.item(), "trpo/gradient_norm": gradient.norm().item()}
        if not (math.isfinite(curvature) and curvature > 0):  # a zero gradient (or a broken solve): no step
            return {**metrics, "trpo/kl": 0.0, "trpo/surrogate_improvement": 0.0, "trpo/line_search_steps": 0,
                    "trpo/line_search_accepted": 0.0}  # fmt: skip
        full_step = math.sqrt(2 * c.target_kl / curvature) * direction.detach()
        old_params = parameters_to_vector(params).detach()

        @torch.no_grad()
        def evaluate(candidate: Tensor) -> tuple[float, float]:
            vector_to_parameters(candidate, params)
            new_objective, new_kl = objective_and_kl()
            return new_objective.item(), new_kl.item()

        result = backtracking_line_search(evaluate, old_params, full_step, objective.item(), target_kl=c.target_kl,
                                          shrinking_factor=c.line_search_shrinking_factor,
                                          max_iter=c.line_search_max_iter)  # fmt: skip
        with torch.no_grad():
            vector_to_parameters(result.params, params)
        return {**metrics, "trpo/kl": result.kl, "trpo/surrogate_improvement": result.improvement,
                "trpo/line_search_steps": result.steps,
                "trpo/line_search_accepted": float(result.accepted)}  # fmt: skip

    def _fit_value(self, obs: Tensor, returns: Tensor, generator: torch.Generator) -> float:
        """``n_critic_updates`` shuffled passes of Adam on mean (V(s) - return)^2; returns the mean loss."""
        c, losses = self.config, []
        for _ in range(c.n_critic_updates):
            order = torch.randperm(len(obs), generator=generator)
            for start in range(0, len(obs), c.batch_size):
                rows = order[start : start + c.batch_size]
                loss = F.mse_loss(self.value_net(obs[rows]).squeeze(-1), returns[rows])
                self.value_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.value_optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses))

    # -- checkpoints ----------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """The learner as named arrays for a checkpoint (policy, value function, Adam's moments)."""
        return pack(**self._parts())

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore ``state()``'s arrays in place."""
        unpack(arrays, **self._parts())

    def _parts(self) -> dict:
        return {"policy": self.policy, "value_net": self.value_net, "value_optimizer": self.value_optimizer}


def _explained_variance(predicted: Tensor, target: Tensor) -> float:
    """1 - Var(target - predicted) / Var(target): 1 is a perfect value function, 0 no better than a constant."""
    variance = target.var().item() if len(target) > 1 else 0.0
    return float("nan") if variance == 0 else 1.0 - (target - predicted).var().item() / variance
