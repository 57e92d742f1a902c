"""What the StyleGAN tools (style-mix, interpolate, project) share: loading a StyleGAN generator,
seed and layer lists from the command line, and seeded latents in W."""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from gan_lightning.errors import UserError
from gan_lightning.inference import load_generator, resolve_device
from gan_lightning.models.base import latents_for_seeds
from gan_lightning.nets.stylegan2 import Generator


def parse_int_list(text: str, what: str) -> list[int]:
    """'1,2,5-7' -> [1, 2, 5, 6, 7] (non-negative); a clear error for anything else."""
    values: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                start, end = (int(v) for v in part.split("-", 1))
                if start < 0 or end < start:
                    raise ValueError
                values.extend(range(start, end + 1))
            else:
                values.append(int(part))
                if values[-1] < 0:
                    raise ValueError
    except ValueError:
        raise UserError(f"{what} {text!r} is not a list of non-negative integers like 1,2,5-7") from None
    return values


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="StyleGAN checkpoint from `fit` or `convert`")
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi (default 1: none)")
    parser.add_argument("--noise-mode", choices=("random", "const", "none"), default="const", help="noise inputs (default const)")
    parser.add_argument("--no-ema", action="store_true", help="use the trained generator instead of its EMA copy")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def load_stylegan(args: argparse.Namespace) -> tuple[Generator, torch.device]:
    device = resolve_device(args.device)
    generator, checkpoint = load_generator(args.ckpt, device, use_ema=not args.no_ema)
    if checkpoint["algorithm"] != "StyleGAN" or not isinstance(generator, Generator):
        raise UserError(f"{str(args.ckpt)!r} is a {checkpoint['algorithm']} checkpoint; this command needs a StyleGAN one")
    return generator, device


@torch.no_grad()
def ws_for_seeds(generator: Generator, seeds: list[int], truncation_psi: float = 1.0) -> Tensor:
    """(len(seeds), num_ws, w_dim): each seed's z mapped to W (truncated toward w_avg by psi)."""
    device = generator.mapping.w_avg.device
    z = latents_for_seeds(seeds, generator.z_dim, device)
    return generator.mapping(z, truncation_psi=truncation_psi)


@torch.no_grad()
def synthesize(generator: Generator, ws: Tensor, noise_mode: str, chunk: int = 16) -> Tensor:
    """Images in [-1, 1] for a batch of ws, a chunk at a time (bounded memory at high resolution)."""
    return torch.cat([generator.synthesis(part, noise_mode=noise_mode).cpu() for part in ws.split(chunk)])
