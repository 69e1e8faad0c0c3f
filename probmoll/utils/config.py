"""Typed configuration files: frozen dataclasses <-> nested dicts <-> YAML, and overrides.

A configuration is a (frozen) dataclass whose fields carry type annotations; sections
are dataclasses too. :func:`config_from_dict` builds one from a nested mapping (a YAML
file), checking every key against the annotations, and :func:`config_to_dict` /
:func:`dump_yaml` turn it back into plain values that read back to an equal object.
Dotted ``key=value`` overrides (:func:`parse_overrides`) are parsed as YAML and merged
(:func:`apply_overrides`) before the dataclass is built: ``KEY={a: 1}`` merges into the
mapping ``KEY`` of the base, while ``KEY={}`` replaces it and ``KEY=null`` gives it its
default (``{}`` for a ``dict`` field, the defaults for a section), so that an override
can switch to a dataset or a model whose options differ.

Nothing here knows a particular schema: the training configuration of
:mod:`probmoll.train.config` is one user. Every error is a :class:`ConfigError` whose
message names the dotted key at fault.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Point:
...     x: int = 0
...     y: float = 1.0
>>> config_from_dict(Point, parse_overrides(["x=3"]))
Point(x=3, y=1.0)
>>> config_from_dict(Point, {"z": 1})
Traceback (most recent call last):
...
probmoll.utils.config.ConfigError: unknown key z; valid keys: x, y
"""

from __future__ import annotations

import dataclasses
import enum
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "ConfigError",
    "apply_overrides",
    "coerce",
    "config_from_dict",
    "config_to_dict",
    "dump_yaml",
    "nest_dotted",
    "parse_overrides",
    "read_yaml_mapping",
]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the offending key."""


# ------------------------------------------------------------------- dict <-> dataclass
def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against, and converted to, the type annotation ``hint``.

    Parameters
    ----------
    value : object
        A plain value as YAML gives it (mapping, list, str, number, bool, None).
    hint : type annotation
        ``int``, ``float``, ``bool``, ``str``, ``X | None``, ``Literal[...]``, an
        :class:`enum.Enum`, a dataclass, ``tuple[...]``/``list[...]``/``Sequence[...]``,
        ``dict[...]``/``Mapping[...]``, any other class, or ``Any``.
    key : str
        The dotted key of ``value``, for the error message.

    Returns
    -------
    object
        ``value`` as the annotation wants it: lists become tuples for tuple (and
        ``Sequence``) annotations, mappings become dataclasses, strings become enum
        members, integers become floats for ``float``; YAML 1.1's ``"5e-4"`` (read as a
        string) is accepted as a float.

    Raises
    ------
    ConfigError
        When ``value`` does not fit ``hint``; the message names ``key``.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key} must not be null (expected {_type_name(hint)})")
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return coerce(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(
            f"{key} = {value!r} matches none of {_type_name(hint)}: " + "; ".join(errors)
        )
    if value is None:
        raise ConfigError(f"{key} must not be null (expected {_type_name(hint)})")
    if origin is Literal:
        if not any(value == choice and type(value) is type(choice) for choice in args):
            choices = ", ".join(repr(choice) for choice in args)
            raise ConfigError(f"{key} = {value!r} is not one of the valid choices: {choices}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in hint)
            raise ConfigError(
                f"{key} = {value!r} is not one of the valid choices: {choices}"
            ) from None
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {hint.__name__} keys, got {value!r}")
        return config_from_dict(hint, value, prefix=f"{key}.")
    if origin in (tuple, list, Sequence, typing.Sequence) or hint in (tuple, list):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(f"{key} must be a list ({_type_name(hint)}), got {value!r}")
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{key} must have {len(args)} entries, got {value!r}")
            items = [
                coerce(v, a, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            item_hint = args[0] if args else Any
            items = [coerce(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value)]
        return list(items) if origin is list or hint is list else tuple(items)
    if origin in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        if isinstance(value, str):
            # YAML 1.1 reads "5e-4" (no dot) as a string; accept it as the number it is.
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if isinstance(hint, type):
        if not isinstance(value, hint):
            raise ConfigError(f"{key} must be a {hint.__name__}, got {value!r}")
        return value
    return value


def _is_mapping_hint(hint: Any) -> bool:
    """Whether ``hint`` is a dataclass (a section) or a ``dict``/``Mapping`` annotation."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return True
    return typing.get_origin(hint) in (dict, Mapping, typing.Mapping) or hint in (dict, Mapping)


