"""`python -m gan_lightning export`: a trained generator as a model folder, an ONNX file or a
torch.export program, for use without the training stack.

    export --ckpt last.ckpt --format safetensors --out my_model/            # folder: weights, config, card
    export --ckpt last.ckpt --format safetensors --space --out my_space/    # + app.py: runs as a Hugging Face Space
    export --ckpt last.ckpt --format onnx --out generator.onnx              # StyleGAN: + generator.mapping/.synthesis.onnx
    export --ckpt last.ckpt --format torch-export --out generator.pt2       # torch.export.load(path).module()

The EMA generator is exported unless --no-ema. ONNX and torch.export files are checked against the
PyTorch generator (max abs difference printed) before the command succeeds.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import torch
from torch import nn

from gan_lightning.cli.arguments import parse_command_line
from gan_lightning.checkpoints.reading import generator_from_checkpoint, load_checkpoint
from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.export.card import checkpoint_metrics, model_card
from gan_lightning.checkpoints.export.graphs import graphs_for
from gan_lightning.checkpoints.export.model_folder import CARD_NAME, CONFIG_NAME, SAMPLE_NAME, WEIGHTS_NAME, json_values, write_model_folder
from gan_lightning.checkpoints.export.runtimes import graph_path, write_onnx, write_program
from gan_lightning.common.images import load_image, pil_to_tensor, save_image_grid
from gan_lightning.common.outputs import add_overwrite_argument, check_output_file, check_output_folder, written_file, written_folder
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE
from gan_lightning.checkpoints.registry import LATENT_ALGORITHMS, STYLE_IMAGE_ALGORITHMS
from gan_lightning.common.sampling import latents_for_seeds, seed_range
from gan_lightning.common.tiling import DEFAULT_TILE_SIZE, apply_tiled
from gan_lightning.cli.studio.space import SPACE_FILES, space_card, write_space

FORMATS: dict[str, str] = {"safetensors": "/", "onnx": ".onnx", "torch-export": ".pt2"}  # format -> what --out ends with
SAMPLE_SEEDS = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fit` or `convert`, or a model folder")
    parser.add_argument("--no-ema", action="store_true", help="export the trained generator instead of its EMA copy")
    parser.add_argument("--format", required=True, choices=tuple(FORMATS), help="safetensors (model folder), onnx or torch-export (.pt2)")
    parser.add_argument("--out", required=True, help="folder for safetensors, FILE.onnx for onnx, FILE.pt2 for torch-export")
    parser.add_argument("--sample-input", type=Path, default=None, help="StyleTransfer: image stylized for the model card's sample")
    parser.add_argument("--space", action="store_true", help="safetensors: also write app.py and requirements.txt, so the folder runs the studio as a Hugging Face Space")
    parser.add_argument("--push-to-hub", metavar="OWNER/NAME", default=None, help="safetensors: also upload the folder to this Hugging Face Hub repository")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    add_overwrite_argument(parser)


def _check_out(args: argparse.Namespace) -> Path:
    out = Path(args.out).expanduser()
    if args.format == "safetensors":
        if out.suffix.lower() in (".onnx", ".pt2", ".ckpt", ".safetensors") or out.is_file():
            raise UserError(f"--out {args.out!r}: --format safetensors writes a folder; give a folder path such as my_model/")
        if out.is_dir() and any(out.iterdir()) and not args.overwrite:
            raise UserError(f"--out {args.out!r} is a folder that is not empty; give a new or empty folder, or pass --overwrite (nothing was written)")
        source = Path(args.ckpt).expanduser()
        inputs = [source / CONFIG_NAME, source / WEIGHTS_NAME] if source.is_dir() else [source]
        check_output_folder(out, [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, SAMPLE_NAME, *(SPACE_FILES if args.space else ())], True, inputs)
    elif out.suffix.lower() != FORMATS[args.format]:
        raise UserError(f"--out {args.out!r}: --format {args.format} writes a {FORMATS[args.format]} file")
    if args.space and args.format != "safetensors":
        raise UserError(f"--space makes a model folder a Space: use it with --format safetensors, not {args.format}")
    if args.push_to_hub and args.format != "safetensors":
        raise UserError("--push-to-hub publishes a model folder: use it with --format safetensors")
    return out


@torch.no_grad()
def sample_grid(generator: nn.Module, algorithm: str, sample_input: Path | None, channels: int) -> torch.Tensor | None:
    """Images for the card: seeds 0-15 for latent models; input and output side by side for StyleTransfer."""
    if algorithm in LATENT_ALGORITHMS:
        z = latents_for_seeds(seed_range(0, SAMPLE_SEEDS), generator.z_dim)
        kwargs = {"noise_mode": "const"} if algorithm == "StyleGAN" else {}
        return generator(z, **kwargs)
    if sample_input is None or algorithm in STYLE_IMAGE_ALGORITHMS:  # (that one would need a style image too)
        return None
    image = pil_to_tensor(load_image(sample_input, channels))[None]
    return torch.cat([image, apply_tiled(generator, image, DEFAULT_TILE_SIZE, None, multiple=GENERATOR_STRIDE)])


def export_folder(args: argparse.Namespace, checkpoint: dict, generator: nn.Module, out: Path) -> None:
    algorithm, hparams = checkpoint["algorithm"], checkpoint["hyper_parameters"]
    metrics = checkpoint_metrics(checkpoint)
    source = Path(checkpoint["path"]).name
    images = sample_grid(generator, algorithm, args.sample_input, int(hparams["channels"]))
    with written_folder(out) as folder:  # a failed write (disk full) leaves no empty or partial model folder
        write_model_folder(folder, algorithm, hparams, generator.state_dict(), metrics, source, use_ema=not args.no_ema)
        if images is not None:
            save_image_grid(images, folder / SAMPLE_NAME, nrow=2 if algorithm == "StyleTransfer" else None)
        card = model_card(algorithm, json_values(hparams), metrics, source, images is not None)
        if args.space:
            write_space(folder)
            card = space_card(card)
        (folder / CARD_NAME).write_text(card)
    print(f"wrote model folder {out} ({', '.join(sorted(p.name for p in out.iterdir()))})")
    if args.push_to_hub:
        from gan_lightning.checkpoints.export.hub import push_folder

        print(f"pushed to {push_folder(out, args.push_to_hub, args.private)}")


def onnx_metadata(checkpoint: dict, generator: nn.Module) -> dict[str, str]:
    """What an app needs to feed the graph, stored in the ONNX model properties."""
    hparams = checkpoint["hyper_parameters"]
    metadata = {"library": "gan_lightning", "algorithm": checkpoint["algorithm"], "channels": str(hparams["channels"]), "value_range": "[-1, 1]"}
    if checkpoint["algorithm"] in LATENT_ALGORITHMS:
        metadata.update(z_dim=str(generator.z_dim), resolution=str(hparams["resolution"]))
    if checkpoint["algorithm"] == "StyleGAN":
        metadata.update(num_ws=str(generator.num_ws), w_dim=str(generator.w_dim), noise_mode="const")
    if checkpoint["algorithm"] == "StyleTransfer" and generator.noise > 0:
        metadata.update(noise=f"standard normal, (N, {generator.NOISE_STAGES}, H, W) of x")
    return metadata


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "export", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    out = _check_out(args)
    if args.sample_input is not None and not args.sample_input.is_file():
        raise UserError(f"--sample-input {str(args.sample_input)!r} does not exist")
    checkpoint = load_checkpoint(args.ckpt)
    generator = generator_from_checkpoint(checkpoint, "cpu", use_ema=not args.no_ema)
    if args.format == "safetensors":
        export_folder(args, checkpoint, generator, out)
        return
    metadata = onnx_metadata(checkpoint, generator)
    graphs = graphs_for(generator, checkpoint["algorithm"], any_size=args.format == "onnx")
    if args.format == "torch-export":
        graphs = graphs[:1]  # Python callers that want StyleGAN's halves have the model folder
    for graph in graphs:
        check_output_file(graph_path(out, graph), args.overwrite, [args.ckpt])
    written = []
    with contextlib.ExitStack() as renamed_at_the_end:  # all files or none: a failure removes every temporary one
        for graph in graphs:
            temporary = renamed_at_the_end.enter_context(written_file(graph_path(out, graph)))
            written.append((graph, write_onnx(graph, temporary, metadata) if args.format == "onnx" else write_program(graph, temporary)))
    for graph, difference in written:
        print(f"wrote {graph_path(out, graph)} ({graph.name}: {', '.join(graph.input_names)} -> {graph.output_name}; "
              f"max abs difference to PyTorch {difference:.1e})")  # fmt: skip
