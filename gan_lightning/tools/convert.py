"""`convert --from rosinality CKPT --out PATH`: turn a published StyleGAN2 checkpoint into ours.

The result is an inference checkpoint (algorithm "StyleGAN", the Generator's constructor kwargs as
hyper_parameters, weights under ``generator_ema.`` and ``generator.``) that `generate`,
`style-mix`, `interpolate` and `project` load like a checkpoint trained here.
"""

from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path

import torch

from gan_lightning.errors import UserError
from gan_lightning.nets.rosinality import generator_from_rosinality

SOURCES = ("rosinality",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint file to convert (rosinality: a train.py or convert_weight.py .pt)")
    parser.add_argument("--from", dest="source", required=True, choices=SOURCES, help="implementation that wrote the checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="where to write the converted checkpoint (.ckpt)")
    parser.add_argument(
        "--w-avg-samples",
        type=int,
        default=10_000,
        help="z samples for the truncation centre w_avg when the file has no latent_avg (default 10000)",
    )


def _load_failure(err: Exception) -> str:
    text = str(err).strip()
    if not text:
        return type(err).__name__
    if text.startswith("Weights only load failed"):
        # torch's first line is generic advice; the cause is a corrupt file or a non-tensor object
        return "the file is corrupt, truncated, or holds objects other than tensors"
    return text.splitlines()[0]


def load_rosinality_checkpoint(path: Path) -> dict:
    """torch.load with weights_only=True; train.py checkpoints also hold an argparse.Namespace, allowed here."""
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"cannot read {str(path)!r} as a PyTorch checkpoint: {_load_failure(err)}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("g_ema"), dict):
        raise UserError(f"{str(path)!r} is not a rosinality StyleGAN2 checkpoint: it has no 'g_ema' state dict")
    return checkpoint


def convert_rosinality(checkpoint: dict, w_avg_samples: int = 10_000) -> dict:
    """Inference checkpoint dict from a loaded rosinality checkpoint ('g_ema', optional 'g' and 'latent_avg')."""
    latent_avg = checkpoint.get("latent_avg")
    try:
        generator_ema, kwargs = generator_from_rosinality(
            checkpoint["g_ema"], latent_avg=latent_avg, w_avg_samples=w_avg_samples
        )
        # The training generator, when stored, lets a fine-tuning run start from both copies.
        generator = generator_from_rosinality(checkpoint["g"], latent_avg=generator_ema.mapping.w_avg)[0] if isinstance(
            checkpoint.get("g"), dict
        ) else generator_ema
    except ValueError as err:
        raise UserError(f"cannot convert the rosinality checkpoint: {err}") from None
    state_dict = {f"generator_ema.{k}": v for k, v in generator_ema.state_dict().items()}
    state_dict.update({f"generator.{k}": v.clone() for k, v in generator.state_dict().items()})
    return {"algorithm": "StyleGAN", "hyper_parameters": kwargs, "state_dict": state_dict}


def run(args: argparse.Namespace) -> None:
    if args.source != "rosinality":
        raise UserError(f"unknown --from {args.source!r}; allowed: {', '.join(SOURCES)}")
    if args.w_avg_samples < 1:
        raise UserError(f"--w-avg-samples must be at least 1, got {args.w_avg_samples}")
    converted = convert_rosinality(load_rosinality_checkpoint(args.checkpoint), w_avg_samples=args.w_avg_samples)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(converted, args.out)
    hp = converted["hyper_parameters"]
    print(
        f"wrote {args.out}: StyleGAN2 {hp['resolution']}px, z_dim {hp['z_dim']}, "
        f"{hp['mapping_layers']} mapping layers, channel_base {hp['channel_base']}, channel_max {hp['channel_max']}"
    )
