"""The bundled default dataset: coloured shapes generated from a seed, no files, no network.

Each image shows one shape (circle, square, triangle, cross) in one of four colours on a dark
background, with jittered position, size, rotation and tint. The 16 (shape, colour) pairs are the
dataset's known modes, so sample quality and mode coverage can be measured with the small classifier
in ``gan_lightning.evaluation.shapes_classifier``. Images are rendered at 4x and box-filtered down, so
edges are antialiased at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from gan_lightning.common.images import pil_to_tensor

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 50, 50),
    "green": (50, 190, 70),
    "blue": (60, 100, 235),
    "yellow": (235, 200, 40),
}
NUM_CLASSES = len(SHAPES) * len(COLORS)
BACKGROUND = (22, 24, 32)
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class ShapeScene:
    """Everything that decides one image; positions and sizes are fractions of the image side."""

    shape: str
    color: str
    center: tuple[float, float]
    size: float
    angle: float  # degrees
    tint: tuple[int, int, int]  # added to the colour, per channel
    background: tuple[int, int, int]

    @property
    def label(self) -> int:
        return SHAPES.index(self.shape) * len(COLORS) + list(COLORS).index(self.color)


def class_name(label: int) -> str:
    return f"{list(COLORS)[label % len(COLORS)]} {SHAPES[label // len(COLORS)]}"


def sample_scene(rng: np.random.Generator, label: int | None = None) -> ShapeScene:
    """Draws one random scene; ``label`` fixes the (shape, colour) mode."""
    if label is None:
        label = int(rng.integers(NUM_CLASSES))
    shape = SHAPES[label // len(COLORS)]
    color = list(COLORS)[label % len(COLORS)]
    center = (0.5 + rng.uniform(-0.12, 0.12), 0.5 + rng.uniform(-0.12, 0.12))
    tint = tuple(int(v) for v in rng.integers(-20, 21, size=3))
    shade = int(rng.integers(-6, 7))
    background = tuple(max(0, c + shade) for c in BACKGROUND)
    return ShapeScene(
        shape=shape,
        color=color,
        center=center,
        size=float(rng.uniform(0.45, 0.65)),
        angle=float(rng.uniform(-20.0, 20.0)),
        tint=tint,  # type: ignore[arg-type]
        background=background,  # type: ignore[arg-type]
    )


def shape_polygon(scene: ShapeScene, side: float) -> list[tuple[float, float]]:
    """The shape's outline in pixel coordinates of an image ``side`` pixels wide (circle: 64-gon)."""
    cx, cy = scene.center[0] * side, scene.center[1] * side
    r = scene.size * side / 2
    if scene.shape == "circle":
        unit = [(math.cos(2 * math.pi * k / 64), math.sin(2 * math.pi * k / 64)) for k in range(64)]
    elif scene.shape == "square":
        s = 0.8
        unit = [(-s, -s), (s, -s), (s, s), (-s, s)]
    elif scene.shape == "triangle":
        unit = [(0.0, -1.0), (0.87, 0.6), (-0.87, 0.6)]
    elif scene.shape == "cross":
        a, b = 0.3, 0.95
        unit = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    else:
        raise ValueError(f"unknown shape {scene.shape!r}; allowed: {', '.join(SHAPES)}")
    t = math.radians(scene.angle)
    cos, sin = math.cos(t), math.sin(t)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in unit]


def render_scene(scene: ShapeScene, resolution: int) -> Image.Image:
    """Renders the flat look: a filled shape on a plain background, as an RGB PIL image."""
    side = resolution * _SUPERSAMPLE
    image = Image.new("RGB", (side, side), scene.background)
    fill = tuple(int(np.clip(c + t, 0, 255)) for c, t in zip(COLORS[scene.color], scene.tint))
    ImageDraw.Draw(image).polygon(shape_polygon(scene, side), fill=fill)
    return image.resize((resolution, resolution), Image.Resampling.BOX)


def scene_for_index(seed: int, index: int) -> ShapeScene:
    """The scene of image ``index`` in the dataset with this seed; the label cycles through all modes."""
    rng = np.random.default_rng([seed, index])
    return sample_scene(rng, label=index % NUM_CLASSES)


class ShapesDataset(Dataset):
    """``num_images`` shapes images made on the fly from ``seed``: identical on every machine and run.

    Items are ``(image, label)`` with the image a float tensor in [-1, 1] of shape (channels, res, res).
    """

    def __init__(self, num_images: int, resolution: int, channels: int = 3, seed: int = 0) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.num_images = num_images
        self.resolution = resolution
        self.channels = channels
        self.seed = seed

    def __len__(self) -> int:
        return self.num_images

    @property
    def labels(self) -> list[int]:
        """Every item's class without rendering it (``scene_for_index`` cycles through the modes)."""
        return [index % NUM_CLASSES for index in range(self.num_images)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        scene = scene_for_index(self.seed, index)
        image = render_scene(scene, self.resolution)
        if self.channels == 1:
            image = image.convert("L")
        return pil_to_tensor(image), scene.label
