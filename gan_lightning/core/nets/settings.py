"""Network settings as typed dataclasses (``GeneratorConfig``, ``PerceptualConfig`` ...): LightningCLI
shows them as nested option groups, checkpoints store them as dicts of their fields."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from gan_lightning.common.errors import UserError

Config = TypeVar("Config")


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
    return cls(**value)
