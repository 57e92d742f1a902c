"""Image-to-image inference at any size with bounded memory: overlapping tiles blended with linear ramps.

Used by the ``stylize`` command and by ``StyleTransfer.predict_step``; plain torch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_lightning.common.errors import UserError

# Largest side processed in one pass. At ngf 64 a 1024x1024 pass of the CUT generator needs a few GiB.
DEFAULT_TILE_SIZE = 1024
MIN_TILE_SIZE = 32


def check_tile_size(tile_size: int) -> int:
    if tile_size < MIN_TILE_SIZE:
        raise UserError(f"tile size {tile_size} is too small; allowed: >= {MIN_TILE_SIZE}")
    return tile_size


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, tile - overlap))
    return starts + [length - tile]


def _ramp(length: int, overlap: int, fade_in: bool, fade_out: bool) -> Tensor:
    """1-D blending weights of one tile: linear ramps over ``overlap`` pixels on sides shared with a neighbour."""
    weights = torch.ones(length)
    ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if fade_in and overlap > 0:
        weights[:overlap] = ramp
    if fade_out and overlap > 0:
        weights[-overlap:] = ramp.flip(0)
    return weights


@torch.no_grad()
def apply_tiled(
    network: nn.Module, image: Tensor, tile_size: int = DEFAULT_TILE_SIZE, overlap: int | None = None, multiple: int = 1
) -> Tensor:
    """``network`` applied to a (1, C, H, W) image, the result (1, C', H, W) on the image's device.

    Images no larger than ``tile_size`` a side go through in one pass; larger ones in overlapping
    tiles, blended with linear ramps (accumulated on the image's device, tiles run on the network's).
    Tile sides and overlaps are kept multiples of ``multiple`` (the network's overall stride).
    Instance normalisation sees each tile's own statistics, so tiles should stay large (>= 256).
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"image shape {tuple(image.shape)} is invalid; allowed: (1, C, H, W)")
    check_tile_size(tile_size)
    device = next(network.parameters()).device
    height, width = image.shape[2:]
    if height <= tile_size and width <= tile_size:
        return network(image.to(device)).to(image.device)

    tile = tile_size - tile_size % multiple
    overlap = tile // 8 if overlap is None else overlap
    overlap = max(multiple, overlap - overlap % multiple)
    if overlap >= tile // 2:
        raise UserError(f"tile overlap {overlap} is too large for tile size {tile}; allowed: < {tile // 2}")
    out: Tensor | None = None
    total = torch.zeros(1, 1, height, width, device=image.device)
    tile_h, tile_w = min(tile, height), min(tile, width)
    for top in _tile_starts(height, tile_h, overlap):
        rows = _ramp(tile_h, overlap, top > 0, top + tile_h < height)
        for left in _tile_starts(width, tile_w, overlap):
            cols = _ramp(tile_w, overlap, left > 0, left + tile_w < width)
            weight = (rows[:, None] * cols[None, :]).to(image.device)
            crop = image[:, :, top : top + tile_h, left : left + tile_w]
            result = network(crop.to(device)).to(image.device).float()
            if out is None:
                out = torch.zeros(1, result.shape[1], height, width, device=image.device)
            out[:, :, top : top + tile_h, left : left + tile_w] += result * weight
            total[:, :, top : top + tile_h, left : left + tile_w] += weight
    assert out is not None
    return out / total
