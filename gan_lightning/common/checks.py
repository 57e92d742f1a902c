"""Range checks of numeric arguments. A bad value raises one ``UserError`` line of one form,
"<name> must be <what is allowed>, got <value>", so every option reads alike when it is wrong.
``optional`` also allows None (for options that None switches off); NaN fails every check."""

from __future__ import annotations

from typing import Callable

from gan_lightning.common.errors import UserError


def check_positive(name: str, value: float | None, optional: bool = False) -> None:
    """``value`` > 0."""
    _check(name, value, optional, "> 0", lambda v: v > 0)


def check_at_least(name: str, value: float | None, low: float, optional: bool = False) -> None:
    """``value`` >= ``low``."""
    _check(name, value, optional, f"at least {low:g}", lambda v: v >= low)


def check_range(
    name: str, value: float | None, low: float, high: float, low_open: bool = False, high_open: bool = False, optional: bool = False
) -> None:
    """``value`` between ``low`` and ``high``, each end included unless it is open."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    _check(name, value, optional, f"in {interval}", lambda v: (v > low if low_open else v >= low) and (v < high if high_open else v <= high))


def _check(name: str, value: float | None, optional: bool, allowed: str, holds: Callable[[float], bool]) -> None:
    if value is None and optional:
        return
    if value is None or not holds(value):
        raise UserError(f"{name} must be {allowed}{' or null' if optional else ''}, got {value}")
