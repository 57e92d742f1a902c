"""Can the fast neural generator draw a style's texture at all? Fit it to ONE crop of one photo under
the preset's own loss (style 5 and content 0.1 in ``random_wide`` features with relative Gram
layers, colour 1), and free pixels under the same loss (``tanh(atanh(photo) + d)``, the residual
generator's output form with ``d`` free), and measure both as the style benchmark does.

With one crop there is nothing to generalise: a generator that stays far from the style where free
pixels reach it cannot represent the texture. Pictures side by side: photo | pixels | each generator.

    python benchmarks/style_fit_one_crop.py --pair rocket__grass_ink --generators plain,noise=0.5 --tag rocket_grass_ink

Writes ``benchmarks/results/style_fit_one_crop_<tag>.json`` and ``docs/style_fit_one_crop_<tag>.png``.
"""

from __future__ import annotations

import argparse
import json
import time

import harness  # puts this checkout's gan_lightning on the path
import style_pairs
import torch
from style_benchmark import measure, shipped_value
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import pil_to_tensor, save_image_grid
from gan_lightning.common.torch_utils import tanh_argument
from gan_lightning.core.losses import colour_statistics_loss
from gan_lightning.core.nets.perceptual import PerceptualConfig
from gan_lightning.core.nets.resnet import ResnetGenerator
from gan_lightning.training.perceptual_terms import PerceptualTerms


def preset(key: str) -> float:
    """The fast neural preset's model option (configs/style_transfer_fast_neural.yaml)."""
    return float(shipped_value("fast_neural", "model", key))


def fit(render, parameters, photo: torch.Tensor, style: torch.Tensor, terms: PerceptualTerms, weights: tuple[float, float, float], steps: int, lr: float) -> tuple[torch.Tensor, float]:
    """Adam (the preset's betas) on the preset's loss, ``weights`` its style, content and colour
    weights; returns the last output and its style term."""
    style_weight, content_weight, colour_weight = weights
    optimizer = torch.optim.Adam(parameters, lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        output = render()
        style_term, content_term = terms(photo, style, output)
        loss = style_weight * style_term + content_weight * content_term + colour_weight * colour_statistics_loss(output, style)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        output = render()
        return output, float(terms(photo, style, output)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", default="rocket__grass_ink", help="photo__style, from benchmarks/style_pairs.py")
    parser.add_argument("--generators", default="plain,noise=0.5", help="comma-separated: plain, noise=S (generator.noise S)")
    parser.add_argument("--size", type=int, default=128, help="the crop's side, from the photo at twice that (the preset's 128 px crops of 256 px photos)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    photo_name, style_name = args.pair.split("__")
    photo = TF.center_crop(TF.resize(pil_to_tensor(style_pairs.photo(photo_name))[None], 2 * args.size, antialias=True), args.size)
    style = TF.resize(pil_to_tensor(style_pairs.style(style_name))[None], 2 * args.size, antialias=True)
    terms = PerceptualTerms(PerceptualConfig("random_wide"), "gram", "relu2_1", "relative")
    weights = (preset("lambda_style"), preset("lambda_content"), preset("lambda_colour"))
    runs: dict[str, tuple[torch.Tensor, float, float]] = {}

    started = time.process_time()
    change = torch.zeros_like(photo, requires_grad=True)
    base = tanh_argument(photo)  # the generator's own
    output, style_term = fit(lambda: torch.tanh(base + change), [change], photo, style, terms, weights, args.steps, lr=0.05)
    runs["pixels"] = (output, style_term, time.process_time() - started)
    for name in args.generators.split(","):
        noise = float(name.split("=")[1]) if name.startswith("noise=") else 0.0
        torch.manual_seed(0)
        generator = ResnetGenerator(ngf=int(preset("generator.width")), n_blocks=int(preset("generator.blocks")), residual=True,
                                    init_gain=preset("generator.init_gain"), noise=noise)  # fmt: skip
        started = time.process_time()
        output, style_term = fit(lambda: generator(photo), list(generator.parameters()), photo, style, terms, weights, args.steps, lr=1e-3)
        runs[name] = (output, style_term, time.process_time() - started)

    rows = []
    for name, (output, style_term, seconds) in runs.items():
        m = measure(output, photo, style)
        rows.append({"fit": name, "style_term": style_term, "gram_ratio": m["gram_ratio"], "texture_ratio": m["texture_ratio"], "structure": m["structure"], "cpu_s": seconds})
        print(f"{name:>10}: style term {style_term:.4f}  Gram {m['gram_ratio']:.2f}x  texture {m['texture_ratio']:.2f}x  structure {m['structure']:.2f}  ({seconds:.0f} CPU s)")
    record = {"command": "python benchmarks/style_fit_one_crop.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()), "rows": rows}
    (harness.RESULTS / f"style_fit_one_crop_{args.tag}.json").write_text(json.dumps(record, indent=1) + "\n")
    save_image_grid(torch.cat([photo, *(o for o, _, _ in runs.values())]), harness.REPO / "docs" / f"style_fit_one_crop_{args.tag}.png", nrow=len(runs) + 1)


if __name__ == "__main__":
    main()
