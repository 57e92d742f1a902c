"""What the StyleGAN commands (generate, style-mix, interpolate, project) share: their common
arguments, loading a StyleGAN generator, seed and layer lists, and seeded latents in W."""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.layers import NOISE_MODES
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.stylegan2 import Generator
from gan_lightning.common.sampling import check_class, class_vectors, latents_for_seeds
from gan_lightning.cli.arguments import add_checkpoint_arguments, load_command_generator


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
    parser.add_argument(
        "--class", dest="class_index", type=int, default=None, metavar="K",
        help="class of the images, for a class-conditional model (0..classes-1; required there, refused otherwise)",
    )  # fmt: skip


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser, "StyleGAN checkpoint from `fit` or `convert`")
    add_stylegan_arguments(parser)


def load_stylegan(args: argparse.Namespace, command: str = "this command") -> tuple[Generator, torch.device]:
    generator, _, device = load_command_generator(args, command, ("StyleGAN",))
    assert isinstance(generator, (Generator, stylegan3.Generator))  # both: mapping + synthesis(ws)
    return generator, device


def class_input(generator: torch.nn.Module, class_index: int | None, num: int, device: torch.device) -> Tensor | None:
    """The label input ``c`` of ``num`` images of class ``--class`` (None for an unconditional
    generator); a one-line error when the class is missing, out of range or not allowed."""
    c_dim = int(getattr(generator, "c_dim", 0))
    check_class(class_index, c_dim)
    return None if class_index is None else class_vectors([class_index] * num, c_dim, device)


@torch.no_grad()
def ws_for_seeds(generator: Generator, seeds: list[int], truncation_psi: float = 1.0, class_index: int | None = None) -> Tensor:
    """(len(seeds), num_ws, w_dim): each seed's z (of class ``class_index`` for a conditional
    generator) mapped to W (truncated toward w_avg by psi)."""
    device = generator.mapping.w_avg.device
    z = latents_for_seeds(seeds, generator.z_dim, device)
    return generator.mapping(z, class_input(generator, class_index, len(seeds), device), truncation_psi=truncation_psi)


@torch.no_grad()
def synthesize(generator: Generator, ws: Tensor, noise_mode: str, chunk: int = 16) -> Tensor:
    """Images in [-1, 1] for a batch of ws, a chunk at a time (bounded memory at high resolution)."""
    return torch.cat([generator.synthesis(part, noise_mode=noise_mode).cpu() for part in ws.split(chunk)])
