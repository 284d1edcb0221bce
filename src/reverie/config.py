"""Typed configs from ``key=value`` strings: the one parser of every algorithm's and planner's settings.

A config is a dataclass; a field whose type is itself a dataclass is a nested config, reached with a dotted key
(``--set model.ensemble_size=7``). Each dataclass validates its own fields in ``__post_init__`` (a ValueError
there becomes a one-line UserError). A field's help is its ``metadata["help"]``, or else the comment written
beside it (on its line, else directly above it, else directly below it), so a Config stays readable as code
and ``reverie list ALGO`` prints the same words. A class may map renamed keys to their new names in a
``RENAMED`` class attribute; the old key then gets a one-line error that names the new one.

A field made by ``one_of`` holds one of several configs chosen by name, e.g. PETS's planner:
``--set planner=mppi`` picks the variant and ``--set planner.temperature=0.3`` sets its keys; ``config.json``
records it as ``{"name": "mppi", ...its keys}`` (``config_record``).
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import functools
import inspect
import io
import textwrap
import tokenize
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

from reverie.errors import UserError

VARIANT_KEY = "name"  # the key of a one_of group that names its variant (in config.json and dotted keys)


_WHOLE = ""  # where the grouping of dotted keys keeps a whole value set beside them (a one_of variant's name)


class KeyInfo(NamedTuple):
    key: str  # dotted, e.g. "model.ensemble_size"
    type: str  # "int", "float", "bool", "str"
    default: Any
    help: str
    choices: tuple | None
    variant: str | None = None  # for a key of a one_of group: the variant it belongs to ("mppi")


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ValueError unless ``low <= value <= high`` (a Config's ``__post_init__`` check, which ``build_config``
    turns into one line)."""
    if not (low <= value <= high):
        raise ValueError(f"config key '{name}' must lie in [{low}, {high}], got {value}")


def one_of(variants: Mapping[str, type], default: str, defaults: Mapping[str, Mapping] | None = None):
    """A dataclass field holding one config of ``variants`` (name -> dataclass), ``default`` unless chosen.

    ``defaults[name]`` replaces that variant's own defaults where the owner wants others (PETS plans 15 steps
    ahead with every planner); the user's keys replace both.
    """
    variants, defaults = dict(variants), {k: dict(v) for k, v in (defaults or {}).items()}
    for name, values in defaults.items():
        unknown = set(values) - {f.name for f in dataclasses.fields(variants[name])}
        assert not unknown, f"one_of defaults for {name} name no fields of it: {unknown}"
    return dataclasses.field(
        default_factory=lambda: variants[default](**defaults.get(default, {})),
        metadata={"one_of": (variants, defaults, default)},
    )


def variant_name(config, field_name: str) -> str:
    """The variant chosen for ``config``'s one_of field ``field_name`` (e.g. "mppi")."""
    variants = _one_of_field(type(config), field_name).metadata["one_of"][0]
    return next(k for k, v in variants.items() if type(getattr(config, field_name)) is v)


