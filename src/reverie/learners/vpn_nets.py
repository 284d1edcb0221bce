"""The networks of Value Prediction Network's experiments (Oh, Singh & Lee 2017) and their losses.

Every network reads an observation of the Collect domain as planes ``[B, 4, 10, 10]`` float: wall, agent, goal
and a constant plane holding the remaining time (the authors tile the remaining time onto the abstract state; a
plane of the input carries the same number and lets OPN predict it like any other plane).

- ``VPNNet``: the paper's four functions on an abstract state s ``[B, C, 5, 5]``: encoding f_enc(x) = s (3 conv
  layers, the authors' 32, 32, 64 filters of 3, 3, 4 with strides 1, 1, 2); value f_value(s) = V(s); outcome
  f_out(s, o) = (r, gamma) with gamma = discount ** (1 + relu(predicted option length)); transition
  f_trans(s, o) = s' (an option-conditional 3x3 convolution, a 3x3 convolution, then a gated 3x3 convolution with a
  residual connection: the authors' ``transform_conv_state``). ``step(s, o)`` returns (s', r, gamma, V(s')).
- ``QNet``: the paper's DQN baseline, the same encoder and option-conditional transition block followed by a linear
  map to Q(s, o) (the authors' ``q`` model).
- ``OPNNet``: the observation-prediction baseline: the same parts, but its transition decodes the next
  *observation* (4 planes, sigmoid) and its value is V(x) = f_value(f_enc(x)), so a plan runs through predicted
  observations instead of abstract states.

Options are the four moves of ``envs.collect``; a batch of rows with mixed options runs one grouped convolution
per option (the same multiply-adds as one convolution, without computing the three options not taken).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

N_OPTIONS = 4
PLANES = 4  # wall, agent, goal, remaining time
SIDE = 10


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    """'32,32,64' -> (32, 32, 64); a ValueError naming ``name`` when it is not a list of positive integers."""
    try:
        values = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise ValueError(f"{name} must be positive whole numbers separated by commas, got '{text}'")
    return values


def he_init(module: nn.Module) -> nn.Module:
    """The authors' initialisation of every convolution: He et al.'s normal, std sqrt(2 / fan_in), zero biases
    (PyTorch's default is three times smaller in variance, and the option-conditional paths then start nearly
    silent: measured, DQN's four Q values stayed equal to two decimals after 40,000 options)."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return module


class Encoder(nn.Module):
    """f_enc: planes [B, 4, 10, 10] -> abstract state [B, C, 5, 5] (C the last filter count)."""

    def __init__(self, filters: tuple[int, ...] = (32, 32, 64)):
        super().__init__()
        layers, channels = [], PLANES
        for i, out in enumerate(filters):
            last = i == len(filters) - 1  # the authors' last layer: 4x4, stride 2 ("SAME": 10 -> 5)
            layers.append(nn.Conv2d(channels, out, 4 if last else 3, stride=2 if last else 1, padding=1))
            channels = out
        self.layers = nn.ModuleList(layers)
        self.channels = channels

    def forward(self, planes: Tensor) -> Tensor:
        x = planes
        for layer in self.layers:
            x = F.relu(layer(x))
        return x


class OptionConv(nn.Module):
    """A 3x3 convolution with its own weights per option: rows [N, C, h, w] with options [N] -> [N, C_out, h, w]."""

    def __init__(self, channels: int, out: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels, out, 3, padding=1) for _ in range(N_OPTIONS))
        self.out = out

    def forward(self, x: Tensor, options: Tensor) -> Tensor:
        result = x.new_empty(x.shape[0], self.out, *x.shape[2:])
        for option, conv in enumerate(self.convs):
            rows = (options == option).nonzero().reshape(-1)
            if len(rows) == len(options):
                return conv(x)
            if len(rows):
                result[rows] = conv(x[rows])
        return result


class Transition(nn.Module):
    """f_trans (the authors' ``transform_conv_state``): option conv -> conv -> gated conv + residual."""

    def __init__(self, channels: int):
        super().__init__()
        self.option = OptionConv(channels, channels)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.gate = nn.Conv2d(channels, channels, 1)
        self.out = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, state: Tensor, options: Tensor) -> Tensor:
        h = F.relu(self.mid(F.relu(self.option(state, options))))
        return F.relu(self.out(h) * torch.sigmoid(self.gate(h)) + state)


