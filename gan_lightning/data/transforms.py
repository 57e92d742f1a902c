"""PIL image -> tensor in [-1, 1]: the transforms every DataModule uses, in one place.

All end with the same step to [-1, 1]. ``load_size`` helpers belong to the random crop: CUT/CycleGAN
resize the short side a little above the crop size first, so the crop can move.
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from torchvision.transforms import v2

from gan_lightning.errors import UserError

Transform = Callable[[Image.Image], torch.Tensor]
# CUT/CycleGAN resize 256 px crops' images to 286 px first: the crop then moves by ~12% of the side.
DEFAULT_LOAD_RATIO = 286 / 256


def load_size_for(load_size: int | None, resolution: int) -> int:
    """The short side images are resized to before a ``resolution`` crop: ``load_size``, or
    resolution * 286/256 when None. Never below the crop, so any crop fits (no randrange crash)."""
    size = int(round(resolution * DEFAULT_LOAD_RATIO)) if load_size is None else load_size
    if size < resolution:
        raise UserError(f"load_size {size} is smaller than the crop resolution {resolution}; allowed: >= {resolution}")
    return size


def _to_signed_unit(channels: int) -> list:
    """uint8 tensor -> float in [-1, 1]."""
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * channels, [0.5] * channels)]


def image_transform(resolution: int, channels: int, flip: bool) -> Transform:
    """Resize the short side to ``resolution``, center crop, optional random horizontal flip."""
    steps: list = [v2.PILToTensor(), v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _to_signed_unit(channels))


def random_crop_transform(resolution: int, load_size: int, channels: int, flip: bool) -> Transform:
    """Random resize-crop: short side to ``load_size``, random ``resolution`` crop, optional flip."""
    steps: list = [v2.PILToTensor(), v2.Resize(load_size, antialias=True), v2.RandomCrop(resolution)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _to_signed_unit(channels))


def full_image_transform(channels: int) -> Transform:
    """The whole image at its own size (what ``predict`` stylizes)."""
    return v2.Compose([v2.PILToTensor()] + _to_signed_unit(channels))
