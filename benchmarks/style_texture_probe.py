"""Which offline (random) features and which training carry a style's texture? A probe on
scikit-image's shipped photo and the example style ``grass_ink``, offline.

    python benchmarks/style_texture_probe.py gatys --size 128 --steps 300 --out benchmarks/results/style_texture_gatys
    python benchmarks/style_texture_probe.py generator --size 128 --steps 1000 --out benchmarks/results/style_texture_generator

``gatys`` (Gatys et al. 2016: Adam on the image itself) runs, for each random feature network below,
a pure texture synthesis from noise (no content term: does the network's Gram statistics describe
strokes at all?) and a stylization of the photo (content term on the second tapped layer). ``generator``
trains the fast-neural-style ResNet generator (Johnson et al. 2016) on crops of three shipped photos
with the same losses and applies it to two photos at 256 px. Both write a PNG per run (content |
result | style) and a JSON with the Gram distance to the style before/after and the blurred-grey
correlation with the photo (gan_lightning.evaluation.texture). Look at the PNGs: the numbers alone
do not tell strokes from coloured blobs.

Losses here are balanced per layer: ||G_l(y) - G_l(s)||^2 / ||G_l(s)||^2 (mean over layers), and the
content term ||phi(y) - phi(x)||^2 / ||phi(x)||^2, so the weights do not depend on the feature scale:
the product's losses with ``relative=True`` (``perceptual_normalisation: relative`` in the presets).

Feature networks (fixed seeded random filters, zero-mean, He-scaled, ReLU):
- ``pyramid``: ``FeatureNetwork("random", width=32)``, the presets' default (taps relu1_1..relu4_1).
- ``deep_wide``: ``FeatureNetwork("random_wide", width=32)``: one 3x3 conv per scale, 64/128/256/256
  channels, average pooling between scales (first probed as a separate copy here; the same filters,
  max abs difference 0.0).
- ``multi_size``: one layer of 64 filters of each size 3, 5, 7, 11, 15, 23 px (after Ustyuzhaninov
  et al. 2017, who used one layer of many random filters of several sizes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import harness
import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from gan_lightning.common.images import pil_to_tensor, save_image_file
from gan_lightning.core.losses import feature_content_loss, gram_matrix, gram_style_loss
from gan_lightning.core.nets.perceptual import FeatureNetwork
from gan_lightning.core.nets.resnet import ResnetGenerator
from gan_lightning.data.example_photos import example_photo, example_style
from gan_lightning.evaluation.texture import blurred_grey_correlation, gram_distance


def random_conv(in_channels: int, out_channels: int, kernel: int, generator: torch.Generator) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, padding_mode="reflect")
    weight = torch.randn(conv.weight.shape, generator=generator)
    conv.weight.data.copy_((weight - weight.mean(dim=(1, 2, 3), keepdim=True)) * (2.0 / (in_channels * kernel * kernel)) ** 0.5)
    conv.bias.data.zero_()
    return conv


class MultiSize(nn.Module):
    def __init__(self, sizes: tuple[int, ...] = (3, 5, 7, 11, 15, 23), filters: int = 64, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList(random_conv(3, filters, k, generator) for k in sizes)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        return [torch.relu(conv(x)) for conv in self.convs]


NETWORKS = {
    "pyramid": (lambda: FeatureNetwork("random", width=32), 1),  # (builder, content feature index)
    "deep_wide": (lambda: FeatureNetwork("random_wide", width=32), 1),
    "multi_size": (lambda: MultiSize(), 0),
}


def square(image, size: int) -> Tensor:
    return TF.center_crop(TF.resize(pil_to_tensor(image)[None], size, antialias=True), size)


def measure(content: Tensor, result: Tensor, style: Tensor) -> dict:
    return {
        "gram_distance_content": round(gram_distance(content, style), 4),
        "gram_distance_result": round(gram_distance(result, style), 4),
        "blurred_grey_correlation": round(blurred_grey_correlation(result, content), 4),
    }


def gatys(args: argparse.Namespace) -> list[dict]:
    content = square(example_photo(args.photo), args.size)
    style = TF.resize(pil_to_tensor(example_style("grass_ink"))[None], args.style_size, antialias=True)
    records = []
    for name in args.networks.split(","):
        build, content_index = NETWORKS[name]
        network = build()
        with torch.no_grad():
            targets = [gram_matrix(f) for f in network(style)]
            content_features = network(content)[content_index]
        for run, lambda_content in (("synthesis", 0.0), ("stylize", args.lambda_content)):
            torch.manual_seed(0)
            image = (content.clone() if lambda_content else torch.rand_like(content) * 0.2 - 0.1).requires_grad_(True)
            optimizer = torch.optim.Adam([image], lr=args.lr)
            start = time.perf_counter()
            for _ in range(args.steps):
                features = network(image)
                loss = gram_style_loss(features, targets, relative=True)
                if lambda_content:
                    loss = loss + lambda_content * feature_content_loss(features[content_index], content_features, relative=True)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    image.clamp_(-1, 1)
            result = image.detach()
            record = {"network": name, "run": run, "size": args.size, "steps": args.steps, "final_loss": round(float(loss.detach()), 5), **measure(content, result, style)}
            print(record, f"({time.perf_counter() - start:.0f} s, load-dependent)", flush=True)
            records.append(record)
            save_image_file(torch.cat([content, result, square(example_style("grass_ink"), args.size)], 3)[0], Path(f"{args.out}_{name}_{run}.png"))
    return records


def random_crops(image: Tensor, count: int, size: int) -> Tensor:
    tops = torch.randint(0, image.shape[2] - size + 1, (count,)).tolist()
    lefts = torch.randint(0, image.shape[3] - size + 1, (count,)).tolist()
    return torch.cat([image[..., t : t + size, left : left + size] for t, left in zip(tops, lefts)])


def generator(args: argparse.Namespace) -> list[dict]:
    torch.manual_seed(0)
    build, content_index = NETWORKS[args.networks.split(",")[0]]
    network = build()
    photos = [TF.resize(pil_to_tensor(example_photo(n))[None], args.load_size, antialias=True) for n in ("astronaut", "chelsea", "rocket")]
    style = TF.resize(pil_to_tensor(example_style("grass_ink"))[None], args.style_size, antialias=True)
    with torch.no_grad():
        targets = [gram_matrix(f).mean(0, keepdim=True) for f in network(random_crops(style, 8, args.size))]
    model = ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks, antialias=args.antialias)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.5, 0.999))
    start = time.perf_counter()
    for step in range(args.steps):
        batch = torch.cat([random_crops(photos[i], 1, args.size) for i in torch.randint(0, len(photos), (args.batch,)).tolist()])
        features = network(model(batch))
        with torch.no_grad():
            content_features = network(batch)[content_index]
        style_loss = gram_style_loss(features, targets, relative=True)
        content_loss = feature_content_loss(features[content_index], content_features, relative=True)
        optimizer.zero_grad()
        (style_loss + args.lambda_content * content_loss).backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step}: style {float(style_loss.detach()):.4f} content {float(content_loss.detach()):.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    records, rows = [], []
    model.eval()
    with torch.no_grad():
        for name in ("chelsea", "coffee"):  # coffee: never seen in training
            photo = square(example_photo(name), 256)
            result = model(photo)
            record = {"photo": name, "network": args.networks.split(",")[0], "steps": args.steps, "crop": args.size, "ngf": args.ngf,
                      "n_blocks": args.n_blocks, "antialias": args.antialias, **measure(photo, result, style)}  # fmt: skip
            print(record, flush=True)
            records.append(record)
            rows.append(torch.cat([photo, result, square(example_style("grass_ink"), 256)], 3))
    save_image_file(torch.cat(rows, 2)[0], Path(f"{args.out}.png"))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("gatys", "generator"))
    parser.add_argument("--networks", default=",".join(NETWORKS), help=f"comma-separated, of {', '.join(NETWORKS)} (generator: the first)")
    parser.add_argument("--photo", default="chelsea", help="gatys: the scikit-image photo")
    parser.add_argument("--size", type=int, default=128, help="gatys: image side; generator: crop side")
    parser.add_argument("--style-size", type=int, default=256, help="short side of the style image (the stroke scale)")
    parser.add_argument("--load-size", type=int, default=256, help="generator: short side of the photos before cropping")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=None, help="default: 0.02 (gatys), 0.001 (generator)")
    parser.add_argument("--lambda-content", type=float, default=0.1)
    parser.add_argument("--ngf", type=int, default=16)
    parser.add_argument("--n-blocks", type=int, default=3)
    parser.add_argument("--antialias", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="prefix of the PNGs; the records go to PREFIX.json")
    args = parser.parse_args()
    args.lr = args.lr if args.lr is not None else (0.02 if args.mode == "gatys" else 0.001)
    torch.set_num_threads(args.threads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    records = gatys(args) if args.mode == "gatys" else generator(args)
    harness.write_json(f"{args.out}.json", records, indent=1)


if __name__ == "__main__":
    main()
