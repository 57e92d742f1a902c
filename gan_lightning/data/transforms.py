"""PIL image -> tensor in [-1, 1]: the transforms every DataModule uses, in one place.

All end with the same step to [-1, 1]. ``load_size`` helpers belong to the random crop: CUT/CycleGAN
resize the short side a little above the crop size first, so the crop can move.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from PIL import Image
from torchvision.transforms import v2

from gan_lightning.common.errors import UserError

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


def _center_crop(resolution: int) -> list:
    """PIL image -> uint8 (C, resolution, resolution): short side resized (antialiased), centre cropped."""
    return [v2.PILToTensor(), v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution)]


def image_transform(resolution: int, channels: int, flip: bool) -> Transform:
    """Resize the short side to ``resolution``, center crop, optional random horizontal flip."""
    steps: list = _center_crop(resolution)
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


# --- prepared datasets: images stored as uint8 squares, converted to [-1, 1] when training ---------

PrepareTransform = Literal["center-crop", "center-crop-wide", "none"]
PREPARE_TRANSFORMS: tuple[str, ...] = ("center-crop", "center-crop-wide", "none")


def prepared_pixels(resolution: int, transform: str) -> Callable[[Image.Image], torch.Tensor]:
    """PIL image -> uint8 (C, resolution, resolution), as ``prepare`` stores it.

    - center-crop: what the image folder does at every read (the same resize and crop).
    - center-crop-wide: the whole width kept, scaled to ``resolution``, centred on a black square
      (letterbox); an image taller than wide is centre cropped as with center-crop.
    - none: the image must already be ``resolution`` square.
    """
    if transform == "center-crop":
        return v2.Compose(_center_crop(resolution))
    if transform == "center-crop-wide":
        return lambda image: _letterbox(v2.functional.pil_to_tensor(image), resolution)
    if transform == "none":
        return lambda image: _exact_size(image, resolution)
    raise UserError(f"unknown transform {transform!r}; allowed: {', '.join(PREPARE_TRANSFORMS)}")


def _letterbox(pixels: torch.Tensor, resolution: int) -> torch.Tensor:
    height, width = pixels.shape[-2:]
    scaled_height = round(height * resolution / width)
    if scaled_height >= resolution:
        return v2.Compose(_center_crop(resolution)[1:])(pixels)
    band = v2.functional.resize(pixels, [max(scaled_height, 1), resolution], antialias=True)
    canvas = torch.zeros((pixels.shape[0], resolution, resolution), dtype=torch.uint8)
    top = (resolution - band.shape[-2]) // 2
    canvas[:, top : top + band.shape[-2]] = band
    return canvas


def _exact_size(image: Image.Image, resolution: int) -> torch.Tensor:
    if image.size != (resolution, resolution):
        raise UserError(
            f"image is {image.size[0]}x{image.size[1]}, not {resolution}x{resolution} (--transform none keeps images as "
            "they are; use --transform center-crop to resize)"
        )
    return v2.functional.pil_to_tensor(image)
