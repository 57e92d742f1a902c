"""`python -m gan_lightning generate`: images from a trained (or converted) generator."""

from __future__ import annotations

import argparse
import inspect

import torch

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import save_image_grid, save_images
from gan_lightning.common.outputs import add_overwrite_argument, check_output
from gan_lightning.checkpoints.registry import LATENT_ALGORITHMS
from gan_lightning.common.sampling import latents_for_seeds, seed_names, seed_range
from gan_lightning.cli.arguments import add_checkpoint_arguments, load_command_generator, parse_command_line
from gan_lightning.cli.stylegan_arguments import add_stylegan_arguments, class_input

CHUNK = 16  # images per forward pass: bounds memory at high resolution


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser)
    parser.add_argument("--num", type=int, default=16, help="number of images (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="image k uses seed SEED+k (default 0)")
    parser.add_argument("--out", required=True, help="grid.png for one grid, or DIR/ for one PNG per image")
    parser.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square)")
    add_overwrite_argument(parser)
    add_stylegan_arguments(parser)


def generator_kwargs(generator: torch.nn.Module, algorithm: str, truncation: float, noise_mode: str) -> dict:
    """Extra call arguments this generator takes: truncation and noise mode where its forward has them."""
    if takes_sampling_options(generator):
        return {"truncation_psi": truncation, "noise_mode": noise_mode}
    if truncation != 1.0:
        raise UserError(f"--truncation applies to StyleGAN checkpoints; this one is {algorithm}")
    return {}


def takes_sampling_options(generator: torch.nn.Module) -> bool:
    """Whether the generator samples with a truncation psi and a noise mode (StyleGAN's family)."""
    parameters = inspect.signature(generator.forward).parameters
    return "truncation_psi" in parameters and "noise_mode" in parameters


def generate_images(generator: torch.nn.Module, algorithm: str, seeds: list[int], truncation: float, noise_mode: str, class_index: int | None) -> torch.Tensor:
    """(len(seeds), C, H, W) on the CPU: the image of each seed, of class ``class_index`` for a
    class-conditional generator; what `generate` writes and the studio shows."""
    kwargs = generator_kwargs(generator, algorithm, truncation, noise_mode)
    device = next(generator.parameters()).device
    c = class_input(generator, class_index, len(seeds), device)  # None: unconditional
    z = latents_for_seeds(seeds, generator.z_dim, device)
    with torch.no_grad():
        if c is None:
            return torch.cat([generator(chunk, **kwargs).cpu() for chunk in z.split(CHUNK)])
        return torch.cat([generator(zs, cs, **kwargs).cpu() for zs, cs in zip(z.split(CHUNK), c.split(CHUNK))])


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "generate", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    check_at_least("--num", args.num, 1)
    if not args.out.endswith(("/", "\\")) and not args.out.lower().endswith(".png"):
        raise UserError(f"--out {args.out!r}: give a .png file for a grid, or a folder ending in / for one image per seed")
    generator, checkpoint, device = load_command_generator(args, "generate", LATENT_ALGORITHMS)
    generator_kwargs(generator, checkpoint["algorithm"], args.truncation, args.noise_mode)  # bad options fail before any file is written
    class_input(generator, args.class_index, 1, device)
    seeds = seed_range(args.seed, args.num)
    check_output(args.out, [f"{name}.png" for name in seed_names(seeds)], args.overwrite, [args.ckpt])
    images = generate_images(generator, checkpoint["algorithm"], seeds, args.truncation, args.noise_mode, args.class_index)
    if args.out.endswith(("/", "\\")):
        paths = save_images(images, args.out, seed_names(seeds))
        print(f"wrote {len(paths)} images to {args.out}")
    else:
        print(f"wrote {save_image_grid(images, args.out, args.nrow)}")
