"""`project`: GAN inversion into W or W+, and image style transfer by mixing two inversions.

    project --ckpt G.ckpt --target photo.png --out proj/                  # W+ latent + reconstruction
    project --ckpt G.ckpt --content a.png --style b.png --out mix/         # coarse layers from a, fine from b

Inversion after the StyleGAN2 paper's projector (Karras et al. 2020, sec. 5) and NVlabs'
projector.py, not compared with them: start at w_avg and optimise with Adam under a cosine
learning-rate ramp while Gaussian noise of decaying strength is added to the latent, so the search
does not settle early. Unlike NVlabs, the generator's noise inputs are not optimised: they stay at
their stored values (noise_mode const), so the latent explains the whole image; and the default
distance is pixel MSE summed over three scales (offline) instead of their VGG16 LPIPS
(``--distance lpips`` uses torchmetrics' LPIPS, which needs its VGG weights).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.common.checks import check_at_least, check_positive, check_range
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import load_image, save_image_grid, save_images, square_crop
from gan_lightning.core.nets.stylegan2 import Generator
from gan_lightning.common.outputs import add_overwrite_argument, check_output_folder, written_file
from gan_lightning.common.sampling import class_vectors
from gan_lightning.cli.arguments import add_checkpoint_arguments, parse_command_line
from gan_lightning.cli.stylegan_arguments import load_stylegan

LR_RAMPDOWN = 0.25  # fraction of the steps at the end with a cosine decay
LR_RAMPUP = 0.05  # fraction of the steps at the start with a linear warm-up
NOISE_SCALE = 0.05  # initial latent noise, in units of the spread of W
NOISE_RAMP = 0.75  # fraction of the steps over which the latent noise goes to 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_arguments(parser, "StyleGAN checkpoint from `fit` or `convert`")
    parser.add_argument("--target", type=Path, help="image to invert")
    parser.add_argument("--content", type=Path, help="style transfer: image that gives the coarse layers (pose, shape)")
    parser.add_argument("--style", type=Path, help="style transfer: image that gives the fine layers (colour, texture)")
    parser.add_argument("--coarse-layers", type=int, default=None, help="W+ rows taken from --content (default: half)")
    parser.add_argument("--space", choices=("w", "w+"), default="w+", help="one w for all layers, or one per layer (default w+)")
    parser.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    parser.add_argument("--lr", type=float, default=0.1, help="Adam learning rate (default 0.1)")
    parser.add_argument("--distance", choices=("mse", "lpips"), default="mse", help="image distance (default mse, offline)")
    parser.add_argument("--w-avg-samples", type=int, default=2000, help="z samples for the mean and spread of W")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent noise")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_overwrite_argument(parser)


def multiscale_mse(images: Tensor, target: Tensor) -> Tensor:
    """Pixel MSE at full, half and quarter resolution: coarse structure weighs as much as detail."""
    loss = images.new_zeros(())
    for _ in range(3):
        loss = loss + F.mse_loss(images, target)
        if images.shape[-1] < 8:
            break
        images, target = F.avg_pool2d(images, 2), F.avg_pool2d(target, 2)
    return loss


def lpips_distance(device: torch.device):
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        metric = LearnedPerceptualImagePatchSimilarity(net_type="vgg", normalize=False).to(device).eval()
    except Exception as error:  # weights download (offline) or missing optional packages
        raise UserError(f"--distance lpips is unavailable ({type(error).__name__}: {error}); use --distance mse") from None
    metric.requires_grad_(False)
    return lambda images, target: metric(images.clamp(-1, 1), target)


def project(
    generator: Generator,
    target: Tensor,
    space: str = "w+",
    steps: int = 300,
    lr: float = 0.1,
    distance=multiscale_mse,
    w_avg_samples: int = 2000,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, list[float]]:
    """ws (1, num_ws, w_dim) whose image matches ``target`` (1, C, H, W) in [-1, 1]; and the loss per
    step. ``on_step(done, steps)`` is called after each step (a progress display)."""
    device = generator.mapping.w_avg.device
    rng = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(w_avg_samples, generator.z_dim, generator=rng).to(device)
        # A class-conditional generator: W's mean and spread over all its classes, drawn uniformly.
        c = class_vectors(torch.randint(generator.c_dim, (w_avg_samples,), generator=rng), generator.c_dim, device) if generator.c_dim else None
        w_samples = generator.mapping(z, c)[:, :1]  # (N, 1, w_dim)
        w_avg = w_samples.mean(dim=0, keepdim=True)
        w_std = (w_samples - w_avg).square().sum(dim=2).mean().sqrt().item()
    rows = generator.num_ws if space == "w+" else 1
    w = w_avg.repeat(1, rows, 1).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999))
    losses = []
    for step in range(steps):
        t = step / steps
        noise_scale = w_std * NOISE_SCALE * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
        ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / LR_RAMPUP)
        for group in optimizer.param_groups:
            group["lr"] = lr * ramp
        noise = torch.randn(w.shape, generator=rng).to(device) * noise_scale
        ws = (w + noise).expand(-1, generator.num_ws, -1)
        loss = distance(generator.synthesis(ws, noise_mode="const"), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, steps)
    return w.detach().expand(-1, generator.num_ws, -1).clone(), losses


def load_target(path: Path, generator: Generator, device: torch.device) -> Tensor:
    image = load_image(path, generator.channels)
    return square_crop(image, generator.resolution)[None].to(device)


def invert(
    generator: Generator,
    path: Path,
    out: Path,
    name: str,
    space: str,
    steps: int,
    lr: float,
    distance: Callable[[Tensor, Tensor], Tensor],
    w_avg_samples: int,
    seed: int,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, Tensor, list[float]]:
    """Projects the image at ``path`` and writes ``out/<name>_ws.pt``, ``<name>_target.png`` and
    ``<name>_projection.png``: what `project` and the studio write; (ws, its image, losses)."""
    target = load_target(path, generator, generator.mapping.w_avg.device)
    ws, losses = project(generator, target, space, steps, lr, distance, w_avg_samples, seed, on_step)
    with torch.no_grad():
        image = generator.synthesis(ws, noise_mode="const")
    with written_file(out / f"{name}_ws.pt") as temporary:
        torch.save({"ws": ws[0].cpu(), "space": space, "source": str(path)}, temporary)
    save_images(torch.cat([target, image]).cpu(), out, [f"{name}_target", f"{name}_projection"])
    return ws, image, losses


def mix_projections(generator: Generator, content_ws: Tensor, content_image: Tensor, style_ws: Tensor, style_image: Tensor, cut: int, out: Path) -> Path:
    """Layers 0 .. cut-1 from the content's latent, the rest from the style's, written as
    ``out/stylized.png`` (returned) and ``out/overview.png`` (content, style, stylized)."""
    mixed = torch.cat([content_ws[:, :cut], style_ws[:, cut:]], dim=1)
    with torch.no_grad():
        stylized = generator.synthesis(mixed, noise_mode="const")
    save_images(stylized.cpu(), out, ["stylized"])
    save_image_grid(torch.cat([content_image, style_image, stylized]).cpu(), out / "overview.png", nrow=3)
    return out / "stylized.png"


def main(argv: list[str]) -> None:
    run(parse_command_line(argv, "project", __doc__, add_arguments))


def run(args: argparse.Namespace) -> None:
    style_mode = args.content is not None or args.style is not None
    if style_mode == (args.target is not None) or (style_mode and (args.content is None or args.style is None)):
        raise UserError("give either --target IMAGE (inversion) or both --content IMAGE and --style IMAGE (style transfer)")
    check_at_least("--steps", args.steps, 1)
    check_positive("--lr", args.lr)
    check_at_least("--w-avg-samples", args.w_avg_samples, 2)
    generator, device = load_stylegan(args, "project")
    distance = lpips_distance(device) if args.distance == "lpips" else multiscale_mse
    parts = ["target"] if not style_mode else ["content", "style"]
    names = [f"{p}{end}" for p in parts for end in ("_ws.pt", "_target.png", "_projection.png")]
    inputs = [args.ckpt, *(path for path in (args.target, args.content, args.style) if path is not None)]
    check_output_folder(args.out, names + (["stylized.png", "overview.png"] if style_mode else []), args.overwrite, inputs)
    args.out.mkdir(parents=True, exist_ok=True)

    def invert_named(path: Path, name: str) -> tuple[Tensor, Tensor]:
        ws, image, losses = invert(generator, path, args.out, name, args.space, args.steps, args.lr, distance, args.w_avg_samples, args.seed)
        print(f"{name}: distance {losses[0]:.4f} -> {losses[-1]:.4f} after {args.steps} steps")
        return ws, image

    if not style_mode:
        invert_named(args.target, "target")
        print(f"wrote {args.out}/target_ws.pt (W+ rows, {args.space} search) and target_projection.png")
        return
    cut = args.coarse_layers if args.coarse_layers is not None else generator.num_ws // 2
    check_range("--coarse-layers", cut, 1, generator.num_ws - 1)  # the bounds of this generator's W+
    content_ws, content_image = invert_named(args.content, "content")
    style_ws, style_image = invert_named(args.style, "style")
    mix_projections(generator, content_ws, content_image, style_ws, style_image, cut, args.out)
    print(f"wrote {args.out}/stylized.png: layers 0-{cut - 1} from the content, {cut}-{generator.num_ws - 1} from the style")
