"""`python -m gan_lightning stylize`: apply a trained StyleTransfer generator to photos of any size.

The generator is fully convolutional, so images keep their own size. Above ``--tile-size`` pixels a
side, the image is processed in overlapping tiles blended with linear ramps, which bounds memory
(a 4K photo works on CPU or a small GPU). Output files keep the input file names (and sub-folders).
A video file (.mp4, .mov, ...) is stylized frame by frame into OUT/<name>.mp4 at its frame rate and size.
Arbitrary-style (AdaIN) checkpoints take the style image at inference: ``--style PAINTING``.
``--method optimize --style PAINTING`` needs no checkpoint: each photo's pixels are optimised towards
the style (Gatys et al. 2016; ``cli/stylize_optimize.py``), slower but on any pair.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
from kornia.color import rgb_to_ycbcr, ycbcr_to_rgb
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, from_unit, load_image, pil_to_tensor, save_image_file, to_unit
from gan_lightning.common.outputs import add_overwrite_argument, check_output_folder, inside_output_folder, mark_output_folder
from gan_lightning.common.tiling import DEFAULT_TILE_SIZE, MIN_TILE_SIZE, apply_tiled
from gan_lightning.common.torch_utils import seeded
from gan_lightning.cli.arguments import add_checkpoint_arguments, load_command_generator, parse_command_line, resolve_device
from gan_lightning.cli.style_image import image_network, load_style_image
from gan_lightning.cli.stylize_optimize import Optimiser, add_optimize_arguments, check_optimize_arguments, resize_longest
from gan_lightning.cli.stylize_video import stylize_video
from gan_lightning.common.video import VIDEO_EXTENSIONS

# The noise a generator with ``generator.noise`` draws while stylizing starts here for every image.
STYLIZE_NOISE_SEED = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser, "StyleTransfer or ArbitraryStyleTransfer checkpoint from `fit` (not with --method optimize)", ema=False, required=False)
    parser.add_argument("--method", choices=METHODS, default="generator", help="generator: apply the checkpoint's trained generator (default); optimize: optimise each photo towards --style, no checkpoint")
    parser.add_argument("--input", required=True, help="an image file, a folder of images (searched recursively), or a video file")
    parser.add_argument("--out", required=True, help="output folder; files keep their names")
    add_overwrite_argument(parser)
    parser.add_argument("--style", default=None, help="style image, any one (arbitrary-style checkpoints and --method optimize)")
    parser.add_argument("--style-size", type=int, default=512, help="short side the --style image is resized to, 0 = as it is; sets the stroke scale (default 512)")
    parser.add_argument("--alpha", type=float, default=1.0, help="blend with the original: 1 = fully stylized (default), 0 = original")
    parser.add_argument("--preserve-color", action="store_true", help="keep the content's colours (take only luminance from the output)")
    parser.add_argument("--photo-size", type=int, default=None, help="short side photos are stylized at, then resized back; default: the scale training saw (recorded in the checkpoint), 0 = as they are")
    parser.add_argument("--tile-size", type=int, default=DEFAULT_TILE_SIZE, help=f"largest side processed at once; larger images are tiled (default {DEFAULT_TILE_SIZE})")
    parser.add_argument("--tile-overlap", type=int, default=None, help="overlap between tiles in pixels (default: tile size / 8)")
    add_optimize_arguments(parser)


METHODS = ("generator", "optimize")


def blend(stylized: Tensor, original: Tensor, alpha: float) -> Tensor:
    """alpha * stylized + (1 - alpha) * original."""
    return torch.lerp(original.float(), stylized.float(), alpha)


def preserve_color(stylized: Tensor, original: Tensor) -> Tensor:
    """Luminance (Y) of ``stylized`` with the chroma (Cb, Cr) of ``original``; images in [-1, 1].
    Grayscale images are returned unchanged."""
    if stylized.shape[1] != 3:
        return stylized
    y = rgb_to_ycbcr(to_unit(stylized))
    c = rgb_to_ycbcr(to_unit(original))
    mixed = torch.cat([y[:, :1], c[:, 1:]], dim=1)
    return from_unit(ycbcr_to_rgb(mixed).clamp(0, 1))


def collect_inputs(path: Path, out: Path | None = None) -> tuple[list[Path], Path]:
    """(image files to stylize, the folder their relative output paths start from); our own output
    folders inside ``path`` (``out``, or marked by an earlier run) are not read."""
    if path.is_file():
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise UserError(f"--input {str(path)!r} is not an image ({', '.join(IMAGE_EXTENSIONS)})")
        return [path], path.parent
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not inside_output_folder(p, path, out))
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


def photo_size(args: argparse.Namespace, hyper_parameters: dict) -> int:
    """The short side to stylize at (0: as they are): --photo-size, else the checkpoint's training scale,
    announced in one line, since a model trained on photos of one scale draws blobs at another."""
    if args.photo_size is not None:
        if args.photo_size < 0:
            raise UserError(f"--photo-size {args.photo_size} is invalid; allowed: 0 (as they are) or a short side in pixels")
        return args.photo_size
    size = hyper_parameters.get("stylize_size")
    if size:
        print(f"stylize: photos are resized to a short side of {size} px (the scale of training), stylized, and resized back to their size; --photo-size 0 keeps them as they are")
    return int(size or 0)


def at_short_side(image: Tensor, size: int) -> Tensor:
    """(1, C, H, W) resized (antialiased) so its short side is ``size``; unchanged when it already is or ``size`` is 0."""
    if size == 0 or min(image.shape[-2:]) == size:
        return image
    return TF.resize(image, size, antialias=True)


def stylize_batch(
    network: nn.Module, original: Tensor, tile_size: int, tile_overlap: int | None, keep_color: bool, multiple: int, alpha: float,
    photo_size: int = 0,
) -> Tensor:  # fmt: skip
    """(1, C, H, W) in [-1, 1] -> the stylized image, at a short side of ``photo_size`` (--photo-size as
    resolved by ``photo_size``; 0: as it is) and back, tiled above ``tile_size`` (--tile-size), with the
    original's colours when ``keep_color`` (--preserve-color), blended with the original by ``alpha``
    (what image_network leaves of --alpha for the pixels). A generator that draws noise
    (``generator.noise``) draws the same for every image: the same photo gives the same picture, and a
    video's texture does not flicker from frame to frame."""
    scaled = at_short_side(original, photo_size)
    with seeded(STYLIZE_NOISE_SEED, scaled.device):
        result = apply_tiled(network, scaled, tile_size, tile_overlap, multiple=multiple)
    if result.shape[-2:] != original.shape[-2:]:
        result = TF.resize(result, list(original.shape[-2:]), antialias=True).clamp(-1, 1)
    if keep_color:
        result = preserve_color(result, original)
    return blend(result, original, alpha)


