"""Check our ADA pipeline (gan_lightning.core.augment) against NVlabs' AugmentPipe itself.

    python benchmarks/compare_nvlabs_augment.py ~/src/stylegan2-ada-pytorch \
        --out benchmarks/results/compare_nvlabs_augment.json

Imports ``training/augment.py`` from the given stylegan2-ada-pytorch checkout at run time (nothing of
it is bundled here; their CUDA plugins are stubbed, so their reference PyTorch ops run) and builds its
'bgc' AugmentPipe. Then, on the CPU in float32, for random images in [-1, 1]:

- same draws: both pipelines from the same torch seed at p = 0.25, 0.6, 1 and 1.4 (NVlabs' p may
  exceed 1), RGB and greyscale, square and non-square: max |ours - theirs| of the augmented
  images and of the gradient of a random projection of them with respect to the input images, and
  of the images no geometric transform moved (we return them as they are, NVlabs resamples them);
- fixed parameters: each transform alone, and all at once, at NVlabs' ``debug_percentile`` q (every
  parameter at the q-quantile of its distribution) against ours given the same values through
  ``AugmentParams``;
- p = 0: we return the input untouched, NVlabs still resamples (an identity up to rounding): that
  difference is reported as ``p0_nvlabs_resampling_vs_identity``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import harness
import torch
from harness import NVLABS_BGC as BGC

from gan_lightning.core import augment as ours

TRANSFORMS = list(BGC)  # xflip, rotate90, xint, scale, rotate, aniso, xfrac, brightness, contrast, lumaflip, hue, saturation


def params_at_percentile(q: float, n: int, enabled: list[str]) -> ours.AugmentParams:
    """Our parameters equal to what NVlabs' debug_percentile=q sets for the enabled transforms."""
    qt = torch.tensor(q)
    normal = float(torch.erfinv(qt * 2 - 1))
    full = lambda v: torch.full((n,), float(v))  # noqa: E731
    values = dict(
        xflip=full(math.floor(q * 2)),
        rotate90=full(math.floor(q * 4)),
        xint=torch.full((n, 2), (q * 2 - 1) * ours.INTEGER_TRANSLATION_MAX),
        scale=full(2 ** (normal * ours.SCALE_STD)),
        rotate=full((q * 2 - 1) * math.pi * ours.ROTATE_MAX),  # pre-rotation; NVlabs sets post-rotation to 0
        aniso=full(2 ** (normal * ours.ANISO_STD)),
        xfrac=torch.full((n, 2), normal * ours.FRACTIONAL_TRANSLATION_STD),
        brightness=full(normal * ours.BRIGHTNESS_STD),
        contrast=full(2 ** (normal * ours.CONTRAST_STD)),
        lumaflip=full(math.floor(q * 2)),
        hue=full((q * 2 - 1) * math.pi * ours.HUE_MAX),
        saturation=full(2 ** (normal * ours.SATURATION_STD)),
    )
    fields = {("rotate_pre" if name == "rotate" else name): values[name] for name in enabled}
    return ours.AugmentParams.identity(n).replace(**fields)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clone", type=Path, help="a stylegan2-ada-pytorch checkout")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the results here as JSON")
    args = parser.parse_args()
    harness.use_nvlabs(args.clone)
    from training import augment as nv_augment  # type: ignore[import-not-found]

    torch.set_grad_enabled(True)
    results: dict = {"nvlabs_clone": str(args.clone), "batch": args.batch, "same_draws": {}, "fixed_parameters": {}}

    shapes = [(3, 32, 32), (3, 64, 64), (1, 32, 32), (3, 32, 48)]
    for c, h, w in shapes:
        for p in (0.25, 0.6, 1.0, 1.4):
            images = torch.rand(args.batch, c, h, w, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
            projection = torch.randn(args.batch, c, h, w, generator=torch.Generator().manual_seed(args.seed + 1))
            theirs_pipe = nv_augment.AugmentPipe(**BGC).train().requires_grad_(False)
            theirs_pipe.p.copy_(torch.tensor(p))
            mine = ours.AdaptiveAugment()
            mine.p.fill_(p)  # beyond 1 only as the ADA rule can take it, not as a constructor argument
            outputs, grads = [], []
            for pipe in (theirs_pipe, mine):
                x = images.clone().requires_grad_(True)
                torch.manual_seed(args.seed + 2)
                y = pipe(x)
                (y * projection).sum().backward()
                outputs.append(y.detach())
                grads.append(x.grad)
            torch.manual_seed(args.seed + 2)  # the same draws again, to tell which images were not moved
            still = (ours.sampling_matrix(ours.sample_params(args.batch, p, c), h, w) == torch.eye(3)).flatten(1).all(dim=1)
            record = {"images": max_diff(*outputs), "input_grad": max_diff(*grads), "unmoved_images": int(still.sum())}
            if still.any():  # we return these as they are, NVlabs resamples them (an identity up to rounding)
                record["images_of_unmoved"] = max_diff(outputs[0][still], outputs[1][still])
            results["same_draws"][f"{c}x{h}x{w}_p{p:g}"] = record

    images = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    for c in (3, 1):
        x = images[:, :c]
        for q in (0.1, 0.35, 0.8):
            for name in TRANSFORMS + ["all"]:
                enabled = TRANSFORMS if name == "all" else [name]
                pipe = nv_augment.AugmentPipe(**{t: 1 for t in enabled}).train().requires_grad_(False)
                theirs = pipe(x, debug_percentile=q)
                groups = dict(geometric=any(t in enabled for t in TRANSFORMS[:7]), color=any(t in enabled for t in TRANSFORMS[7:]))
                mine = ours.AdaptiveAugment(p=1.0, **groups)
                results["fixed_parameters"][f"c{c}_{name}_q{q:g}"] = max_diff(mine(x, params_at_percentile(q, x.shape[0], enabled)), theirs)

    pipe = nv_augment.AugmentPipe(**BGC).train().requires_grad_(False)
    pipe.p.zero_()
    results["p0_nvlabs_resampling_vs_identity"] = max_diff(pipe(images), images)
    results["p0_ours_is_input"] = ours.AdaptiveAugment(p=0.0)(images) is images

    results["max_same_draws"] = max(max(v["images"], v["input_grad"]) for v in results["same_draws"].values())
    results["max_fixed_parameters"] = max(results["fixed_parameters"].values())
    harness.print_json(results, args.out)


if __name__ == "__main__":
    main()
