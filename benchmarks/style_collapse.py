"""Why does single-image style training collapse on some pairs? One training per run, one variable
changed against the shipped preset at a time, offline (scikit-image's photos and example styles).

    python benchmarks/style_collapse.py --name shipped_64px --resolution 64 --load-size 128 --steps 100
    python benchmarks/style_collapse.py --name r1_0 --resolution 64 --load-size 128 --steps 100 --model lambda_r1=0

The preset is configs/style_transfer_single_cut.yaml (its model options over configs/style_transfer.yaml's;
the single-image preset when these collapses were measured);
``--model KEY=VALUE`` / ``--data KEY=VALUE`` override one option (YAML values). After training, on the
whole photo and the whole style image at the training scale (short side ``load_size``):
- ``structure``: correlation of the output's blurred luminance with the photo's (1: kept, ~0: lost);
- ``identity_l1``: mean |G(style) - style| in [-1, 1] units;
- ``edges``: correlation of the output's luminance edge magnitudes with the photo's (the collapse
  detector's structure measure; soft blobs score low where ``structure`` does not);
- ``gram_ratio``: Gram distance to the style of the output over the photo's, in an independent network
  (below 1: the texture moved toward the style); ``identity_gram``: G(style)'s Gram distance to the style.
``--flattening`` only prints the preset's per-layer style term for photo crops and for the same crops
flattened to their mean colour (no training).
Writes benchmarks/results/style_collapse_NAME.json and .png (photo | output | style | identity).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import harness
import lightning.pytorch as pl
import torch
import yaml
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import from_uint8, load_image, save_image_file
from gan_lightning.data.example_photos import example_photo, example_style
from gan_lightning.data.single_image import SingleImagePairDataModule
from gan_lightning.evaluation.texture import blurred_grey_correlation, edge_correlation, gram_distance
from gan_lightning.training.models.style_transfer import StyleTransfer


def preset(name: str) -> tuple[dict, dict]:
    """(model init_args, data init_args) of a preset, its ``config:`` parents applied first."""
    text = yaml.safe_load((harness.REPO / "configs" / name).read_text())
    model, data = {}, {}
    parents = text.get("config", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        m, d = preset(parent)
        model.update(m)
        data.update(d)
    model.update(text.get("model", {}).get("init_args", {}))
    if "class_path" in text.get("data", {}):  # another data module: the parents' data options are not its
        data = {}
    data.update(text.get("data", {}).get("init_args", {}))
    return model, data


def whole(image, short: int) -> torch.Tensor:
    """A PIL image resized so its short side is ``short`` (then cropped to a multiple of 4), in [-1, 1]."""
    tensor = TF.resize(TF.pil_to_tensor(image), short, antialias=True)
    h, w = tensor.shape[-2:]
    return from_uint8(tensor[:, : h - h % 4, : w - w % 4])[None]


def measure(model: StyleTransfer, photo: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    out, identity = model.stylize(photo), model.stylize(style)
    return {
        "structure": blurred_grey_correlation(out, photo),
        "edges": edge_correlation(out, photo),
        "identity_edges": edge_correlation(identity, style),
        "identity_l1": float((identity - style).abs().mean()),
        "gram_ratio": gram_distance(out, style) / gram_distance(photo, style),
        "photo_gram": gram_distance(photo, style),
        "output_gram": gram_distance(out, style),
        "identity_gram": gram_distance(identity, style),
    }, out, identity


def flattening_shortcut(photo_image, style_image, load_size: int, resolution: int, crops: int = 8) -> dict[str, list[float]]:
    """Per-layer relative Gram distance to the style (the preset's style term, random_wide features)
    of photo crops and of the same crops flattened to their mean colour: how much a Gram loss gains by
    erasing the photo's structure."""
    from gan_lightning.core.losses import gram_matrix
    from gan_lightning.core.nets.perceptual import PerceptualConfig

    network = PerceptualConfig(network="random_wide").build()

    def random_crops(image):
        tensor = from_uint8(TF.resize(TF.pil_to_tensor(image), load_size, antialias=True))
        h, w = tensor.shape[-2:]
        corners = [(int(torch.randint(0, h - resolution + 1, ())), int(torch.randint(0, w - resolution + 1, ()))) for _ in range(crops)]
        return torch.stack([tensor[:, y : y + resolution, x : x + resolution] for y, x in corners])

    torch.manual_seed(0)
    photo, style = random_crops(photo_image), random_crops(style_image)
    flat = photo.mean((2, 3), keepdim=True).expand_as(photo)
    with torch.no_grad():
        targets = [gram_matrix(f).mean(0, keepdim=True) for f in network(style)]
        relative = lambda x: [round(float(((gram_matrix(f) - t).square().sum((1, 2)) / t.square().sum((1, 2))).mean()), 2) for f, t in zip(network(x), targets)]  # noqa: E731
        return {"photo": relative(photo), "flattened": relative(flat)}


def parse_overrides(pairs: list[str]) -> dict:
    result = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        result[key] = yaml.safe_load(value)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--config", default="style_transfer_single_cut.yaml")
    parser.add_argument("--photo", default="astronaut", help="an example photo's name or an image file")
    parser.add_argument("--style", default="cells", help="an example style's name or an image file")
    parser.add_argument("--resolution", type=int, default=None, help="crop side (default: the preset's)")
    parser.add_argument("--load-size", type=int, default=None, help="short side at zoom 1 (default: the preset's)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flattening", action="store_true", help="only print the per-layer style term of the photo and of it flattened, no training")
    parser.add_argument("--model", nargs="*", default=[], help="KEY=VALUE model overrides")
    parser.add_argument("--data", nargs="*", default=[], help="KEY=VALUE data overrides")
    args = parser.parse_args()
    model_args, data_args = preset(args.config)
    model_args.pop("fid_features", None)
    files = Path(args.photo).is_file()
    if files:
        data_args.update(example_photo=None, example_style=None, content=args.photo, style=args.style)
    else:
        data_args.update(example_photo=args.photo, example_style=args.style)
    data_args["crops_per_epoch"] = args.steps * data_args["batch_size"]
    if args.resolution:
        data_args["resolution"] = args.resolution
    if args.load_size:
        data_args["load_size"] = args.load_size
    model_args.update(parse_overrides(args.model))
    data_args.update(parse_overrides(args.data))
    # One epoch of ``steps`` batches: the learning-rate schedule is held constant (the preset's 3+1
    # epochs decay only in the last quarter, which a shortened run would otherwise cut differently).
    model_args.update(lr_constant_epochs=1, lr_decay_epochs=0)
    if args.flattening:
        photo_image = load_image(args.photo, 3) if files else example_photo(args.photo)
        style_image = load_image(args.style, 3) if files else example_style(args.style)
        print(json.dumps(flattening_shortcut(photo_image, style_image, data_args["load_size"], data_args["resolution"])))
        return
    pl.seed_everything(args.seed, verbose=False)
    data = SingleImagePairDataModule(**data_args)
    model = StyleTransfer(resolution=data_args["resolution"], channels=3, **model_args)
    trainer = pl.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
    )
    start = time.perf_counter()
    trainer.fit(model, data)
    seconds = time.perf_counter() - start
    short = data.load_size
    photo_image = load_image(args.photo, 3) if files else example_photo(args.photo)
    style_image = load_image(args.style, 3) if files else example_style(args.style)
    photo, style = whole(photo_image, short), whole(style_image, data.style_load_size)
    numbers, out, identity = measure(model, photo, style)
    record = {
        "name": args.name, "photo": Path(args.photo).stem, "style": Path(args.style).stem, "steps": args.steps, "seed": args.seed,
        "resolution": data_args["resolution"], "load_size": short, "model_overrides": parse_overrides(args.model),
        "data_overrides": parse_overrides(args.data), "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
        **{k: round(v, 4) for k, v in numbers.items()},
    }
    stem = harness.RESULTS / f"style_collapse_{args.name}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    side = lambda t: TF.resize(t, [short, short], antialias=True)  # noqa: E731
    save_image_file(torch.cat([side(photo), side(out), side(style), side(identity)], dim=3)[0], Path(f"{stem}.png"))
    print(json.dumps(record))


if __name__ == "__main__":
    main()
