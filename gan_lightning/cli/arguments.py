"""What every inference command shares: its parser, the checkpoint, device and EMA arguments, and
loading the generator they name with a clear line when the checkpoint is of the wrong algorithm."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from gan_lightning.checkpoints.reading import generator_from_checkpoint, load_checkpoint
from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.registry import LATENT_ALGORITHMS


def parse_command_line(
    argv: list[str], command: str, description: str | None, add_arguments: Callable[[argparse.ArgumentParser], None]
) -> argparse.Namespace:
    """The options of ``command`` in ``argv``, from a parser that ``add_arguments`` fills (``--help``
    shows ``description``, the command module's docstring)."""
    parser = argparse.ArgumentParser(prog=f"python -m gan_lightning {command}", description=description)
    add_arguments(parser)
    return parser.parse_args(argv)


def add_checkpoint_arguments(
    parser: argparse.ArgumentParser, what: str = "checkpoint from `fit` or `convert`", ema: bool = True, required: bool = True
) -> None:
    parser.add_argument("--ckpt", required=required, help=f"{what}, or a model folder from `export`")
    if ema:
        parser.add_argument("--no-ema", action="store_true", help="use the trained generator instead of its EMA copy")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N") from None


def load_command_generator(args: argparse.Namespace, command: str, algorithms: tuple[str, ...]) -> tuple[nn.Module, dict, torch.device]:
    """(generator, checkpoint, device) for ``--ckpt/--device/--no-ema``; the checkpoint must be of one of ``algorithms``."""
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.ckpt)
    algorithm = checkpoint["algorithm"]
    if algorithm not in algorithms:
        use = "generate" if algorithm in LATENT_ALGORITHMS else "stylize"
        raise UserError(
            f"{str(args.ckpt)!r} is a {algorithm} checkpoint; `{command}` needs {' or '.join(algorithms)} "
            f"(use `python -m gan_lightning {use}` for this one)"
        )
    generator = generator_from_checkpoint(checkpoint, device, use_ema=not getattr(args, "no_ema", False))
    return generator, checkpoint, device
