"""Policies for VIN's grid worlds, trained by imitation: the Value Iteration Network and the paper's two baselines.

Each maps a map image ``[B, 2, n, n]`` (obstacles, goal) and the agent's cell ``[N, 2]`` to logits over the 8
moves. A policy is split into ``features(images)``, computed once per map, and ``logits(features, maps, cells)``,
which reads the features at the cells (``maps`` [N] says whose map each cell is on): a map's many training states
and every step of a greedy rollout then share one pass over the map, as the authors' state batches do.

- ``VINPolicy`` (Tamar et al. 2016, section 4 and the grid-world network): h = conv3x3(image), a reward map
  R = conv1x1(h), K iterations of value iteration by convolution (``planners.vi_module``), attention (the Q
  channels at the agent's cell) and a reactive head (a linear map to the 8 moves).
- ``CNNPolicy`` (the paper's "pure CNN", after the Atari DQN): the agent's cell as a third input channel, 5 conv
  layers of 50, 50, 100, 100, 100 3x3 filters with 2x2 max-pooling after the first and the third, and a linear
  layer to the moves. It sees the cell from the start, so its features are the images themselves.
- ``FCNPolicy`` (the paper's fully convolutional network, after Long et al. 2015): a first conv layer whose
  (2n-1)x(2n-1) filter spans the map from any cell, 150 filters, then 1x1 layers of 150 and 10, attention at the
  agent's cell and a linear layer to the moves.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from reverie.planners.vi_module import ValueIterationModule, conv3x3

N_MOVES = 8


def paper_iterations(size: int) -> int:
    """The paper's K for a map of side ``size``: 10, 20 and 36 for 8, 16 and 28; about 1.3 n between them."""
    return {8: 10, 16: 20, 28: 36}.get(size, max(1, round(1.3 * size)))


def _at_cells(features: Tensor, maps: Tensor, cells: Tensor) -> Tensor:
    """features [B, C, n, n] read at ``cells`` [N, 2] of maps ``maps`` [N]: [N, C] (the paper's attention)."""
    return features[maps, :, cells[:, 0], cells[:, 1]]


class VINPolicy(nn.Module):
    """The Value Iteration Network of the paper's grid-world experiments (module docstring)."""

    def __init__(self, size: int, iterations: int, hidden: int = 150, q_channels: int = 10):
        super().__init__()
        self.hidden = nn.Conv2d(2, hidden, 3, padding=1)
        self.reward = nn.Conv2d(hidden, 1, 1, bias=False)
        self.planner = ValueIterationModule(q_channels, iterations)
        self.head = nn.Linear(q_channels, N_MOVES, bias=False)

    def features(self, images: Tensor) -> Tensor:
        """Q^K over the map, [B, q_channels, n, n]."""
        return self.planner(self.reward_map(images))

    def reward_map(self, images: Tensor) -> Tensor:
        """R = conv1x1(conv3x3(images)), [B, 1, n, n]. The paper's f_R has no nonlinearity between its two layers, so
        they are composed into one 3x3 kernel before convolving: the same R and the same gradients for both layers'
        weights, without the 150-channel hidden map (the update runs about 2x faster)."""
        mix = self.reward.weight[:, :, 0, 0]  # [1, hidden]
        kernel = torch.einsum("oh,hikl->oikl", mix, self.hidden.weight)
        batch, _, rows, cols = images.shape
        return (conv3x3(images, kernel) + mix @ self.hidden.bias).view(batch, 1, rows, cols)

    def logits(self, features: Tensor, maps: Tensor, cells: Tensor) -> Tensor:
        return self.head(_at_cells(features, maps, cells))


class FCNPolicy(nn.Module):
    """The paper's fully convolutional baseline (module docstring)."""

    def __init__(self, size: int, hidden: int = 150, out_channels: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2, hidden, 2 * size - 1, padding=size - 1), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
            nn.Conv2d(hidden, out_channels, 1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(out_channels, N_MOVES, bias=False)

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def logits(self, features: Tensor, maps: Tensor, cells: Tensor) -> Tensor:
        return self.head(_at_cells(features, maps, cells))


class CNNPolicy(nn.Module):
    """The paper's CNN baseline (module docstring); its "features" are the images, the cell enters as a channel."""

    def __init__(self, size: int, widths=(50, 50, 100, 100, 100), pool_after=(0, 2)):
        super().__init__()
        layers, channels, side = [], 3, size
        for index, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
            if index in pool_after and side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            channels = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(channels * side * side, N_MOVES)

    def features(self, images: Tensor) -> Tensor:
        return images

    def logits(self, features: Tensor, maps: Tensor, cells: Tensor) -> Tensor:
        images = features[maps]
        cell_channel = torch.zeros_like(images[:, :1])
        cell_channel[torch.arange(len(cells)), 0, cells[:, 0], cells[:, 1]] = 1.0
        return self.head(self.body(torch.cat([images, cell_channel], dim=1)))


POLICIES = {"vin": VINPolicy, "cnn": CNNPolicy, "fcn": FCNPolicy}


def make_policy(network: str, size: int, iterations: int) -> nn.Module:
    """The policy ``network`` (vin, cnn or fcn) for maps of side ``size``; ``iterations`` is VIN's K."""
    if network == "vin":
        return VINPolicy(size, iterations)
    return POLICIES[network](size)


def imitation_loss(logits: Tensor, actions: Tensor) -> Tensor:
    """The negative log-likelihood of the expert's moves: logits [N, 8], actions [N] -> scalar."""
    return nn.functional.cross_entropy(logits, actions)
