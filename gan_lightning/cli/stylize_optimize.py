"""`stylize --method optimize --style S`: each photo stylized by optimising its own pixels (Gatys et
al. 2016, ``core/gatys.py``), with no checkpoint and no training: a result on any pair, and the
reference the trained modes are measured against.

The optimisation costs a forward and backward pass of the feature network per step on the whole
image, so photos are optimised at ``--size`` (longest side, default 512) and written at that size;
the style image is resized as for arbitrary-style checkpoints (``--style-size``, short side).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.errors import UserError
from gan_lightning.core.gatys import IMAGE_OPTIMIZERS, optimise_image
from gan_lightning.core.nets.perceptual import FEATURE_NETWORKS, LAYER_NAMES, PerceptualConfig

DEFAULT_SIZE = 512


def add_optimize_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("--method optimize (Gatys et al. 2016: no checkpoint; needs --style)")
    group.add_argument("--steps", type=int, default=300, help="loss evaluations per photo, a forward and backward pass each (default 300)")
    group.add_argument("--size", type=int, default=DEFAULT_SIZE, help=f"longest side each photo is optimised and written at, 0 = as it is (default {DEFAULT_SIZE})")
    group.add_argument("--style-weight", type=float, default=1.0, help="weight of the Gram style loss, each layer relative to the style's (default 1)")
    group.add_argument("--content-weight", type=float, default=0.1, help="weight of the content loss, relative to the larger of the photo's and the style's features (default 0.1)")
    group.add_argument("--content-layer", default="relu2_1", help=f"layer that keeps the photo's content: {', '.join(LAYER_NAMES)} (default relu2_1)")
    group.add_argument("--optimizer", default="lbfgs", help=f"{', '.join(IMAGE_OPTIMIZERS)} (default lbfgs, the paper's)")
    group.add_argument("--lr", type=float, default=None, help="step size in u, where the image is tanh(u) so it stays in [-1, 1] (default 1 for lbfgs, 0.02 for adam)")
    group.add_argument("--features", default="auto", help=f"feature network: {', '.join(FEATURE_NETWORKS)} (default auto: vgg19 where its weights are given or cached, else random_wide)")
    group.add_argument("--weights-path", default=None, help="a local torchvision VGG state dict, for --features vgg19/vgg16/auto offline")


def check_optimize_arguments(args: argparse.Namespace) -> None:
    """One line for each bad value, before any photo is read."""
    if args.ckpt is not None:
        raise UserError("--ckpt is not used by --method optimize (it needs no training); leave it out, or use --method generator")
    if args.style is None:
        raise UserError("--method optimize needs --style IMAGE, the style to optimise towards")
    if args.steps < 1:
        raise UserError(f"--steps {args.steps} is invalid; allowed: >= 1")
    if args.size < 0:
        raise UserError(f"--size {args.size} is invalid; allowed: 0 (as it is) or a positive side in pixels")
    for option, value in (("--style-weight", args.style_weight), ("--content-weight", args.content_weight)):
        if not value >= 0:
            raise UserError(f"{option} {value} is invalid; allowed: >= 0")
    if args.lr is not None and not args.lr > 0:
        raise UserError(f"--lr {args.lr} is invalid; allowed: > 0")
    if args.content_layer not in LAYER_NAMES:
        raise UserError(f"--content-layer {args.content_layer!r} is invalid; allowed: {', '.join(LAYER_NAMES)}")
    if args.features not in FEATURE_NETWORKS:
        raise UserError(f"--features {args.features!r} is invalid; allowed: {', '.join(FEATURE_NETWORKS)}")
    if args.optimizer not in IMAGE_OPTIMIZERS:
        raise UserError(f"--optimizer {args.optimizer!r} is invalid; allowed: {', '.join(IMAGE_OPTIMIZERS)}")


def resize_longest(image: Tensor, size: int) -> Tensor:
    """``image`` (N, C, H, W) with its longest side ``size`` (0: as it is)."""
    height, width = image.shape[-2:]
    if size == 0 or max(height, width) == size:
        return image
    scale = size / max(height, width)
    return TF.resize(image, [max(1, round(height * scale)), max(1, round(width * scale))], antialias=True)


class Optimiser:
    """The photo -> stylized photo function ``stylize`` applies per file, with progress on stderr."""

    def __init__(self, args: argparse.Namespace, style: Tensor, device: torch.device) -> None:
        self.args = args
        self.style = style
        self.network = PerceptualConfig(args.features, weights_path=args.weights_path).build().to(device)

    def __call__(self, photo: Tensor, name: str) -> Tensor:
        args = self.args
        resized = resize_longest(photo, args.size).to(self.style.device)
        if resized.shape != photo.shape:
            print(f"{name}: optimised and written at {resized.shape[-1]}x{resized.shape[-2]} (--size {args.size}; the photo is {photo.shape[-1]}x{photo.shape[-2]})", file=sys.stderr)
        started = time.perf_counter()
        every = max(1, args.steps // 10)

        def report(step: int, steps: int, style_loss: float, content_loss: float) -> None:
            if step % every == 0 or step == steps:
                print(f"{name}: step {step}/{steps}  style {style_loss:.4f}  content {content_loss:.4f}  {time.perf_counter() - started:.0f}s", file=sys.stderr)

        return optimise_image(
            resized, self.style, self.network, steps=args.steps, style_weight=args.style_weight, content_weight=args.content_weight,
            content_layer=args.content_layer, optimizer=args.optimizer, lr=args.lr, progress=report,
        ).cpu()  # fmt: skip