def config_record(config) -> dict:
    """``config`` as nested plain dicts that ``build_config`` reads back to an equal config (one_of groups carry
    their variant's name under ``"name"``)."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if "one_of" in field.metadata:
            out[field.name] = {VARIANT_KEY: variant_name(config, field.name), **config_record(value)}
        elif dataclasses.is_dataclass(value):
            out[field.name] = config_record(value)
        else:
            out[field.name] = copy.deepcopy(value) if isinstance(value, list | dict) else value
    return out


def _one_of_field(config_cls: type, name: str):
    return next(f for f in dataclasses.fields(config_cls) if f.name == name)


def build_config(config_cls: type, overrides: Mapping[str, Any], name: str | None = None, *, listed=True):
    """``config_cls`` with ``overrides`` applied and checked; ``name`` (e.g. the algorithm) is named in errors,
    which point at ``reverie list NAME`` when ``listed`` (else they list the known keys themselves).

    ``overrides`` maps keys (dotted for nested configs) to strings (``--set``), typed values, or, for a nested
    config, a dict of its own keys (a ``config.json`` read back). An unknown key names the closest known ones;
    a wrong type, a value outside ``metadata["choices"]`` and a failed range check raise UserError too.
    """
    grouped: dict[str, Any] = {}
    for key, value in overrides.items():
        head, dot, rest = key.partition(".")
        if dot:
            if head in grouped and not isinstance(grouped[head], dict):
                grouped[head] = {_WHOLE: grouped[head]}
            grouped.setdefault(head, {})[rest] = value
        elif isinstance(grouped.get(head), dict) and not isinstance(value, Mapping):
            grouped[head][_WHOLE] = value  # e.g. planner=mppi beside planner.temperature=0.3
        else:
            grouped[head] = dict(value) if isinstance(value, Mapping) else value
    return _build(config_cls, grouped, "", config_cls, (name, listed))


def config_keys(config_cls: type, prefix: str = "") -> list[KeyInfo]:
    """Every key of ``config_cls``, nested configs' keys dotted, with type, default, help and choices."""
    keys = []
    hints, helps, default = typing.get_type_hints(config_cls), field_help(config_cls), config_cls()
    for field in dataclasses.fields(config_cls):
        kind = hints[field.name]
        if "one_of" in field.metadata:
            variants, defaults, _ = field.metadata["one_of"]
            chosen = variant_name(default, field.name)
            keys.append(KeyInfo(prefix + field.name, "str", chosen, helps[field.name], tuple(variants)))
            for name, variant in variants.items():
                shown = getattr(default, field.name) if name == chosen else variant(**defaults.get(name, {}))
                for info in _keys_of(variant, shown, f"{prefix}{field.name}."):
                    keys.append(info._replace(variant=name))
            continue
        if dataclasses.is_dataclass(kind):
            keys += config_keys(kind, f"{prefix}{field.name}.")
            continue
        choices = field.metadata.get("choices")
        keys.append(KeyInfo(prefix + field.name, kind.__name__, getattr(default, field.name), helps[field.name],
                            tuple(choices) if choices else None))  # fmt: skip
    return keys


def current_keys(config) -> list[KeyInfo]:
    """``config_keys`` of ``type(config)`` with ``config``'s values as the defaults (a one_of group's variants that
    ``config`` did not choose keep their own)."""
    out = []
    for info in config_keys(type(config)):
        head, _, last = info.key.rpartition(".")
        if info.variant and variant_name(_dotted_get(config, head.rpartition(".")[0]), head.rpartition(".")[2]) \
                != info.variant:  # fmt: skip
            out.append(info)
            continue
        value = _dotted_get(config, info.key)
        if dataclasses.is_dataclass(value):  # the one_of field itself: its variant's name
            value = variant_name(_dotted_get(config, head), last)
        out.append(info._replace(default=value))
    return out


def _keys_of(config_cls: type, shown, prefix: str) -> list[KeyInfo]:
    """``config_keys`` of ``config_cls`` with the defaults of the instance ``shown``."""
    return [
        info._replace(default=_dotted_get(shown, info.key[len(prefix) :])) for info in config_keys(config_cls, prefix)
    ]


def _dotted_get(config, key: str):
    for part in filter(None, key.split(".")):
        config = getattr(config, part)
    return config


def field_help(config_cls: type) -> dict[str, str]:
    """Each field's help text: ``metadata["help"]``, else its comment in the class source ('' when it has none)."""
    comments: dict[str, str] = {}
    for klass in reversed(config_cls.__mro__):  # a subclass's comment replaces its base's
        if dataclasses.is_dataclass(klass):
            comments.update({k: v for k, v in _source_comments(klass).items() if v})
    return {f.name: f.metadata.get("help") or comments.get(f.name, "") for f in dataclasses.fields(config_cls)}


def _build(config_cls: type, values: dict[str, Any], prefix: str, root: type, name: tuple):
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    parsed = {}
    for key, value in values.items():
        if key not in fields:
            _unknown(config_cls, prefix + key, root, name)
        kind = hints[key]
        if "one_of" in fields[key].metadata:
            parsed[key] = _build_variant(fields[key], value, f"{prefix}{key}", root, name)
        elif dataclasses.is_dataclass(kind):
            if isinstance(value, dict) and _WHOLE in value:
                raise UserError(f"config key '{prefix}{key}' is set both as a whole and by its dotted keys")
            if not isinstance(value, dict):
                raise UserError(f"config key '{prefix}{key}' is a group of settings: set its keys, e.g. "
                                f"'{prefix}{key}.{dataclasses.fields(kind)[0].name}=...'")  # fmt: skip
            parsed[key] = _build(kind, value, f"{prefix}{key}.", root, name)
        else:
            parsed[key] = parse_value(prefix + key, value, kind, fields[key].metadata.get("choices"))
    try:
        return config_cls(**parsed)
    except ValueError as error:
        raise UserError(str(error)) from None


