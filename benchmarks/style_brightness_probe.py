"""Why the fast neural preset darkens: the perceptual style loss of a few images against a style, in
the presets' offline features (``random_wide``, relative Gram layers), and the benchmark's Gram
distance beside it.

    python benchmarks/style_brightness_probe.py

``random_wide``'s filters are zero-mean (``core/nets/perceptual.py``), so an image of one grey level
has no features at all: its relative Gram loss is exactly 1 whatever the level, and brightness costs
nothing. Where the photo has more contrast than the style, lowering the contrast lowers the loss;
the residual generator can do that for free by pushing its output towards tanh's saturation, which
darkens it. Candidates per pair (128 px, the style centre-cropped at the presets' 256 px scale):
the photo, the photo at half contrast shifted dark (0.5 x - 0.5) or light (0.5 x + 0.5), flat
black, flat grey, and a crop of the style itself. Writes benchmarks/results/style_brightness_probe.json.
"""

from __future__ import annotations

import argparse

import harness  # noqa: F401  (puts this checkout's gan_lightning on the path)
import style_pairs
import torch
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import pil_to_tensor
from gan_lightning.core.losses import gram_matrix, gram_style_loss
from gan_lightning.core.nets.perceptual import PerceptualConfig
from gan_lightning.evaluation.texture import gram_distance

PAIRS = (("astronaut", "cells"), ("chelsea", "gravel_rust"), ("coffee", "deep_field"), ("rocket", "grass_ink"))  # tuned pairs only
SIZE = 128


def candidates(photo: torch.Tensor, style_crop: torch.Tensor) -> dict[str, torch.Tensor]:
    return {
        "photo": photo,
        "half contrast, dark": 0.5 * photo - 0.5,
        "half contrast, light": 0.5 * photo + 0.5,
        "flat black": -torch.ones_like(photo),
        "flat grey": torch.zeros_like(photo),
        "style crop": style_crop,
    }


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    torch.manual_seed(0)
    network = PerceptualConfig("random_wide").build()
    rows = []
    for photo_name, style_name in PAIRS:
        photo = TF.center_crop(TF.resize(pil_to_tensor(style_pairs.photo(photo_name))[None], SIZE, antialias=True), SIZE)
        style = TF.resize(pil_to_tensor(style_pairs.style(style_name))[None], 256, antialias=True)
        style_crop = TF.center_crop(style, SIZE)
        with torch.no_grad():
            targets = [gram_matrix(f) for f in network(style_crop)]
            for name, image in candidates(photo, style_crop).items():
                loss = float(gram_style_loss(network(image), targets, relative=True))
                rows.append({"photo": photo_name, "style": style_name, "image": name, "style_loss": loss, "benchmark_gram": gram_distance(image, style)})
                print(f"{photo_name} x {style_name}: {name:22s} style loss {loss:8.3f}   benchmark Gram distance {rows[-1]['benchmark_gram']:.3f}")
    harness.write_json(harness.RESULTS / "style_brightness_probe.json", {"command": "python benchmarks/style_brightness_probe.py", "size": SIZE, "rows": rows}, indent=1)


if __name__ == "__main__":
    main()
