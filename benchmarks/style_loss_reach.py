"""How near each benchmark output got to its style in the presets' own features: the perceptual style
loss (``random_wide``, relative Gram layers, as the fast neural and single-image presets train) of
the photo and of the output, and the fraction of the output's pixels near black (below -0.9: the
residual generator's tanh flattening areas, ``style_brightness_probe.py``); and how large the
output's Gram matrices are against the style's (mean over layers of the ratio of their norms), for
the whole output and for its pixels that are not near black alone: a flat black area gives no
response in zero-mean filters, so it dilutes an over-strong texture elsewhere towards the style's
Gram size.

    python benchmarks/style_loss_reach.py benchmarks/results/style_benchmark_held_out_fn_gain1.json \\
        benchmarks/results/style_benchmark_held_out_optimize_256.json --pairs motorcycle__hatch,camera__shapes_ink

Reads each record's work folder (the photo and style as that run stylized them, and its outputs),
so it runs where the records were made. Prints one line per record and pair.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import harness  # noqa: F401  (puts this checkout's gan_lightning on the path)
import torch
import torch.nn.functional as F
import style_pairs
from style_benchmark import recorded_image

from gan_lightning.core.losses import gram_matrix, gram_style_loss
from gan_lightning.core.nets.perceptual import PerceptualConfig

NEAR_BLACK = -0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="+", type=Path, help="style_benchmark_TAG.json files")
    parser.add_argument("--pairs", default="", help="photo__style names, comma-separated (default: every pair of each record)")
    args = parser.parse_args()
    wanted = {name for name in args.pairs.split(",") if name}
    network = PerceptualConfig("random_wide").build()
    for record_path in args.records:
        record = json.loads(record_path.read_text())
        work = Path(record["settings"]["work"])
        for row in record["pairs"]:
            name = style_pairs.pair_name(row["photo"], row["style"])
            if wanted and name not in wanted:
                continue
            photo, style, output = (recorded_image(work, row, which) for which in ("photo", "style", "output"))
            with torch.no_grad():
                targets = [gram_matrix(f) for f in network(style)]
                loss = {key: float(gram_style_loss(network(x), targets, relative=True)) for key, x in (("photo", photo), ("output", output))}
            black = {key: float((x < NEAR_BLACK).float().mean()) for key, x in (("photo", photo), ("output", output))}
            whole, lit = gram_sizes(network, output, targets)
            print(f"{record_path.stem} {name}: style loss photo {loss['photo']:.3f}, output {loss['output']:.3f}; "
                  f"near black photo {black['photo']:.2f}, output {black['output']:.2f}; "
                  f"Gram size / style's: output {whole:.2f}, its pixels not near black {lit:.2f}")  # fmt: skip


@torch.no_grad()
def gram_sizes(network: torch.nn.Module, output: torch.Tensor, targets: list[torch.Tensor]) -> tuple[float, float]:
    """Mean over layers of ||G(output)|| / ||G(style)||, over all positions and over the positions whose
    pixels are not near black in every channel (the mask taken to each layer's size by area)."""
    lit = (output.amax(1, keepdim=True) >= NEAR_BLACK).float()
    whole, kept = [], []
    for features, target in zip(network(output), targets, strict=True):
        mask = F.interpolate(lit, size=features.shape[2:], mode="area")
        # gram_matrix averages over every position; over the lit ones alone, scaled by their share
        masked = gram_matrix(features * mask) * (mask.numel() / mask.sum().clamp_min(1))
        whole.append(float(gram_matrix(features).norm() / target.norm()))
        kept.append(float(masked.norm() / target.norm()))
    return sum(whole) / len(whole), sum(kept) / len(kept)


if __name__ == "__main__":
    main()