def _build_variant(field, value, key: str, root: type, name: tuple):
    """The variant config a one_of field is set to: ``value`` is its name, or a dict of its keys (and name)."""
    variants, defaults, default = field.metadata["one_of"]
    values = dict(value) if isinstance(value, dict) else {_WHOLE: value}
    chosen = values.pop(_WHOLE, values.pop(VARIANT_KEY, default))
    chosen = parse_value(key, chosen, str, tuple(variants))
    variant = variants[chosen]
    own = {f.name for f in dataclasses.fields(variant)}
    for sub in values:
        if sub not in own:
            others = [n for n, v in variants.items() if sub in {f.name for f in dataclasses.fields(v)}]
            if others:
                raise UserError(f"config key '{key}.{sub}' belongs to {key} {' or '.join(others)}, "
                                f"not to {chosen} (choose it with {key}={others[0]})")  # fmt: skip
    return _build(variant, {**defaults.get(chosen, {}), **values}, f"{key}.", root, name)


def _unknown(config_cls: type, key: str, root: type, name: tuple) -> None:
    name, listed = name
    renamed = getattr(config_cls, "RENAMED", {})
    if key.rsplit(".", 1)[-1] in renamed:
        raise UserError(f"config key '{key}' was renamed: use '{renamed[key.rsplit('.', 1)[-1]]}'")
    known = [info.key for info in config_keys(root)]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    where = f" for {name}" if name else ""
    listing = f" (every key: 'reverie list {name}')" if name and listed else f"; known keys: {', '.join(known)}"
    raise UserError(f"unknown config key '{key}'{where}{hint}{listing}")


def parse_value(key: str, text: Any, kind: type, choices=None) -> Any:
    """``text`` (a string from the command line, or a value) as a ``kind`` (int, float, bool or str)."""
    if not isinstance(text, str):
        value = text
    elif kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise UserError(f"config key '{key}' expects true or false, got '{text}'")
        value = lowered in ("true", "1", "yes")
    else:
        try:
            value = kind(text)
        except ValueError:
            raise UserError(f"config key '{key}' expects {kind.__name__}, got '{text}'") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise UserError(f"config key '{key}' expects {kind.__name__}, got {value!r}")
    if choices and value not in choices:
        raise UserError(f"config key '{key}' must be one of {', '.join(map(str, choices))}, got '{value}'")
    return value


@functools.cache
def _source_comments(klass: type) -> dict[str, str]:
    """The comment beside each field assignment in ``klass``'s own source (see the module docstring)."""
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):  # no source (e.g. a class made at run time): no help
        return {}
    comments = {}  # line number -> text
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    lines = source.splitlines()
    own_line = {n for n, line in enumerate(lines, 1) if line.strip().startswith("#")}
    nodes = [
        n for n in ast.parse(source).body[0].body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    above = {node.target.id: _block(own_line, node.lineno - 1, -1) for node in nodes}
    claimed = {line for block in above.values() for line in block}  # a comment above a field is that field's
    found = {}
    for node in nodes:
        if node.end_lineno in comments and node.end_lineno not in own_line:  # a comment on the field's line
            block = [node.end_lineno]
        else:
            block = above[node.target.id] or [n for n in _block(own_line, node.end_lineno + 1, 1) if n not in claimed]
        found[node.target.id] = " ".join(comments[n] for n in sorted(block))
    return found


def _block(comment_lines: set[int], start: int, direction: int) -> list[int]:
    """The run of whole-line comments that begins at line ``start`` and goes up (-1) or down (+1)."""
    block, line = [], start
    while line in comment_lines:
        block.append(line)
        line += direction
    return block
