"""Network settings as typed dataclasses (``GeneratorConfig``, ``PerceptualConfig`` ...): LightningCLI
shows them as nested option groups, checkpoints store them as dicts of their fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar, get_type_hints

from gan_lightning.common.errors import UserError

Config = TypeVar("Config")
# Plain field types -> the values a dict (a checkpoint's, a model folder's JSON) may give them.
_PLAIN_TYPES: dict[type, tuple[type, ...]] = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}
_PLAIN_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _check_plain_types(cls: type, value: Mapping[str, Any]) -> None:
    """Each field typed int, float, str or bool holds one (not a dict, list or None): a file's
    wrong value is named here instead of failing as a TypeError deep inside a network."""
    for name, kind in get_type_hints(cls).items():
        if name not in value or kind not in _PLAIN_TYPES:
            continue
        item = value[name]
        if not isinstance(item, _PLAIN_TYPES[kind]) or (kind is not bool and isinstance(item, bool)):
            raise UserError(f"{cls.__name__} {name} must be {_PLAIN_NAMES[kind]}, got {item!r}")


def as_config(cls: type[Config], value: Config | Mapping[str, Any]) -> Config:
    """A config from an instance or from a dict of its fields (what checkpoints and LightningCLI's
    hyper-parameters hold); missing fields take their defaults, unknown ones are an error."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise UserError(f"{cls.__name__} expected, or a dict of its fields; got {type(value).__name__}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise UserError(f"unknown {cls.__name__} field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    _check_plain_types(cls, value)
    return cls(**value)
