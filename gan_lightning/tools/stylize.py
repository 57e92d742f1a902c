"""`python -m gan_lightning stylize`: apply a trained StyleTransfer generator to photos of any size.

The generator is fully convolutional, so images keep their own size. Above ``--tile-size`` pixels a
side, the image is processed in overlapping tiles blended with linear ramps, which bounds memory
(a 4K photo works on CPU or a small GPU). Output files keep the input file names (and sub-folders).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb
from PIL import Image
from torch import Tensor, nn

from gan_lightning.data.image_folder import IMAGE_EXTENSIONS, load_image
from gan_lightning.errors import UserError
from gan_lightning.inference import load_checkpoint, load_generator, resolve_device

# Largest side processed in one pass. At ngf 64 a 1024x1024 pass needs a few GiB of activations.
DEFAULT_TILE_SIZE = 1024
MIN_TILE_SIZE = 32
# The generator works on multiples of 4 (two stride-2 stages); tiles and overlaps are kept so.
_STRIDE = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="StyleTransfer checkpoint from `fit`")
    parser.add_argument("--input", required=True, help="an image file, or a folder of images (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder; files keep their names")
    parser.add_argument("--alpha", type=float, default=1.0, help="blend with the original: 1 = fully stylized (default), 0 = original")
    parser.add_argument("--preserve-color", action="store_true", help="keep the content's colours (take only luminance from the output)")
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE, help=f"largest side processed at once; larger images are tiled (default {DEFAULT_TILE_SIZE})")
    parser.add_argument("--tile-overlap", type=int, default=None, help="overlap between tiles in pixels (default: tile size / 8)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


# --- pure tensor functions (also used by StyleTransfer.predict_step) --------------------------------


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
def stylize_tensor(generator: nn.Module, image: Tensor, tile_size: int = DEFAULT_TILE_SIZE, overlap: int | None = None) -> Tensor:
    """(1, C, H, W) in [-1, 1] -> stylized (1, C, H, W) on the image's device.

    Images no larger than ``tile_size`` a side go through in one pass; larger ones in overlapping
    tiles, blended with linear ramps (accumulated on the image's device, tiles run on the generator's).
    Instance normalisation sees each tile's own statistics, so tiles should stay large (>= 256).
    """
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"image shape {tuple(image.shape)} is invalid; allowed: (1, C, H, W)")
    if tile_size < MIN_TILE_SIZE:
        raise UserError(f"tile size {tile_size} is too small; allowed: >= {MIN_TILE_SIZE}")
    device = next(generator.parameters()).device
    height, width = image.shape[2:]
    if height <= tile_size and width <= tile_size:
        return generator(image.to(device)).to(image.device)

    tile = tile_size - tile_size % _STRIDE
    overlap = tile // 8 if overlap is None else overlap
    overlap = max(_STRIDE, overlap - overlap % _STRIDE)
    if overlap >= tile // 2:
        raise UserError(f"tile overlap {overlap} is too large for tile size {tile}; allowed: < {tile // 2}")
    out = torch.zeros(1, image.shape[1], height, width, device=image.device)
    total = torch.zeros(1, 1, height, width, device=image.device)
    tile_h, tile_w = min(tile, height), min(tile, width)
    for top in _tile_starts(height, tile_h, overlap):
        rows = _ramp(tile_h, overlap, top > 0, top + tile_h < height)
        for left in _tile_starts(width, tile_w, overlap):
            cols = _ramp(tile_w, overlap, left > 0, left + tile_w < width)
            weight = (rows[:, None] * cols[None, :]).to(image.device)
            crop = image[:, :, top : top + tile_h, left : left + tile_w]
            result = generator(crop.to(device)).to(image.device).float()
            out[:, :, top : top + tile_h, left : left + tile_w] += result * weight
            total[:, :, top : top + tile_h, left : left + tile_w] += weight
    return out / total


def blend(stylized: Tensor, original: Tensor, alpha: float) -> Tensor:
    """alpha * stylized + (1 - alpha) * original."""
    return torch.lerp(original.float(), stylized.float(), alpha)


def preserve_color(stylized: Tensor, original: Tensor) -> Tensor:
    """Luminance (Y) of ``stylized`` with the chroma (Cb, Cr) of ``original``; images in [-1, 1].
    Grayscale images are returned unchanged."""
    if stylized.shape[1] != 3:
        return stylized
    y = rgb_to_ycbcr((stylized.float() + 1) / 2)
    c = rgb_to_ycbcr((original.float() + 1) / 2)
    mixed = torch.cat([y[:, :1], c[:, 1:]], dim=1)
    return (ycbcr_to_rgb(mixed).clamp(0, 1) * 2) - 1


# --- files -----------------------------------------------------------------------------------------


def collect_inputs(path: Path) -> tuple[list[Path], Path]:
    """(image files to stylize, the folder their relative output paths start from)."""
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise UserError(f"--input {str(path)!r} is not an image ({', '.join(IMAGE_EXTENSIONS)})")
        return [path], path.parent
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        images = []
        for p in files:
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(p)
            else:
                warnings.warn(f"skipping {str(p)!r}: not an image ({', '.join(IMAGE_EXTENSIONS)})", stacklevel=2)
        if not images:
            raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under --input {str(path)!r}")
        return images, path
    raise UserError(f"--input {str(path)!r} does not exist")


def to_tensor(image: Image.Image) -> Tensor:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array).permute(2, 0, 1)[None] / 127.5 - 1.0


def save(image: Tensor, path: Path) -> None:
    """(1, C, H, W) in [-1, 1] -> file at ``path`` in the format its extension names."""
    array = ((image[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    path.parent.mkdir(parents=True, exist_ok=True)
    pil.save(path, quality=95) if path.suffix.lower() in (".jpg", ".jpeg", ".webp") else pil.save(path)


def run(args: argparse.Namespace) -> None:
    if not 0.0 <= args.alpha <= 1.0:
        raise UserError(f"--alpha {args.alpha} is invalid; allowed: 0 to 1")
    if args.tile_size < MIN_TILE_SIZE:
        raise UserError(f"--tile-size {args.tile_size} is too small; allowed: >= {MIN_TILE_SIZE}")
    files, base = collect_inputs(Path(args.input).expanduser())
    device = resolve_device(args.device)
    algorithm = load_checkpoint(args.ckpt)["algorithm"]
    if algorithm != "StyleTransfer":
        raise UserError(f"{args.ckpt!r} is a {algorithm} checkpoint; stylize needs a StyleTransfer one")
    generator, checkpoint = load_generator(args.ckpt, device, use_ema=True)
    channels = int(checkpoint["hyper_parameters"]["channels"])
    out_dir = Path(args.out).expanduser()
    written = 0
    for path in files:
        try:
            original = to_tensor(load_image(path, channels))
        except UserError as error:
            warnings.warn(f"skipping {error}", stacklevel=2)
            continue
        result = stylize_tensor(generator, original, args.tile_size, args.tile_overlap)
        if args.preserve_color:
            result = preserve_color(result, original)
        result = blend(result, original, args.alpha)
        save(result, out_dir / path.relative_to(base))
        written += 1
    print(f"stylized {written} image(s) into {out_dir}")