def read_photo(path: Path, channels: int) -> Tensor:
    """(1, C, H, W) in [-1, 1]: an image to stylize, as `stylize` and the studio read it."""
    return pil_to_tensor(load_image(path, channels))[None]


def write_stylized(
    network: nn.Module, original: Tensor, out: Path, tile_size: int, tile_overlap: int | None, keep_color: bool, multiple: int, alpha: float,
    photo_size: int = 0,
) -> Path:  # fmt: skip
    """``stylize_batch`` of ``original`` written to ``out`` in the format its extension names."""
    return save_image_file(stylize_batch(network, original, tile_size, tile_overlap, keep_color, multiple, alpha, photo_size)[0], out)


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "stylize", __doc__, add_arguments))


def check_stylize_options(alpha: float, tile_size: int) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise UserError(f"--alpha {alpha} is invalid; allowed: 0 to 1")
    if tile_size < MIN_TILE_SIZE:
        raise UserError(f"--tile-size {tile_size} is too small; allowed: >= {MIN_TILE_SIZE}")


def run(args: argparse.Namespace) -> None:
    check_stylize_options(args.alpha, args.tile_size)
    source = Path(args.input).expanduser()
    out_dir = Path(args.out).expanduser()
    if args.method == "optimize":
        run_optimize(args, source, out_dir)
        return
    if args.ckpt is None:
        raise UserError("--ckpt is required with --method generator; without a checkpoint use --method optimize --style IMAGE")
    algorithms = ("StyleTransfer", "ArbitraryStyleTransfer")
    if source.is_file() and source.suffix.lower() in VIDEO_EXTENSIONS:
        out = check_output_folder(out_dir, [f"{source.stem}.mp4"], args.overwrite, [source, args.ckpt]) / f"{source.stem}.mp4"
        generator, checkpoint, device = load_command_generator(args, "stylize", algorithms)
        network, multiple, alpha = image_network(generator, checkpoint["algorithm"], args.style, args.style_size, args.alpha, device)
        args.photo_size = photo_size(args, checkpoint["hyper_parameters"])
        stylize_frame = lambda frame: stylize_batch(  # noqa: E731
            network, frame, args.tile_size, args.tile_overlap, args.preserve_color, multiple, alpha, args.photo_size
        )
        frames = stylize_video(source, out, int(checkpoint["hyper_parameters"]["channels"]), stylize_frame)
        mark_output_folder(out_dir)  # after reading the video: a file that is not one leaves no folder behind
        print(f"stylized {frames} frame(s) into {out}")
        return
    files, base = collect_inputs(source, out_dir)
    generator, checkpoint, device = load_command_generator(args, "stylize", algorithms)
    network, multiple, alpha = image_network(generator, checkpoint["algorithm"], args.style, args.style_size, args.alpha, device)
    channels = int(checkpoint["hyper_parameters"]["channels"])
    args.photo_size = photo_size(args, checkpoint["hyper_parameters"])
    check_output_folder(out_dir, [path.relative_to(base) for path in files], args.overwrite, [*files, args.ckpt])
    mark_output_folder(out_dir)
    written = 0
    for path in files:
        try:
            original = read_photo(path, channels)
        except UserError as error:
            warnings.warn(f"skipping {error}", stacklevel=2)
            continue
        write_stylized(
            network, original, out_dir / path.relative_to(base), args.tile_size, args.tile_overlap, args.preserve_color, multiple, alpha, args.photo_size
        )
        written += 1
    print(f"stylized {written} image(s) into {out_dir}")


