"""`convert --from rosinality|nvlabs|r3gan FILE --out PATH`: turn a published StyleGAN2, (NVlabs)
StyleGAN3 or R3GAN checkpoint into ours.

rosinality ``.pt`` files give an inference checkpoint; NVlabs ``.pkl`` files (read without running
their embedded code) give a full one, with the discriminator and ADA p as well, that ``fit`` can
start from (``--model.init_args.init_from``). Either is an inference checkpoint (algorithm "StyleGAN", hyper_parameters ``resolution``,
``channels`` and the ``generator`` settings, weights under ``generator_ema.`` and ``generator.``)
that `generate`, `style-mix`, `interpolate` and `project` load like a checkpoint trained here.
Official R3GAN ``.pkl`` snapshots (also read without running code from them) give an R3GAN
checkpoint with G, G_ema and D, loaded and fine-tuned like one trained here.
Reading and mapping the foreign format live in ``gan_lightning.checkpoints.formats``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from gan_lightning.cli.arguments import parse_command_line
from gan_lightning.checkpoints.reading import check_finite_weights
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.checkpoints.formats.r3gan import convert_r3gan, is_r3gan_pickle, load_r3gan_pickle
from gan_lightning.checkpoints.formats.rosinality import convert_rosinality, load_rosinality_checkpoint
from gan_lightning.common.outputs import add_overwrite_argument, check_output_file, written_file

SOURCES = ("rosinality", "nvlabs", "r3gan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="checkpoint file to convert (rosinality: a train.py or convert_weight.py .pt; nvlabs: a network .pkl; r3gan: an official R3GAN .pkl)")
    parser.add_argument("--from", dest="source", required=True, choices=SOURCES, help="implementation that wrote the checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="where to write the converted checkpoint (.ckpt)")
    add_overwrite_argument(parser)
    parser.add_argument(
        "--w-avg-samples",
        type=int,
        default=10_000,
        help="z samples for the truncation centre w_avg when the file has no latent_avg (default 10000)",
    )


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "convert", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    if args.source not in SOURCES:
        raise UserError(f"unknown --from {args.source!r}; allowed: {', '.join(SOURCES)}")
    check_at_least("--w-avg-samples", args.w_avg_samples, 1)
    check_output_file(args.out, args.overwrite, [args.checkpoint])
    if args.source == "nvlabs":
        try:
            converted = convert_nvlabs(load_nvlabs_pickle(args.checkpoint))
        except UserError:
            if is_r3gan_pickle(args.checkpoint):
                raise UserError(f"{str(args.checkpoint)!r} is an official R3GAN snapshot pickle; convert it with --from r3gan") from None
            raise
    elif args.source == "r3gan":
        converted = convert_r3gan(load_r3gan_pickle(args.checkpoint))
    else:
        converted = convert_rosinality(load_rosinality_checkpoint(args.checkpoint), w_avg_samples=args.w_avg_samples)
    check_finite_weights(converted["state_dict"], args.checkpoint)
    with written_file(args.out) as temporary:
        torch.save(converted, temporary)
    hp = converted["hyper_parameters"]
    if converted["algorithm"] == "R3GAN":
        g = hp["generator"]
        classes = f", {g['c_dim']} classes" if g["c_dim"] else ""
        print(f"wrote {args.out}: R3GAN {hp['resolution']}px, z_dim {g['z_dim']}, widths {list(g['widths'])}, blocks {list(g['blocks'])}{classes}")
        return
    g = hp.get("stylegan3") or hp["generator"]
    kind = "StyleGAN2" if "generator" in hp else f"StyleGAN3 config {'R' if g['use_radial_filters'] else 'T'}"
    print(
        f"wrote {args.out}: {kind} {hp['resolution']}px, z_dim {g['z_dim']}, "
        f"{g['mapping_layers']} mapping layers, channel_base {g['channel_base']}, channel_max {g['channel_max']}"
    )
