"""One way to put a learner's state into a checkpoint and take it back: modules, optimizers, random generators
and typed state as plain named arrays (a checkpoint is an ``.npz`` of numbers, never a pickle).

    arrays = pack(model=model, optimizer=adam, generator=generator, state=gps_state)
    unpack(arrays, model=model, optimizer=adam, generator=generator)   # in place
    gps_state = unpack(arrays, state=GPSState)["state"]                # typed state comes back as a new object

An optimizer's state is packed too (Adam's moments and step counts), so a learner that keeps one optimizer
across episodes resumes exactly where it stopped instead of restarting its moment estimates.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import numpy as np
import torch

from reverie.errors import UserError


def pack(**parts) -> dict[str, np.ndarray]:
    """Named arrays for each part: an ``nn.Module``, a ``torch.optim.Optimizer``, a ``torch.Generator``, a
    dataclass instance of arrays and numbers, or an array / number. Keys are ``<name>.<inner key>``."""
    arrays: dict[str, np.ndarray] = {}
    for name, part in parts.items():
        if isinstance(part, torch.nn.Module):
            arrays.update({f"{name}.{k}": v.detach().cpu().numpy().copy() for k, v in part.state_dict().items()})
        elif isinstance(part, torch.optim.Optimizer):
            arrays.update(_pack_optimizer(name, part.state_dict()))
        elif isinstance(part, torch.Generator):
            arrays[name] = part.get_state().numpy()
        elif dataclasses.is_dataclass(part):
            arrays.update({f"{name}.{f.name}": np.asarray(getattr(part, f.name)) for f in dataclasses.fields(part)})
        else:
            arrays[name] = np.asarray(part)
    return arrays


def unpack(arrays: dict[str, np.ndarray], **parts) -> dict:
    """Load each part from ``pack``'s arrays: modules, optimizers and generators in place; a dataclass *class*
    is built from its fields (numbers as Python numbers). Returns {name: the loaded part}. A missing or
    mismatched entry raises UserError (a checkpoint of another configuration, or a corrupt one)."""
    loaded = {}
    try:
        for name, part in parts.items():
            if isinstance(part, torch.nn.Module):
                prefix = f"{name}."
                state = {k[len(prefix) :]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith(prefix)}
                part.load_state_dict(state)
            elif isinstance(part, torch.optim.Optimizer):
                part.load_state_dict(_unpack_optimizer(name, arrays))
            elif isinstance(part, torch.Generator):
                part.set_state(torch.as_tensor(arrays[name]))
            elif isinstance(part, type) and dataclasses.is_dataclass(part):
                part = _unpack_dataclass(name, part, arrays)
            else:
                part = arrays[name]
            loaded[name] = part
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise UserError(f"checkpoint does not fit this configuration (or is corrupt): {_first_line(error)}") from None
    return loaded


def _pack_optimizer(name: str, state: dict) -> dict[str, np.ndarray]:
    arrays, layout = {}, {"param_groups": state["param_groups"], "state": {}}
    for param_id, values in state["state"].items():
        layout["state"][str(param_id)] = {}
        for key, value in values.items():
            if torch.is_tensor(value):
                arrays[f"{name}.state.{param_id}.{key}"] = value.detach().cpu().numpy().copy()
                layout["state"][str(param_id)][key] = {"tensor": str(value.dtype).removeprefix("torch.")}
            else:
                layout["state"][str(param_id)][key] = {"value": value}
    arrays[f"{name}.layout"] = np.frombuffer(json.dumps(layout).encode(), np.uint8).copy()
    return arrays


def _unpack_optimizer(name: str, arrays: dict[str, np.ndarray]) -> dict:
    layout = json.loads(arrays[f"{name}.layout"].tobytes().decode())
    state = {}
    for param_id, values in layout["state"].items():
        state[int(param_id)] = {
            key: torch.as_tensor(arrays[f"{name}.state.{param_id}.{key}"], dtype=getattr(torch, kind["tensor"]))
            if "tensor" in kind
            else kind["value"]
            for key, kind in values.items()
        }
    return {"state": state, "param_groups": layout["param_groups"]}


def _unpack_dataclass(name: str, cls: type, arrays: dict[str, np.ndarray]):
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        value = arrays[f"{name}.{field.name}"]
        kind = hints[field.name]
        values[field.name] = kind(value.item()) if kind in (int, float, bool) else np.array(value)
    return cls(**values)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
