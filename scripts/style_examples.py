"""Before/after grid of the perceptual style-transfer presets on scikit-image's shipped photos, with
the measured texture and structure distances (gan_lightning.evaluation.texture).

    python scripts/style_examples.py --fast runs/style_transfer_fast_neural/checkpoints/last.ckpt \
        --adain runs/style_transfer_adain/checkpoints/last.ckpt \
        [--single runs/style_transfer_single/checkpoints/last.ckpt] --out docs/style_examples.png

Rows: photos at 256 px. Columns: photo | fast neural style (its one style: grass_ink) | [the
single-image preset, trained on chelsea and grass_ink] | AdaIN with grass_ink (a training style) |
AdaIN with brick_teal (never seen in training) | the two styles.
Prints and writes (beside the grid, .json) each output's Gram distance to its style, the photo's own
distance to that style, and the blurred-grey correlation and SSIM with the photo.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as TF

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.data.example_photos import example_photo, example_style
from gan_lightning.evaluation.texture import blurred_grey_correlation, blurred_grey_ssim, gram_distance
from gan_lightning.common.images import pil_to_tensor, save_image_file
from gan_lightning.core.nets.adain import FixedStyle


def square(image, size: int) -> torch.Tensor:
    return TF.center_crop(TF.resize(pil_to_tensor(image)[None], size, antialias=True), size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", required=True, help="StyleTransfer checkpoint of the fast neural style preset")
    parser.add_argument("--adain", required=True, help="ArbitraryStyleTransfer checkpoint of the AdaIN preset")
    parser.add_argument("--single", default=None, help="StyleTransfer checkpoint of the single-image preset (chelsea + grass_ink)")
    parser.add_argument("--photos", default="chelsea,coffee", help="scikit-image example photos, comma-separated")
    parser.add_argument("--size", type=int, default=256, help="side of the photos")
    parser.add_argument("--style-size", type=int, default=256, help="short side of the style images (the stroke scale)")
    parser.add_argument("--out", required=True, help="grid PNG; the measures go beside it as .json")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    fast, _ = load_generator(args.fast)
    adain, _ = load_generator(args.adain)
    single = load_generator(args.single)[0] if args.single else None
    styles = {name: TF.resize(pil_to_tensor(example_style(name))[None], args.style_size, antialias=True) for name in ("grass_ink", "brick_teal")}
    rows, measures = [], []
    for name in args.photos.split(","):
        photo = square(example_photo(name), args.size)
        outputs = {"fast_neural/grass_ink": fast(photo)}
        if single is not None:
            outputs["single_image/grass_ink"] = single(photo)
        outputs |= {
            "adain/grass_ink": FixedStyle(adain, styles["grass_ink"])(photo),
            "adain/brick_teal (unseen)": FixedStyle(adain, styles["brick_teal"])(photo),
        }
        for label, image in outputs.items():
            style = styles[label.split("/")[1].split(" ")[0]]
            record = {
                "photo": name, "output": label,
                "gram_distance_photo": round(gram_distance(photo, style), 4),
                "gram_distance_output": round(gram_distance(image, style), 4),
                "blurred_grey_correlation": round(blurred_grey_correlation(image, photo), 4),
                "blurred_grey_ssim": round(blurred_grey_ssim(image, photo), 4),
            }  # fmt: skip
            print(record)
            measures.append(record)
        swatches = [square(TF.to_pil_image(((s[0] + 1) / 2).clamp(0, 1)), args.size) for s in styles.values()]
        rows.append(torch.cat([photo, *outputs.values(), *swatches], dim=3))
    out = Path(args.out)
    save_image_file(torch.cat(rows, dim=2)[0], out)
    out.with_suffix(".json").write_text(json.dumps(measures, indent=1) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
