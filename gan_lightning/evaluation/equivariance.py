"""Translation equivariance of a StyleGAN3 generator (Karras et al. 2021, sec. 2 and appendix E):
EQ-T with integer translations, NVlabs' ``eqt50k_int``.

EQ-T = 10 log10(I_max^2 / E[(g(t[z0]; w) - t[g(z0; w)])^2]): the PSNR, in dB, between the image made
from the translated input signal and the translated image, over the pixels both define; I_max = 2
(images in [-1, 1]), w from z with truncation psi 1. Each batch draws one translation, up to
``TRANSLATE_MAX`` of the image side in x and y, rounded to whole pixels so that translating the
image is an exact shift; the generator's input is translated through its ``transform``. The squared
differences and the valid pixel counts are summed over all images before the ratio is taken.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import latents_for_seeds

TRANSLATE_MAX = 0.125  # of the image side
PEAK_TO_PEAK = 2.0  # images in [-1, 1]


def shifted(images: Tensor, dx: int, dy: int) -> tuple[Tensor, Tensor]:
    """(images moved right by dx and down by dy pixels, mask of the pixels they define); the
    uncovered border is zero and outside the mask."""
    out, mask = torch.zeros_like(images), torch.zeros_like(images[:, :1])
    height, width = images.shape[2:]
    ys, yd = slice(max(-dy, 0), height - max(dy, 0)), slice(max(dy, 0), height - max(-dy, 0))
    xs, xd = slice(max(-dx, 0), width - max(dx, 0)), slice(max(dx, 0), width - max(-dx, 0))
    out[:, :, yd, xd] = images[:, :, ys, xs]
    mask[:, :, yd, xd] = 1
    return out, mask


def translation_input_transform(tx: float, ty: float) -> Tensor:
    """The generator input's ``transform`` (an inverse map of the coordinates) that moves the output by
    (tx, ty) image sides: sample the signal at x - t."""
    return torch.tensor([[1.0, 0.0, -tx], [0.0, 1.0, -ty], [0.0, 0.0, 1.0]])


@torch.no_grad()
def translation_error_sums(generator: nn.Module, ws: Tensor, dx: int, dy: int) -> tuple[float, float]:
    """(sum of squared differences, count of compared values) between the images of ``ws`` made
    from the input moved by (dx, dy) pixels and those images shifted by (dx, dy)."""
    synthesis_input = getattr(getattr(generator, "synthesis", None), "input", None)
    if synthesis_input is None or not hasattr(synthesis_input, "transform"):
        raise UserError("equivariance metrics need a StyleGAN3 generator (its input has a transform); this one has none")
    saved = synthesis_input.transform.clone()
    resolution = generator.resolution
    try:
        synthesis_input.transform.copy_(torch.eye(3))
        reference = generator.synthesis(ws)
        synthesis_input.transform.copy_(translation_input_transform(dx / resolution, dy / resolution))
        moved = generator.synthesis(ws)
    finally:
        synthesis_input.transform.copy_(saved)
    target, mask = shifted(reference, dx, dy)
    squared = (moved - target).square() * mask
    return float(squared.sum()), float(mask.sum()) * reference.shape[1]


def psnr(squared_sum: float, count: float) -> float:
    """10 log10(PEAK^2 / MSE) in dB."""
    return 20 * math.log10(PEAK_TO_PEAK) - 10 * math.log10(squared_sum / count)


def integer_translation(draw: torch.Generator, resolution: int) -> tuple[int, int]:
    """One translation, uniform in +-TRANSLATE_MAX of the side in x and y, rounded to whole pixels."""
    t = (torch.rand(2, generator=draw) * 2 - 1) * TRANSLATE_MAX
    dx, dy = (int(round(float(v) * resolution)) for v in t)
    return dx, dy


@torch.no_grad()
def eqt_int(generator: nn.Module, seeds: Sequence[int], batch_size: int = 16, translation_seed: int = 0) -> float:
    """EQ-T (integer translations) in dB of ``generator`` over the images of ``seeds`` (50 000 of them
    for ``eqt50k_int``), one drawn translation per batch of ``batch_size``."""
    device = generator.mapping.w_avg.device
    draw = torch.Generator().manual_seed(translation_seed)
    total, count = 0.0, 0.0
    for start in range(0, len(seeds), batch_size):
        z = latents_for_seeds(list(seeds[start : start + batch_size]), generator.z_dim, device)
        ws = generator.mapping(z, None)
        dx, dy = integer_translation(draw, generator.resolution)
        part, n = translation_error_sums(generator, ws, dx, dy)
        total, count = total + part, count + n
    return psnr(total, count)
