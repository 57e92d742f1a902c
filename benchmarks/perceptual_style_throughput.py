"""Perceptual style-transfer throughput: training iterations/s of the fast neural style and AdaIN
presets' networks, and the time to stylize one image, on the device given.

    python benchmarks/perceptual_style_throughput.py [--device cpu|cuda] [--resolution 128] [--batch 4] [--steps 10]

Training runs each LightningModule under a Trainer on pre-made random (content, style) batches held
in memory (data loading is not measured); one iteration = one batch. The model settings are read
from the preset files, so they are what `fit --config` trains. Stylize times one whole-image pass at
``--stylize-size`` pixels a side. Prints one JSON line per preset; write it down with the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics

import harness
import torch
import yaml
from harness import REPO
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.training.models.arbitrary_style import ArbitraryStyleTransfer
from gan_lightning.training.models.style_transfer import StyleTransfer

PRESETS = {"fast_neural": (StyleTransfer, "style_transfer_fast_neural.yaml"), "adain": (ArbitraryStyleTransfer, "style_transfer_adain.yaml")}


def preset_model(name: str, resolution: int):
    cls, config = PRESETS[name]
    init_args = dict(yaml.safe_load((REPO / "configs" / config).read_text())["model"]["init_args"])
    init_args.pop("fid_features", None)  # no validation here
    return cls(resolution=resolution, fid_features="shapes", **init_args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolution", type=int, default=128, help="training crop side (the presets' 128)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (the presets' 4)")
    parser.add_argument("--steps", type=int, default=10, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--stylize-size", type=int, default=1024)
    parser.add_argument("--preset", choices=sorted(PRESETS), action="append", help="default: both")
    args = parser.parse_args()
    for name in args.preset or sorted(PRESETS):
        torch.manual_seed(0)
        model = preset_model(name, args.resolution)
        n = (args.steps + args.warmup) * args.batch
        images = torch.rand(2, n, 3, args.resolution, args.resolution) * 2 - 1
        loader = DataLoader(TensorDataset(images[0], images[1]), batch_size=args.batch)
        timer = harness.BatchTimer(args.warmup)
        accelerator = "gpu" if args.device.startswith("cuda") else "cpu"
        Trainer(accelerator=accelerator, devices=1, max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, limit_val_batches=0, callbacks=[timer]).fit(model, loader)  # fmt: skip
        model = model.to(args.device)
        photo = torch.rand(1, 3, args.stylize_size, args.stylize_size, device=args.device) * 2 - 1
        style = torch.rand(1, 3, 256, 256, device=args.device) * 2 - 1
        run = (lambda: model.stylize(photo)) if name == "fast_neural" else (lambda: model.stylize(photo, style))
        stylize_s = harness.median_seconds(run, warmup=1, repeats=1, sync=torch.device(args.device))
        median = statistics.median(timer.seconds)
        print(json.dumps({"preset": name, "device": args.device, "resolution": args.resolution, "batch": args.batch,
                          "train_it_per_s": round(1 / median, 3), "stylize_s": round(stylize_s, 3), "stylize_size": args.stylize_size,
                          "threads": torch.get_num_threads()}))  # fmt: skip


if __name__ == "__main__":
    main()
