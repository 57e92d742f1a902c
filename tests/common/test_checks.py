"""A bad numeric option is one line naming it, what is allowed and the value given."""

from __future__ import annotations

import math

import pytest

from gan_lightning.common.checks import check_at_least, check_positive, check_range
from gan_lightning.common.errors import UserError


def test_values_in_range_pass() -> None:
    check_positive("lr", 1e-8)
    check_positive("ema_kimg", None, optional=True)
    check_at_least("batch_size", 1, 1)
    check_at_least("lambda_r1", 0.0, 0)
    check_range("style_mixing_prob", 0.0, 0, 1)
    check_range("style_mixing_prob", 1.0, 0, 1)
    check_range("val_fraction", 0.0, 0, 1, high_open=True)
    check_range("ema_decay", None, 0, 1, low_open=True, high_open=True, optional=True)


@pytest.mark.parametrize(
    "check, message",
    [
        (lambda: check_positive("lr", 0), "lr must be > 0, got 0"),
        (lambda: check_positive("lr", -1e-3), "lr must be > 0, got -0.001"),
        (lambda: check_positive("fid_every_kimg", 0, optional=True), "fid_every_kimg must be > 0 or null, got 0"),
        (lambda: check_positive("lr", None), "lr must be > 0, got None"),
        (lambda: check_at_least("r1_interval", 0, 1), "r1_interval must be at least 1, got 0"),
        (lambda: check_at_least("num_workers", -1, 0), "num_workers must be at least 0, got -1"),
        (lambda: check_range("style_mixing_prob", 1.5, 0, 1), "style_mixing_prob must be in [0, 1], got 1.5"),
        (lambda: check_range("val_fraction", 1.0, 0, 1, high_open=True), "val_fraction must be in [0, 1), got 1.0"),
        (lambda: check_range("ada_target", 0.0, 0, 1, low_open=True, high_open=True), "ada_target must be in (0, 1), got 0.0"),
        (lambda: check_range("ema_decay", 1.0, 0, 1, low_open=True, high_open=True, optional=True), "ema_decay must be in (0, 1) or null, got 1.0"),
    ],
)
def test_a_value_out_of_range_is_one_line_naming_it_and_what_is_allowed(check, message: str) -> None:
    with pytest.raises(UserError) as error:
        check()
    assert str(error.value) == message


def test_nan_fails_every_check() -> None:
    for check in (lambda: check_positive("lr", math.nan), lambda: check_at_least("n", math.nan, 0), lambda: check_range("p", math.nan, 0, 1)):
        with pytest.raises(UserError, match="got nan"):
            check()
