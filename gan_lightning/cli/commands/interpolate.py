"""`interpolate`: a latent walk through the given seeds (or projected images), written as an MP4
video (H.264), an animated GIF or PNG frames.

``--space w`` (StyleGAN's default) interpolates linearly in W, where StyleGAN's paths are the most
perceptually uniform; ``--space z`` interpolates spherically in Z (Gaussian latents keep their norm).
R3GAN and VanillaGAN generators map z straight to images, with no W: they walk in Z.
``--latents a_ws.pt,b_ws.pt`` walks in W+ between images inverted by ``project``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from gan_lightning.common.checks import check_at_least, check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import save_images, tensor_to_pil
from gan_lightning.common.outputs import add_overwrite_argument, check_output, written_file
from gan_lightning.common.sampling import latents_for_seeds
from gan_lightning.checkpoints.registry import LATENT_ALGORITHMS
from gan_lightning.cli.arguments import add_checkpoint_arguments, load_command_generator, parse_command_line
from gan_lightning.cli.stylegan_arguments import add_stylegan_arguments, class_input, parse_int_list, synthesize
from gan_lightning.cli.walks import load_projected_ws, steps_for_duration, walk_ws, walk_z
from gan_lightning.common.video import write_video


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser, "StyleGAN, R3GAN or VanillaGAN checkpoint from `fit` or `convert`")
    add_stylegan_arguments(parser)
    parser.add_argument("--seeds", default=None, help="seeds to walk through, in order, e.g. 1,5,9 (at least 2)")
    parser.add_argument("--latents", default=None, help="instead of --seeds: `project` outputs to walk through, e.g. proj/a_ws.pt,proj/b_ws.pt")
    parser.add_argument("--steps", type=int, default=None, help="frames from one seed to the next (default 24)")
    parser.add_argument("--duration", type=float, default=None, help="instead of --steps: length of the whole walk in seconds (at --fps)")
    parser.add_argument(
        "--space", choices=("w", "z"), default=None,
        help="interpolate in W (linear; StyleGAN's default) or Z (spherical); R3GAN and VanillaGAN have no W and walk in Z",
    )  # fmt: skip
    parser.add_argument("--loop", action="store_true", help="walk back from the last seed to the first")
    parser.add_argument("--fps", type=float, default=24.0, help="video/GIF frames per second (default 24)")
    parser.add_argument("--out", required=True, help="walk.mp4 (H.264), walk.gif, or DIR/ for one PNG per frame")
    add_overwrite_argument(parser)


def walk_latents(
    generator, seeds: list[int], steps: int, space: str, loop: bool, truncation: float, class_index: int | None = None
) -> Tensor:
    """ws for every frame, shape (frames, num_ws, w_dim); a conditional generator's seeds all of
    class ``class_index``."""
    device = generator.mapping.w_avg.device
    z = latents_for_seeds(seeds, generator.z_dim, device)
    with torch.no_grad():
        if space == "z":
            z_frames = walk_z(z, steps, loop)
            return generator.mapping(z_frames, class_input(generator, class_index, len(z_frames), device), truncation_psi=truncation)
        return walk_ws(generator.mapping(z, class_input(generator, class_index, len(z), device), truncation_psi=truncation), steps, loop)


@torch.no_grad()
def images_along_z(generator: torch.nn.Module, seeds: list[int], steps: int, loop: bool, class_index: int | None, chunk: int = 16) -> Tensor:
    """Images in [-1, 1] of a spherical walk in Z through ``seeds``, for a generator that maps z
    straight to images (R3GAN, VanillaGAN); a conditional one's frames all of class ``class_index``."""
    device = next(generator.parameters()).device
    z = walk_z(latents_for_seeds(seeds, generator.z_dim, device), steps, loop)
    c = class_input(generator, class_index, len(z), device)
    if c is None:
        return torch.cat([generator(part).cpu() for part in z.split(chunk)])
    return torch.cat([generator(zs, cs).cpu() for zs, cs in zip(z.split(chunk), c.split(chunk))])


