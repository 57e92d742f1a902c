"""Photos and style images that ship with a package (scikit-image's ``data`` module, no download),
for the offline perceptual and arbitrary-style examples.

scikit-image's textures are grey; the style images here colour them with a two-colour palette, so a
stylized photo shows both the style's strokes and its colours.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from gan_lightning.common.errors import UserError

# Colour photos of scikit-image 0.2x that need no download: the presets' default content.
EXAMPLE_PHOTOS: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket")
# Grey photographs it ships too, none of them a style's source or a style benchmark photo: more varied
# content for a one-style generator, which otherwise sees three photos (as RGB, like any grey photo).
GREY_PHOTOS: tuple[str, ...] = ("moon", "clock", "cell", "page", "text")
PHOTO_NAMES: tuple[str, ...] = EXAMPLE_PHOTOS + GREY_PHOTOS
# name -> (scikit-image texture or colour image, dark colour, light colour; None: keep its own colours)
_STYLES: dict[str, tuple[str, tuple[int, int, int] | None, tuple[int, int, int] | None]] = {
    "grass_ink": ("grass", (24, 28, 82), (236, 196, 104)),
    "gravel_rust": ("gravel", (60, 20, 10), (250, 170, 90)),
    "brick_teal": ("brick", (10, 50, 60), (170, 235, 220)),
    "cells": ("immunohistochemistry", None, None),
    "deep_field": ("hubble_deep_field", None, None),
}
EXAMPLE_STYLES: tuple[str, ...] = tuple(_STYLES)


def _skimage_data():
    try:
        from skimage import data
    except ImportError:
        raise UserError("the offline example images come from scikit-image: pip install scikit-image (or give your own images)") from None
    return data


def check_example_names(photo: str, style: str) -> None:
    """Raises UserError unless ``photo`` is one of PHOTO_NAMES and ``style`` one of EXAMPLE_STYLES
    (before anything is loaded: a typo stops the run at once)."""
    _check_photo(photo)
    _check_style(style)


def _check_photo(name: str) -> None:
    if name not in PHOTO_NAMES:
        raise UserError(f"unknown example photo {name!r}; allowed: {', '.join(PHOTO_NAMES)}")


def _check_style(name: str) -> None:
    if name not in _STYLES:
        raise UserError(f"unknown example style {name!r}; allowed: {', '.join(EXAMPLE_STYLES)}")


def example_photo(name: str) -> Image.Image:
    """One of ``PHOTO_NAMES`` as an RGB image."""
    _check_photo(name)
    return Image.fromarray(getattr(_skimage_data(), name)()).convert("RGB")


def example_style(name: str) -> Image.Image:
    """One of ``EXAMPLE_STYLES`` as an RGB image: a texture coloured between two palette colours."""
    _check_style(name)
    source, dark, light = _STYLES[name]
    array = getattr(_skimage_data(), source)()
    if dark is None or light is None:
        return Image.fromarray(array).convert("RGB")
    # Stretched to the full range first: the textures are mostly mid-grey, the strokes should show.
    low, high = np.percentile(array, (2, 98))
    grey = ((array.astype(np.float32) - low) / max(high - low, 1.0)).clip(0, 1)[..., None]
    coloured = np.asarray(dark, np.float32) * (1 - grey) + np.asarray(light, np.float32) * grey
    return Image.fromarray(coloured.round().clip(0, 255).astype(np.uint8))