def _null_means_default(spec: dataclasses.Field, hint: Any) -> bool:
    """Whether null for this field stands for its default: a mapping or section that has
    a default and whose annotation does not take None (``X | None`` keeps the null)."""
    has_default = not (
        spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
    )
    return has_default and _is_mapping_hint(hint)


def config_from_dict(cls: type, data: Mapping[str, Any], *, prefix: str = "") -> Any:
    """Build the (frozen) dataclass ``cls`` from a nested mapping, checking every key.

    Parameters
    ----------
    cls : dataclass type
        The configuration class; nested dataclass fields are built from nested mappings.
    data : mapping
        Field name -> value; absent fields keep their defaults, and so do mappings and
        sections given as null (``model.kwargs: null`` is ``{}``, ``eval: null`` the
        defaults of the section) unless their annotation takes None.
    prefix : str, default ""
        Dotted path of ``cls`` inside a larger configuration (e.g. ``"optim."``), put in
        front of every key an error names.

    Returns
    -------
    cls
        The configuration.

    Raises
    ------
    ConfigError
        For unknown keys (listing the valid ones), values of the wrong type and missing
        required keys, naming the dotted key (``prefix`` + field name). A ValueError or
        TypeError from the dataclass's own checks (``__post_init__``) is re-raised as a
        ConfigError naming the section.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s}; valid keys"
            f"{' of ' + prefix.rstrip('.') if prefix else ''}: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, spec in fields.items():
        key = f"{prefix}{name}"
        if name in data and data[name] is None and _null_means_default(spec, hints.get(name)):
            continue  # KEY=null on a mapping: its default, as if never set
        if name in data:
            kwargs[name] = coerce(data[name], hints.get(name, Any), key)
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key {key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        section = prefix.rstrip(".") or "config"
        raise ConfigError(f"{section}: {error}") from error


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A nested dict of plain YAML/JSON values: dataclasses as mappings of their fields,
    enums as their values, tuples as lists, paths as strings.

    :func:`config_from_dict` of the result gives back an equal configuration.
    """
    return _plain(config)


class _Dumper(yaml.SafeDumper):
    """Block-style mappings, flow-style lists of scalars (``severities: [1, 2, 3]``)."""


def _represent_list(dumper: yaml.SafeDumper, values: list) -> yaml.Node:
    flow = all(not isinstance(value, (dict, list)) for value in values)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(config: Any) -> str:
    """The YAML text of a configuration (or any mapping of plain values).

    Keys keep their field order; mappings are written in block style and lists of
    scalars on one line (``severities: [1, 2, 3]``).
    """
    return yaml.dump(_plain(config), Dumper=_Dumper, sort_keys=False, default_flow_style=False)


# -------------------------------------------------------------------------- overrides
class _Reset(dict):
    """An override mapping that replaces what the base holds instead of merging into it.

    Overrides are combined (:func:`nest_dotted`) before they meet a base, so that
    ``KEY={}`` followed by ``KEY.a=1`` still means "exactly ``{a: 1}``": the mark has to
    survive until :func:`apply_overrides`, which leaves plain dicts only.
    """


def _marked(value: Any) -> Any:
    """``value`` with every empty mapping in it marked as a reset."""
    if isinstance(value, Mapping):
        if not value:
            return _Reset()
        marked = {key: _marked(item) for key, item in value.items()}
        return _Reset(marked) if isinstance(value, _Reset) else marked
    return value


def _unmarked(value: Any) -> Any:
    """``value`` with every (nested) dict a plain dict: no reset marks left."""
    if isinstance(value, dict):
        return {key: _unmarked(item) for key, item in value.items()}
    return value


