"""What the StyleGAN commands (generate, style-mix, interpolate, project) share: their common
arguments, loading a StyleGAN generator, seed and layer lists, and seeded latents in W."""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from gan_lightning.errors import UserError
from gan_lightning.nets.layers import NOISE_MODES
from gan_lightning.nets.stylegan2 import Generator
from gan_lightning.sampling import latents_for_seeds
from gan_lightning.tools.common import add_checkpoint_arguments, load_command_generator


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


def add_stylegan_arguments(parser: argparse.ArgumentParser) -> None:
    """--truncation and --noise-mode: how a StyleGAN generator samples."""
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi (default 1: none)")
    parser.add_argument("--noise-mode", choices=NOISE_MODES, default="const", help="noise inputs (default const)")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser, "StyleGAN checkpoint from `fit` or `convert`")
    add_stylegan_arguments(parser)


def load_stylegan(args: argparse.Namespace, command: str = "this command") -> tuple[Generator, torch.device]:
    generator, _, device = load_command_generator(args, command, ("StyleGAN",))
    assert isinstance(generator, Generator)
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
