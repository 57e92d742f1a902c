"""`python -m gan_lightning generate`: images from a trained (or converted) generator."""

from __future__ import annotations

import argparse

import torch

from gan_lightning.errors import UserError
from gan_lightning.inference import latent_dim_of, load_generator, resolve_device, save_image_grid, save_images
from gan_lightning.models.base import latents_for_seeds

CHUNK = 16  # images per forward pass: bounds memory at high resolution


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fit` or `convert`")
    parser.add_argument("--num", type=int, default=16, help="number of images (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="image k uses seed SEED+k (default 0)")
    parser.add_argument("--out", required=True, help="grid.png for one grid, or DIR/ for one PNG per image")
    parser.add_argument("--nrow", type=int, default=None, help="images per grid row (default: square)")
    parser.add_argument("--truncation", type=float, default=1.0, help="StyleGAN truncation psi (default 1: none)")
    parser.add_argument("--noise-mode", choices=("random", "const", "none"), default="const", help="StyleGAN noise inputs")
    parser.add_argument("--no-ema", action="store_true", help="use the trained generator instead of its EMA copy")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def generator_kwargs(algorithm: str, truncation: float, noise_mode: str) -> dict:
    """Extra call arguments the generator of this algorithm takes."""
    if algorithm == "StyleGAN":
        return {"truncation_psi": truncation, "noise_mode": noise_mode}
    if truncation != 1.0:
        raise UserError(f"--truncation applies to StyleGAN checkpoints; this one is {algorithm}")
    return {}


def run(args: argparse.Namespace) -> None:
    if args.num < 1:
        raise UserError(f"--num must be at least 1, got {args.num}")
    device = resolve_device(args.device)
    generator, checkpoint = load_generator(args.ckpt, device, use_ema=not args.no_ema)
    algorithm = checkpoint["algorithm"]
    if algorithm == "StyleTransfer":
        raise UserError(f"{args.ckpt!r} is a StyleTransfer checkpoint: use `python -m gan_lightning stylize`")
    kwargs = generator_kwargs(algorithm, args.truncation, args.noise_mode)
    seeds = list(range(args.seed, args.seed + args.num))
    z = latents_for_seeds(seeds, latent_dim_of(generator), device)
    with torch.no_grad():
        images = torch.cat([generator(chunk, **kwargs).cpu() for chunk in z.split(CHUNK)])
    if args.out.endswith(("/", "\\")):
        paths = save_images(images, args.out, [f"seed{seed:06d}" for seed in seeds])
        print(f"wrote {len(paths)} images to {args.out}")
    else:
        if not args.out.lower().endswith(".png"):
            raise UserError(f"--out {args.out!r}: give a .png file for a grid, or a folder ending in / for one image per seed")
        print(f"wrote {save_image_grid(images, args.out, args.nrow)}")