def _combine(earlier: dict, later: Mapping[str, Any]) -> dict:
    """Two overrides of one key as one: ``later`` merges into ``earlier`` (keeping its
    reset mark), except where ``later`` is itself a reset."""
    combined = type(earlier)(earlier)
    for key, value in later.items():
        combined[key] = _combine_value(combined, key, value)
    return combined


def _combine_value(node: dict, key: str, value: Any) -> Any:
    """What ``node[key]`` becomes when a later override sets it to ``value``."""
    if isinstance(value, dict) and not isinstance(value, _Reset):
        if isinstance(node.get(key), dict):
            return _combine(node[key], value)
        if key in node and node[key] is None:
            return _Reset(value)  # KEY=null then KEY={x: 1}: exactly {x: 1}
    return value


def nest_dotted(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "c": 2}`` -> ``{"a": {"b": 1}, "c": 2}``, later keys winning.

    An empty mapping (``{"a.b": {}}``) is kept as a reset: :func:`apply_overrides`
    replaces ``a.b`` of the base with it instead of merging. A key below a reset or a
    null (``{"a.b": {}, "a.b.c": 1}``, ``{"a.b": None, "a.b.c": 1}``) fills the
    emptied mapping, so that together they say "exactly ``{c: 1}``".

    Raises
    ------
    ConfigError
        For an empty part (``"a..b"``) or a key that is both a value and a section.
    """
    return _nest_items(flat.items())


def _nest_items(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """:func:`nest_dotted` of ``(dotted key, value)`` pairs, in order (keys may repeat)."""
    nested: dict[str, Any] = {}
    for key, value in items:
        parts = str(key).split(".")
        if not all(parts):
            raise ConfigError(f"{key!r} is not a dotted key (e.g. likelihood.k)")
        node = nested
        for part in parts[:-1]:
            if part in node and node[part] is None:
                node[part] = _Reset()  # KEY=null then KEY.x=...: start from nothing
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override of {key!r} conflicts with an override of {part!r}")
        node[parts[-1]] = _combine_value(node, parts[-1], _marked(value))
    return nested


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` -> ``{"a": {"b": 1}, "c": [1, 2]}`` (values parsed as YAML).

    An empty value (``"a.b="``) is None. ``a.b={}`` resets the mapping ``a.b`` of the
    base (see :func:`apply_overrides`); ``a.b={x: 1}`` merges into it. Items apply in
    order: ``a.b={}`` then ``a.b.x=1`` is exactly ``{x: 1}``. A reset stays marked (a
    ``dict`` subclass) until :func:`apply_overrides` meets it with a base.

    Raises
    ------
    ConfigError
        For an item that is not ``dotted.key=value`` or whose value is not valid YAML.
    """
    items: list[tuple[str, Any]] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                f"override {item!r} is not of the form dotted.key=value (e.g. likelihood.k=4)"
            )
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({error})") from None
        items.append((key, value))
    return _nest_items(items)


def apply_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into ``base`` (neither is modified).

    Non-empty mappings merge key by key (so ``model.kwargs.width=8`` and
    ``model.kwargs={width: 8}`` keep the other ``model.kwargs``). An empty mapping
    replaces what the base holds (``data.options={}`` drops the base's options, so that
    a dataset can be switched), as does a mapping after a reset (``data.options={}``
    with ``data.options.n=5`` gives exactly ``{n: 5}``). Any other value replaces what
    was there; null for a mapping the dataclass does not let be null is its default
    (see :func:`config_from_dict`). The result holds plain dicts.
    """
    merged = {key: _unmarked(value) for key, value in base.items()}
    for key, value in overrides.items():
        if (
            isinstance(value, Mapping)
            and value
            and not isinstance(value, _Reset)
            and isinstance(merged.get(key), Mapping)
        ):
            merged[key] = apply_overrides(merged[key], value)
        else:
            merged[key] = _unmarked(value)
    return merged


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping held by the YAML file ``path`` (an empty file gives ``{}``).

    Raises
    ------
    ConfigError
        When the file does not exist, is not valid YAML or holds something other than a
        mapping; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping, got {type(data).__name__}"
        )
    return data
