"""A state value V(s) learned by TD(0) from real transitions, for the leaves of a tree search in a learned model.

A depth-limited search sees only ``depth`` steps; a value at its leaves stands for the rest of the episode (the
value at the leaves of AlphaGo's search, and POLO's learned value at the end of MPC's horizon, Lowrey et al. 2019).
Where every step pays the same (Acrobot's -1) the search alone cannot tell one path from another until it reaches
the goal; the value can, and because it starts near 0 while visited states sink towards -1/(1 - gamma), states the
data has not reached look better than those it has, which is what makes the search explore.

Update, on a batch of real transitions (s, r, terminated, s') drawn uniformly from the replay data:

    target = r + gamma * (1 - terminated) * V_target(s')     (truncated episodes are bootstrapped, not ended)
    loss   = mean (V(s) - target)^2;   V_target <- V every ``target_every`` updates
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from reverie.learners.nets import EnsembleMLP, adam


class TDValue(nn.Module):
    """V(s): obs ``[N, obs_dim]`` -> ``[N]``, with its target copy, fitted by TD(0) at discount ``discount``."""

    def __init__(self, obs_dim: int, discount: float, hidden: int = 64, lr: float = 1e-3, target_every: int = 100):
        super().__init__()
        if not 0.0 <= discount < 1.0:
            raise ValueError(f"a TD value needs a discount in [0, 1), got {discount}")
        self.discount, self.target_every = float(discount), int(target_every)
        self.value = EnsembleMLP(1, obs_dim, 1, (hidden, hidden))
        self.target = EnsembleMLP(1, obs_dim, 1, (hidden, hidden))
        self.target.load_state_dict(self.value.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = adam(self.value.parameters(), lr)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))  # in the state dict, so resumes sync

    def forward(self, obs: Tensor) -> Tensor:
        return self.value(obs.float())[0, :, 0]

    @torch.no_grad()
    def leaf_value(self, states: Tensor) -> Tensor:
        """The search's ``leaf_value``: states ``[N, obs_dim]`` -> ``[N]``, no gradient."""
        return self(states)

    def fit(self, data, steps: int, batch_size: int, generator: torch.Generator) -> dict[str, float]:
        """``steps`` TD(0) updates on batches drawn from ``data`` (a mapping with ``obs``, ``reward``,
        ``terminated``, ``next_obs`` arrays of equal length); returns ``value/*`` metrics of the last batch."""
        obs, next_obs = torch.as_tensor(data["obs"]).float(), torch.as_tensor(data["next_obs"]).float()
        reward = torch.as_tensor(data["reward"]).float()
        alive = 1.0 - torch.as_tensor(data["terminated"]).float()
        loss = torch.zeros(())
        for _ in range(steps):
            rows = torch.randint(len(obs), (min(batch_size, len(obs)),), generator=generator)
            with torch.no_grad():
                target = reward[rows] + self.discount * alive[rows] * self.target(next_obs[rows])[0, :, 0]
            loss = F.mse_loss(self(obs[rows]), target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.updates += 1
            if int(self.updates) % self.target_every == 0:
                self.target.load_state_dict(self.value.state_dict())
        with torch.no_grad():
            mean_value = float(self(obs).mean()) if len(obs) else 0.0
        return {"value/td_loss": float(loss.detach()), "value/mean": mean_value}
