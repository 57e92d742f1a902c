"""The style benchmark's pairs: the split stated in benchmarks/style_pairs.py holds, and every picture
loads offline as RGB."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import style_pairs


def test_held_out_pairs_share_neither_photo_nor_style_with_tuned_ones():
    tuned_photos = {p.photo for p in style_pairs.TUNED}
    tuned_styles = {p.style for p in style_pairs.TUNED}
    assert len(style_pairs.PHOTOS) >= 8 and len(style_pairs.STYLES) >= 6
    assert all(p.photo not in tuned_photos and p.style not in tuned_styles for p in style_pairs.HELD_OUT)
    assert len(style_pairs.TUNED) == len(style_pairs.HELD_OUT) == 16
    assert ("astronaut", "cells", "tuned") in style_pairs.TUNED  # the portrait x micrograph


def test_fresh_pairs_share_neither_photo_nor_style_with_the_other_splits():
    seen = style_pairs.TUNED + style_pairs.HELD_OUT
    assert len(style_pairs.FRESH) == 16 and style_pairs.SPLITS["fresh"] == style_pairs.FRESH
    assert all(p.photo not in {q.photo for q in seen} and p.style not in {q.style for q in seen} for p in style_pairs.FRESH)


@pytest.mark.parametrize("name", style_pairs.STYLES)
def test_every_style_loads_as_rgb(name):
    image = style_pairs.style(name)
    assert image.mode == "RGB" and min(image.size) >= 256


@pytest.mark.parametrize("name", style_pairs.PHOTOS)
def test_every_photo_loads_offline_as_rgb(name):
    image = style_pairs.photo(name)
    assert image.mode == "RGB" and min(image.size) >= 256


def test_rendered_styles_are_the_same_every_time():
    assert style_pairs.render_mosaic(64, 1).tobytes() == style_pairs.render_mosaic(64, 1).tobytes()
    assert style_pairs.render_hatch(64, 1).tobytes() == style_pairs.render_hatch(64, 1).tobytes()
    for render in (style_pairs.render_stipple, style_pairs.render_waves, style_pairs.render_plaid, style_pairs.render_marble):
        assert render(64, 1).tobytes() == render(64, 1).tobytes() != render(64, 2).tobytes()
