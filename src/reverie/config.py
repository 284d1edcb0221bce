"""Typed configs from ``key=value`` strings: the one parser of every algorithm's and planner's settings.

A config is a dataclass; a field whose type is itself a dataclass is a nested config, reached with a dotted key
(``--set model.ensemble_size=7``). Each dataclass validates its own fields in ``__post_init__`` (a ValueError
there becomes a one-line UserError). A field's help is its ``metadata["help"]``, or else the comment written
beside it (on its line, else directly above it, else directly below it), so a Config stays readable as code
and ``reverie list ALGO`` prints the same words. A class may map renamed keys to their new names in a
``RENAMED`` class attribute; the old key then gets a one-line error that names the new one.
"""

from __future__ import annotations

import ast
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


class KeyInfo(NamedTuple):
    key: str  # dotted, e.g. "model.ensemble_size"
    type: str  # "int", "float", "bool", "str"
    default: Any
    help: str
    choices: tuple | None


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
            grouped.setdefault(head, {})
            if not isinstance(grouped[head], dict):
                raise UserError(f"config key '{head}' is set both as a whole and as '{key}'")
            grouped[head][rest] = value
        elif isinstance(grouped.get(head), dict) and not isinstance(value, Mapping):
            raise UserError(f"config key '{head}' is set both as a whole and by its dotted keys")
        else:
            grouped[head] = dict(value) if isinstance(value, Mapping) else value
    return _build(config_cls, grouped, "", config_cls, (name, listed))


def config_keys(config_cls: type, prefix: str = "") -> list[KeyInfo]:
    """Every key of ``config_cls``, nested configs' keys dotted, with type, default, help and choices."""
    keys = []
    hints, helps, default = typing.get_type_hints(config_cls), field_help(config_cls), config_cls()
    for field in dataclasses.fields(config_cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            keys += config_keys(kind, f"{prefix}{field.name}.")
            continue
        choices = field.metadata.get("choices")
        keys.append(KeyInfo(prefix + field.name, kind.__name__, getattr(default, field.name), helps[field.name],
                            tuple(choices) if choices else None))  # fmt: skip
    return keys


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
        if dataclasses.is_dataclass(kind):
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