class Head(nn.Module):
    """A state [N, C, 5, 5] -> a number [N]: flatten, ``hidden`` ReLU units, one output (value, reward, length)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.hidden = nn.Linear(channels * 25, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(F.relu(self.hidden(x.flatten(1)))).squeeze(1)


class Outcome(nn.Module):
    """f_out (the authors' ``transform_conv_pred`` and reward / steps heads): (s, o) -> reward [N], length [N]."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.option = OptionConv(channels, channels)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.reward = Head(channels, hidden)
        self.length = Head(channels, hidden)

    def forward(self, state: Tensor, options: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.mid(F.relu(self.option(state, options))))
        return self.reward(h), self.length(h)


class VPNNet(nn.Module):
    """Value Prediction Network: encode, then step abstract states by options (module docstring)."""

    def __init__(self, filters=(32, 32, 64), hidden: int = 64, discount: float = 0.98):
        super().__init__()
        self.encoder = Encoder(filters)
        c = self.encoder.channels
        self.transition, self.outcome, self.value_head = Transition(c), Outcome(c, hidden), Head(c, hidden)
        self.discount = discount
        he_init(self)

    def encode(self, planes: Tensor) -> Tensor:
        """f_enc: [B, 4, 10, 10] -> [B, C, 5, 5]."""
        return self.encoder(planes)

    def value(self, states: Tensor) -> Tensor:
        """f_value: [N, C, 5, 5] -> [N]."""
        return self.value_head(states)

    def step(self, states: Tensor, options: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(s [N, ...], o [N]) -> (s' [N, ...], reward [N], gamma [N], predicted length [N], as ``lengths``)."""
        reward, length = self.outcome(states, options)
        return self.transition(states, options), reward, self.discount ** (1 + F.relu(length)), length


class QNet(nn.Module):
    """The DQN baseline: encoder, the option-conditional transition block for each option, a linear Q head."""

    def __init__(self, filters=(32, 32, 64), hidden: int = 64):
        super().__init__()
        self.encoder = Encoder(filters)
        c = self.encoder.channels
        self.transition = Transition(c)
        self.hidden = nn.Linear(c * 25, hidden)  # the authors' two linear layers, no nonlinearity between
        self.out = nn.Linear(hidden, 1)
        he_init(self)

    def forward(self, planes: Tensor) -> Tensor:
        """Q(x, o) for every option: [B, 4, 10, 10] -> [B, 4]."""
        s = self.encoder(planes)
        rows = s.repeat_interleave(N_OPTIONS, dim=0)
        options = torch.arange(N_OPTIONS, device=s.device).repeat(s.shape[0])
        return self.out(self.hidden(self.transition(rows, options).flatten(1))).reshape(-1, N_OPTIONS)


class OPNNet(nn.Module):
    """The observation-prediction network: the plan's nodes are predicted observations [N, 4, 10, 10] in [0, 1]."""

    def __init__(self, filters=(32, 32, 64), hidden: int = 64, discount: float = 0.98):
        super().__init__()
        self.encoder = Encoder(filters)
        c = self.encoder.channels
        self.transition, self.outcome, self.value_head = Transition(c), Outcome(c, hidden), Head(c, hidden)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(c, 32, 4, stride=2, padding=1), nn.ReLU(),
                                     nn.Conv2d(32, PLANES, 3, padding=1))  # fmt: skip
        self.discount = discount
        he_init(self)

    def encode(self, planes: Tensor) -> Tensor:
        """An OPN node is the observation itself."""
        return planes

    def value(self, planes: Tensor) -> Tensor:
        """V(x) = f_value(f_enc(x)): [N, 4, 10, 10] -> [N]."""
        return self.value_head(self.encoder(planes))

    def step(self, planes: Tensor, options: Tensor, logits: bool = False):
        """(x [N, 4, 10, 10], o [N]) -> (x' probabilities (or logits), reward [N], gamma [N], length [N])."""
        s = self.encoder(planes)
        reward, length = self.outcome(s, options)
        predicted = self.decoder(self.transition(s, options))
        return predicted if logits else torch.sigmoid(predicted), reward, self.discount ** (1 + F.relu(length)), length


def huber(error: Tensor) -> Tensor:
    """The authors' Huber loss, elementwise (quadratic within 1, linear beyond)."""
    return F.huber_loss(error, torch.zeros_like(error), reduction="none", delta=1.0)


def k_step_losses(net, planes: Tensor, options: Tensor, valid: Tensor, rewards: Tensor, lengths: Tensor, *,
                  targets: Tensor | None, k: int, value_rows: Tensor | None = None) -> dict[str, Tensor]:  # fmt: skip
    """VPN's (and OPN's) k-step prediction losses on segments, summed over segments' steps and depths.

    Args:
        planes [B, T, 4, 10, 10], options [B, T] int64, valid [B, T] bool (a segment's steps, left-aligned),
        rewards [B, T] (each option's reward), lengths [B, T] (its primitive steps), targets [B, T + 1] (the n-step
        return R_t of the state at step t, R_T the segment's bootstrap; None: no value loss, as for the
        random-policy segments), value_rows [B] bool (the segments whose value loss counts; None: all), so that
        on-policy and random-policy segments share one pass.

    For every step t and depth l = 1..min(k, t+1) the prediction starts from the state encoded at t - l + 1 and
    follows the real options a_{t-l+1..t}; its reward, option length and (VPN) value of the state reached are
    compared with r_t, the length of o_t and R_{t+1}. OPN's value is learned on the real observations instead
    (V(x_t) against R_t), as a value function on observations would be. Returns the summed Huber losses
    ``reward``, ``length``, ``value`` (and ``observation`` for OPN: binary cross-entropy of the predicted planes
    against x_{t+1}).
    """
    batch, steps = options.shape
    if targets is not None and value_rows is not None:
        valued = value_rows.float()
    else:
        valued = planes.new_ones(batch)
    losses = {"reward": planes.new_zeros(()), "length": planes.new_zeros(()), "value": planes.new_zeros(())}
    opn = isinstance(net, OPNNet)
    if opn:
        losses["observation"] = planes.new_zeros(())
    stack = None  # [B, depth, ...]: the states rolled from the last up-to-k encodings
    for t in range(steps):
        fresh = net.encode(planes[:, t]).unsqueeze(1)
        stack = fresh if stack is None else torch.cat([fresh, stack[:, : k - 1]], dim=1)
        depth = stack.shape[1]
        # the stack holds depths 1..min(k, t+1); segments are left-aligned, so step t valid means all before it are
        ok = valid[:, t : t + 1].expand(batch, depth)
        rows = stack.reshape(batch * depth, *stack.shape[2:])
        opts = options[:, t].repeat_interleave(depth)
        if opn:
            nxt, reward, _, length = net.step(rows, opts, logits=True)
        else:
            nxt, reward, _, length = net.step(rows, opts)
        mask = ok.reshape(-1).float()
        losses["reward"] = losses["reward"] + (huber(reward - rewards[:, t].repeat_interleave(depth)) * mask).sum()
        losses["length"] = losses["length"] + (huber(length - lengths[:, t].repeat_interleave(depth)) * mask).sum()
        if opn and t + 1 < steps:
            target = planes[:, t + 1].repeat_interleave(depth, dim=0)
            has_next = mask * valid[:, t + 1].repeat_interleave(depth).float()
            bce = F.binary_cross_entropy_with_logits(nxt, target, reduction="none").flatten(1).sum(1)
            losses["observation"] = losses["observation"] + (bce * has_next).sum()
        if opn:
            nxt = torch.sigmoid(nxt)
        if targets is not None and not opn:
            value = net.value(nxt)
            target = targets[:, t + 1].repeat_interleave(depth)
            weight = mask * valued.repeat_interleave(depth)
            losses["value"] = losses["value"] + (huber(value - target) * weight).sum()
        stack = nxt.reshape(batch, depth, *nxt.shape[1:])
    if targets is not None and opn:
        flat = (valid & (valued > 0).unsqueeze(1)).reshape(-1)
        values = net.value(planes.reshape(batch * steps, *planes.shape[2:])[flat])
        losses["value"] = huber(values - targets[:, :steps].reshape(-1)[flat]).sum()
    return losses