def run_optimize(args: argparse.Namespace, source: Path, out_dir: Path) -> None:
    """``--method optimize``: each photo optimised towards --style (no checkpoint)."""
    check_optimize_arguments(args)
    if source.is_file() and source.suffix.lower() in VIDEO_EXTENSIONS:
        raise UserError(f"--input {str(source)!r} is a video; --method optimize stylizes images (a trained checkpoint stylizes videos)")
    files, base = collect_inputs(source, out_dir)
    device = resolve_device(args.device)
    optimise = Optimiser(args, load_style_image(args.style, args.style_size, device), device)
    check_output_folder(out_dir, [path.relative_to(base) for path in files], args.overwrite, [*files, args.style])
    mark_output_folder(out_dir)
    written = 0
    for path in files:
        try:
            original = pil_to_tensor(load_image(path, 3))[None]
        except UserError as error:
            warnings.warn(f"skipping {error}", stacklevel=2)
            continue
        result = optimise(original, str(path.relative_to(base)))
        if args.preserve_color:
            result = preserve_color(result, resize_longest(original, args.size))
        save_image_file(blend(result, resize_longest(original, args.size), args.alpha)[0], out_dir / path.relative_to(base))
        written += 1
    print(f"stylized {written} image(s) into {out_dir} by optimisation ({args.steps} steps, {optimise.network.name} features)")
