"""The bundled style-transfer example: the shapes of ``shapes.py`` drawn in two looks.

- content look ("flat"): ``shapes.render_scene``: a flat-coloured shape on a dark plain background.
- style look ("ink"): the same kind of scene on light paper, the shape hatched with diagonal stripes
  of its colour and a darker shade, with a dark ink outline.

Both looks of one scene have the same silhouette, so a translation's result can be checked against
known ground truth: style statistics (:func:`look_statistics`) should move from the content set to
the style set while each image's silhouette (:func:`foreground_mask`) stays where it was.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from gan_lightning.data.shapes import COLORS, ShapeScene, render_scene, shape_polygon

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


# --- measurements on image tensors in [-1, 1], shape (N, 3, H, W) -----------------------------------


def _border(images: Tensor) -> Tensor:
    """Pixels of the 1-pixel frame, (N, 3, P): the background in every bundled image."""
    top, bottom = images[:, :, 0, :], images[:, :, -1, :]
    left, right = images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]
    return torch.cat([top, bottom, left, right], dim=2)


def foreground_mask(images: Tensor, threshold: float = 0.25) -> Tensor:
    """(N, H, W) bool: pixels that differ from the image's own background colour (median of its border)
    by more than ``threshold`` (mean absolute difference over channels, images in [-1, 1])."""
    assert images.ndim == 4 and images.shape[1] == 3, tuple(images.shape)
    background = _border(images).median(dim=2).values[:, :, None, None]
    return (images - background).abs().mean(dim=1) > threshold


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N,) intersection over union of two (N, H, W) boolean masks."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float().clamp(min=1)
    return inter / union


def look_statistics(images: Tensor) -> Tensor:
    """(N, 6) per-image look descriptors: background RGB (border median), mean luminance, luminance
    contrast (std), and high-frequency energy (mean absolute Laplacian, high for hatching and ink)."""
    assert images.ndim == 4 and images.shape[1] == 3, tuple(images.shape)
    images = images.float()
    background = _border(images).median(dim=2).values
    luminance = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None]
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    high_freq = torch.nn.functional.conv2d(luminance, laplacian[None, None]).abs().flatten(1).mean(1, keepdim=True)
    flat = luminance.flatten(1)
    return torch.cat([background, flat.mean(1, keepdim=True), flat.std(1, keepdim=True), high_freq], dim=1)


def look_distance(images: Tensor, reference: Tensor) -> float:
    """Distance between the mean look descriptors of two image sets (smaller: closer in look)."""
    return float((look_statistics(images).mean(0) - look_statistics(reference).mean(0)).norm())


class LookFeatures(torch.nn.Module):
    """A fixed, offline feature network for FID on the bundled style example: the look descriptors of
    :func:`look_statistics` plus a 3x3 colour thumbnail (coarse layout), 33 numbers per image.

    The shapes classifier's features are blind to the light-paper style look, so FID between stylized
    images and the style set uses these instead. Takes images in [0, 1] (torchmetrics' convention).
    Only meaningful on the bundled example, like the shapes classifier on the shapes data.
    """

    num_features = 6 + 27

    def forward(self, images: Tensor) -> Tensor:
        images = images.float() * 2 - 1
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        thumbnail = torch.nn.functional.adaptive_avg_pool2d(images, 3).flatten(1)
        return torch.cat([look_statistics(images), thumbnail], dim=1)
