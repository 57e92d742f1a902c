"""`stylize --style IMAGE`: the arbitrary-style (AdaIN) checkpoints take a style image at inference.

Turns the loaded generator into the one-argument image -> image network that ``stylize`` tiles over
each photo, and says how much of the ``--alpha`` trade-off is left for the pixel blend.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, load_image, pil_to_tensor
from gan_lightning.core.nets.adain import FixedStyle
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE
from gan_lightning.checkpoints.registry import STYLE_IMAGE_ALGORITHMS


def load_style_image(path: str, size: int, device: torch.device) -> torch.Tensor:
    """(1, 3, H, W) in [-1, 1], short side resized to ``size`` (0: as it is); the size sets the
    scale of the style's strokes in the output."""
    if size < 0:
        raise UserError(f"--style-size {size} is invalid; allowed: 0 (as it is) or a positive side in pixels")
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"--style {path!r} does not exist or is not a file")
    if file.suffix.lower() not in IMAGE_EXTENSIONS:
        raise UserError(f"--style {path!r} is not an image ({', '.join(IMAGE_EXTENSIONS)})")
    image = pil_to_tensor(load_image(file, 3))[None]
    if size > 0:
        image = TF.resize(image, size, antialias=True)
    return image.to(device)


def image_network(generator: nn.Module, algorithm: str, style: str | None, style_size: int, alpha: float, device: torch.device) -> tuple[nn.Module, int, float]:
    """(network applied to each photo, side multiple it needs, alpha left for the pixel blend).

    Arbitrary-style checkpoints mix in feature space (the AdaIN paper's alpha), so the pixel blend
    then gets 1; the others translate to their one trained style and blend in pixels."""
    if algorithm in STYLE_IMAGE_ALGORITHMS:
        if style is None:
            raise UserError(f"this {algorithm} checkpoint stylizes with any style image: add --style IMAGE")
        return FixedStyle(generator, load_style_image(style, style_size, device), alpha), generator.stride, 1.0
    if style is not None:
        raise UserError(f"--style is for arbitrary-style checkpoints ({', '.join(STYLE_IMAGE_ALGORITHMS)}); this {algorithm} checkpoint has its trained style")
    return generator, GENERATOR_STRIDE, alpha
