"""The bundled style-transfer example: the shapes of ``shapes.py`` drawn in two looks.

- content look ("flat"): ``shapes.render_scene``: a flat-coloured shape on a dark plain background.
- style look ("ink"): the same kind of scene on light paper, the shape hatched with diagonal stripes
  of its colour and a darker shade, with a dark ink outline.

Both looks of one scene have the same silhouette, so a translation's result can be checked against
known ground truth (:func:`render_look_batch` draws the same scenes in either look; the measurements
are in ``gan_lightning.evaluation.looks``).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from gan_lightning.data.shapes import COLORS, ShapeScene, render_scene, scene_for_index, shape_polygon
from gan_lightning.common.images import from_uint8

PAPER = (238, 230, 208)
INK = (28, 28, 40)
# Stripe period and outline width as fractions of the image side: visible down to 32 px images.
STRIPE_PERIOD = 0.125
OUTLINE_WIDTH = 0.04
_SUPERSAMPLE = 4


def render_scene_ink(scene: ShapeScene, resolution: int) -> Image.Image:
    """Renders ``scene`` in the style look, as an RGB PIL image of ``resolution`` pixels a side."""
    side = resolution * _SUPERSAMPLE
    # The scene's background jitter shifts the paper tone the same way it shifts the dark background.
    shade = scene.background[0] - 22
    paper = tuple(int(np.clip(c + 2 * shade, 0, 255)) for c in PAPER)
    colour = np.clip(np.array(COLORS[scene.color]) + np.array(scene.tint), 0, 255)
    dark = tuple(int(c) for c in colour * 0.55)
    polygon = shape_polygon(scene, side)

    # Hatching: diagonal stripes over the whole canvas, then kept only inside the silhouette.
    stripes = Image.new("RGB", (side, side), tuple(int(c) for c in colour))
    draw = ImageDraw.Draw(stripes)
    period = max(2, round(STRIPE_PERIOD * side))
    for offset in range(-side, side, period):
        draw.polygon(
            [(offset, 0), (offset + period / 2, 0), (offset + period / 2 + side, side), (offset + side, side)], fill=dark
        )
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    image = Image.new("RGB", (side, side), paper)
    image.paste(stripes, (0, 0), mask)
    width = max(1, round(OUTLINE_WIDTH * side))
    ImageDraw.Draw(image).line(polygon + polygon[:1], fill=INK, width=width, joint="curve")
    return image.resize((resolution, resolution), Image.Resampling.BOX)


def render_look(scene: ShapeScene, resolution: int, look: str) -> Image.Image:
    """``look`` = "flat" (content) or "ink" (style)."""
    if look == "flat":
        return render_scene(scene, resolution)
    if look == "ink":
        return render_scene_ink(scene, resolution)
    raise ValueError(f"unknown look {look!r}; allowed: flat, ink")


def render_look_batch(num: int, resolution: int, look: str, seed: int, first: int = 0) -> torch.Tensor:
    """(num, 3, res, res) images in [-1, 1] of scenes ``first..first+num-1`` of ``seed``, in one look
    (used to measure a translation against the other look of the same scenes)."""
    images = [np.asarray(render_look(scene_for_index(seed, i), resolution, look), dtype=np.float32) for i in range(first, first + num)]
    return from_uint8(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2))
