"""One pack/unpack for checkpoints: modules, optimizers (Adam's moments), generators and typed state."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from reverie.errors import UserError
from reverie.packing import pack, unpack


def _learner(seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return net, torch.optim.Adam(net.parameters(), lr=1e-2), torch.Generator().manual_seed(seed)


def _train(net, adam, generator, steps: int) -> None:
    for _ in range(steps):
        x = torch.randn(16, 3, generator=generator)
        loss = ((net(x) - x.sum(1, keepdim=True).sin()) ** 2).mean()
        adam.zero_grad()
        loss.backward()
        adam.step()


def test_an_adam_learner_packed_midway_resumes_exactly():
    straight = _learner(0)
    _train(*straight, 20)
    first = _learner(0)
    _train(*first, 10)
    arrays = pack(net=first[0], adam=first[1], generator=first[2])
    assert all(isinstance(v, np.ndarray) for v in arrays.values())  # numbers only: no pickle in a checkpoint
    resumed = _learner(1)  # other weights, a fresh optimizer and another random stream
    unpack(arrays, net=resumed[0], adam=resumed[1], generator=resumed[2])
    _train(*resumed, 10)
    for a, b in zip(straight[0].parameters(), resumed[0].parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_the_optimizer_state_the_resumed_learner_differs():
    # the check above could not fail if Adam's moments did not matter: restarting them changes the result
    straight = _learner(0)
    _train(*straight, 20)
    first = _learner(0)
    _train(*first, 10)
    resumed = _learner(1)
    unpack(pack(net=first[0], generator=first[2]), net=resumed[0], generator=resumed[2])
    _train(*resumed, 10)
    assert not torch.equal(next(straight[0].parameters()), next(resumed[0].parameters()))


@dataclass
class IterationState:
    iteration: int
    step_size: float
    gains: np.ndarray


def test_typed_state_comes_back_typed():
    state = IterationState(3, 0.5, np.arange(6.0).reshape(2, 3))
    back = unpack(pack(state=state), state=IterationState)["state"]
    assert type(back.iteration) is int and back.step_size == 0.5 and np.array_equal(back.gains, state.gains)


def test_a_checkpoint_of_another_shape_is_one_user_error():
    net, _, _ = _learner(0)
    other = torch.nn.Linear(3, 2)
    with pytest.raises(UserError, match="does not fit"):
        unpack(pack(net=net), net=other)
    with pytest.raises(UserError, match="does not fit"):
        unpack({}, state=IterationState)