def walk_projected(generator, paths: list[Path], steps: int, loop: bool) -> Tensor:
    """ws for every frame of a W+ walk through the ``*_ws.pt`` files `project` wrote (``--latents``)."""
    return walk_ws(load_projected_ws(paths, generator), steps, loop)


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "interpolate", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    if (args.seeds is None) == (args.latents is None):
        raise UserError("give either --seeds 1,2,3 or --latents a_ws.pt,b_ws.pt (from `project`)")
    points = args.latents.split(",") if args.latents else parse_int_list(args.seeds, "--seeds")
    if len(points) < 2:
        raise UserError(f"--seeds/--latents need at least 2 points to walk between, got {args.seeds or args.latents!r}")
    if args.steps is not None and args.duration is not None:
        raise UserError("give --steps (frames per segment) or --duration (seconds for the whole walk), not both")
    check_positive("--fps", args.fps)
    if args.duration is not None:
        check_positive("--duration", args.duration)
    if args.steps is not None:
        check_at_least("--steps", args.steps, 1)
    segments = len(points) - (0 if args.loop else 1)
    steps = steps_for_duration(args.duration, args.fps, segments, args.loop) if args.duration is not None else args.steps or 24
    as_frames = args.out.endswith(("/", "\\"))
    if not as_frames and not args.out.lower().endswith((".gif", ".mp4")):
        raise UserError(f"--out {args.out!r}: give a .mp4 or .gif file, or a folder ending in / for PNG frames")
    generator, checkpoint, device = load_command_generator(args, "interpolate", LATENT_ALGORITHMS)
    if not args.latents:  # projected W+ points carry their class already
        class_input(generator, args.class_index, 1, device)
    if not has_w_space(generator):
        check_z_walk(args, checkpoint["algorithm"])
        frames = steps * (len(points) - (0 if args.loop else 1)) + (0 if args.loop else 1)
        check_output(args.out, [f"frame{i:05d}.png" for i in range(frames)], args.overwrite, [args.ckpt])
        images = images_along_z(generator, points, steps, args.loop, args.class_index)
    else:
        space = args.space or "w"
        if args.latents:
            if space != "w":
                raise UserError("--latents walks in W+ (where `project` found them); drop --space z")
            ws = walk_projected(generator, [Path(p) for p in points], steps, args.loop)
        else:
            ws = walk_latents(generator, points, steps, space, args.loop, args.truncation, args.class_index)
        check_output(args.out, [f"frame{i:05d}.png" for i in range(len(ws))], args.overwrite, [args.ckpt, *(points if args.latents else [])])
        images = synthesize(generator, ws, args.noise_mode)
    if args.out.lower().endswith(".mp4"):
        with written_file(args.out) as temporary:
            write_video(images, temporary, args.fps)
        print(f"wrote {args.out} ({len(images)} frames, {len(images) / args.fps:.2f} s at {args.fps:g} fps)")
        return
    if as_frames:
        paths = save_images(images, args.out, [f"frame{i:05d}" for i in range(len(images))])
        print(f"wrote {len(paths)} frames to {args.out}")
        return
    write_gif(images, Path(args.out), args.fps)
    print(f"wrote {args.out} ({len(images)} frames)")


def has_w_space(generator: torch.nn.Module) -> bool:
    """Whether the generator maps z to W and synthesises from W+ (StyleGAN's family)."""
    return all(hasattr(generator, name) for name in ("mapping", "synthesis", "num_ws"))


def check_z_walk(args: argparse.Namespace, algorithm: str) -> None:
    """One line for each option that needs a W space, which this generator does not have."""
    if args.space == "w":
        raise UserError(f"--space w: a {algorithm} generator maps z straight to images, with no W space to walk in; allowed: --space z (its default)")
    if args.latents:
        raise UserError(f"--latents: `project` outputs are StyleGAN W+ points; a {algorithm} generator has no W space (give --seeds)")
    if args.truncation != 1.0:
        raise UserError(f"--truncation applies to StyleGAN checkpoints; this one is {algorithm}")


def write_gif(images: Tensor, path: Path, fps: float) -> None:
    frames = [tensor_to_pil(image) for image in images]
    with written_file(path) as temporary:
        frames[0].save(temporary, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
