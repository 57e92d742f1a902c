"""Stacked digits: three rendered digits as the R, G and B channels of one image, 1000 modes.

The StackedMNIST benchmark of mode coverage (Metz et al. 2017; Lin et al. 2018) with digits rendered
from the font Pillow ships (``ImageFont.load_default``), not MNIST: no download, and the same images
on every machine. Each digit gets its own random size, stroke width, rotation, shear and position, so
a mode is a family of images rather than one. The label of an image is ``100 * red + 10 * green +
blue``; the classifier that counts the modes of generated images is in
``gan_lightning.evaluation.digits_classifier``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch.utils.data import Dataset

from gan_lightning.common.errors import UserError
from gan_lightning.data.base import ImageDataModule

NUM_DIGITS = 10
NUM_MODES = NUM_DIGITS**3
_SUPERSAMPLE = 4  # drawn at 4x and box-filtered down: antialiased strokes


@dataclass(frozen=True)
class DigitLook:
    """What decides one rendered digit; sizes and offsets are fractions of the image side."""

    digit: int
    height: float  # font size
    stroke: float  # outline width added around the glyph (0: the font's own weight)
    angle: float  # degrees
    shear: float  # horizontal shear factor
    offset: tuple[float, float]


def sample_look(rng: np.random.Generator, digit: int) -> DigitLook:
    return DigitLook(
        digit=digit,
        height=float(rng.uniform(0.7, 0.95)),
        stroke=float(rng.uniform(0.0, 0.05)),
        angle=float(rng.uniform(-15.0, 15.0)),
        shear=float(rng.uniform(-0.25, 0.25)),
        offset=(float(rng.uniform(-0.08, 0.08)), float(rng.uniform(-0.08, 0.08))),
    )


@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


def render_digit(look: DigitLook, resolution: int) -> np.ndarray:
    """One digit, white on black, as a (resolution, resolution) uint8 array."""
    side = resolution * _SUPERSAMPLE
    image = Image.new("L", (side, side), 0)
    stroke = round(look.stroke * side)
    ImageDraw.Draw(image).text(
        (side / 2, side / 2), str(look.digit), fill=255, font=_font(max(4, round(look.height * side))),
        anchor="mm", stroke_width=stroke, stroke_fill=255,
    )  # fmt: skip
    # Inverse affine map (output pixel -> input pixel) about the centre: rotation, shear, shift.
    t = math.radians(look.angle)
    a, b = math.cos(t), math.sin(t) + look.shear
    c, d = -math.sin(t), math.cos(t)
    cx = cy = side / 2
    dx, dy = look.offset[0] * side, look.offset[1] * side
    coefficients = (a, b, cx - a * (cx + dx) - b * (cy + dy), c, d, cy - c * (cx + dx) - d * (cy + dy))
    image = image.transform((side, side), Image.Transform.AFFINE, coefficients, resample=Image.Resampling.BILINEAR)
    return np.array(image.resize((resolution, resolution), Image.Resampling.BOX))


def digits_of(label: int) -> tuple[int, int, int]:
    """Mode ``label`` in 0..999 -> its (red, green, blue) digits."""
    return label // 100, (label // 10) % 10, label % 10


def stacked_image(seed: int, index: int, resolution: int) -> tuple[torch.Tensor, int]:
    """Image ``index`` of the set with this seed, as (3, res, res) in [-1, 1], and its mode; the modes
    cycle, so any 1000 consecutive images hold each mode once."""
    rng = np.random.default_rng([seed, index])
    label = index % NUM_MODES
    planes = [render_digit(sample_look(rng, digit), resolution) for digit in digits_of(label)]
    image = torch.from_numpy(np.stack(planes)).float()
    return image / 127.5 - 1.0, label


def digit_image(seed: int, index: int, resolution: int) -> tuple[torch.Tensor, int]:
    """One rendered digit as (1, res, res) in [-1, 1] and its value: what the digit classifier learns."""
    rng = np.random.default_rng([seed, index])
    digit = int(rng.integers(NUM_DIGITS))
    plane = torch.from_numpy(render_digit(sample_look(rng, digit), resolution)).float()
    return (plane / 127.5 - 1.0).unsqueeze(0), digit


class StackedDigitsDataset(Dataset):
    """``num_images`` stacked-digit images made on the fly from ``seed``, each mode equally often.

    Items are ``(image, mode)``: a float tensor in [-1, 1] of shape (3, res, res) and its mode in 0..999.
    """

    def __init__(self, num_images: int, resolution: int = 32, seed: int = 0) -> None:
        if resolution < 16:
            raise UserError(f"stacked digits resolution {resolution} is too small; allowed: 16 or more")
        self.num_images = num_images
        self.resolution = resolution
        self.seed = seed

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return stacked_image(self.seed, index, self.resolution)


class StackedDigitsDataModule(ImageDataModule):
    """Stacked rendered digits (see the module docstring): 1000 known modes, unconditional, RGB.

    Args:
        resolution: image side (32 as in StackedMNIST's usual setting).
        num_train: training images per epoch (a multiple of 1000 holds every mode equally often).
        num_val: validation images (another seed stream).
        seed: the dataset seed; the same seed gives the same images on every machine.
    """

    def __init__(self, resolution: int = 32, num_train: int = 24_000, num_val: int = 1000, seed: int = 0, **kwargs) -> None:
        if kwargs.get("channels", 3) != 3:
            raise UserError(f"stacked digits have 3 channels (one digit each), got channels {kwargs['channels']}; allowed: 3")
        super().__init__(resolution=resolution, **kwargs)
        self.num_train = num_train
        self.num_val = num_val
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = StackedDigitsDataset(self.num_train, self.resolution, seed=self.seed)
            self.val_set = StackedDigitsDataset(self.num_val, self.resolution, seed=self.seed + 1_000_003)
