"""Images per second delivered to the training loop (on the device, float in [-1, 1]): the image
folder (PIL decode + resize + crop per read) vs the prepared dataset (`prepare`, uint8 chunks,
converted after the copy to the device), at 256 and 1024 px, for several worker counts.

    python benchmarks/data_throughput.py                                  # 256 and 1024 px, workers 2,4,8
    python benchmarks/data_throughput.py --workers 2                      # a 2-core machine
    python benchmarks/data_throughput.py --resolutions 64 --images 64 --batches 8 --workers 0   # quick check

On a CPU "device" the prepared path's cost is mostly the uint8 -> float conversion in the main
process, and most of that is page faults on each batch's fresh float tensor (400 MB at 1024 px,
batch 32). PyTorch's allocator takes 2 MB pages for large tensors with THP_MEM_ALLOC_ENABLE=1 (both
paths, workers included); the report records whether it was set:

    THP_MEM_ALLOC_ENABLE=1 python benchmarks/data_throughput.py --workers 2 --out benchmarks/results/data_throughput_cpu_thp.json

Source images are generated PNGs 1.25x the resolution (so the folder path resizes, as with real
photos), smooth enough to compress like photos. Results go to benchmarks/results/data_throughput_<device>.json,
with what one GPU of StyleGAN2 consumes according to NVlabs' published figures (below).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import time
from pathlib import Path

import harness
import numpy as np
import torch
from harness import RESULTS
from PIL import Image

from gan_lightning.data import ImageFolderDataModule, StreamingDataModule
from gan_lightning.data.prepared import prepare_dataset
from gan_lightning.data.sources import open_source

# NVlabs/stylegan2-ada-pytorch README, "Expected training time" (commit d72cc7d), 1 Tesla V100,
# --cfg=auto: sec/kimg 21.6-24.2 at 256x256 and 154.3-161.6 at 1024x1024. The fastest end of each
# range gives the highest rate a 1-GPU training step consumes real images at.
NVLABS_1GPU_SEC_PER_KIMG = {256: 21.6, 1024: 154.3}
NVLABS_SOURCE = "github.com/NVlabs/stylegan2-ada-pytorch README.md, 'Expected training time' table (1x Tesla V100)"


def make_sources(root: Path, count: int, resolution: int) -> None:
    """``count`` PNGs, 1.25x ``resolution``, written by all cores (PNG compression is slow at 1280 px)."""
    marker = root / f".complete-{count}"
    if marker.exists():
        return
    root.mkdir(parents=True, exist_ok=True)
    # fork: the children run numpy and PIL only (no torch op, so no OpenMP pool to inherit)
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        pool.starmap(make_source, [(root / f"img{i:06d}.png", resolution, i) for i in range(count)])
    marker.write_text("")


def make_source(path: Path, resolution: int, index: int) -> None:
    side = resolution * 5 // 4
    rng = np.random.default_rng([0, index])
    grid = np.linspace(0, 1, side, dtype=np.float32)
    a, b, c = rng.uniform(1, 6, 3)
    image = np.stack([np.sin(a * grid[:, None] * 6 + b * grid[None, :] * 6 + k * c) for k in range(3)], -1)
    image = (image * 100 + 128 + rng.normal(0, 4, image.shape)).clip(0, 255).astype(np.uint8)
    Image.fromarray(image).save(path)


def delivered_rate(module, device: torch.device, batches: int) -> float:
    """Images/s over ``batches`` batches after the first (worker start-up), moved to ``device`` and
    converted as the Trainer does (the DataModule's on_after_batch_transfer)."""
    module.setup("fit")
    loader = module.train_dataloader()
    done, began, images = 0, None, 0
    while done <= batches:
        for batch in loader:
            real, labels = batch
            real = real.to(device, non_blocking=True)
            real, labels = module.on_after_batch_transfer((real, labels), 0)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if began is None:
                began = time.perf_counter()
            else:
                images += real.shape[0]
            done += 1
            if done > batches:
                break
    return images / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="256,1024")
    parser.add_argument("--images", type=int, default=512, help="source images per resolution")
    parser.add_argument("--workers", default="2,4,8", help="DataLoader worker counts to measure")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=40, help="batches timed per measurement")
    parser.add_argument("--root", default="/tmp/gan_lightning_throughput")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = []
    for resolution in [int(r) for r in args.resolutions.split(",")]:
        folder = Path(args.root) / f"png{resolution}_{args.images}"
        prepared = Path(args.root) / f"prepared{resolution}_{args.images}"
        print(f"{resolution} px: generating {args.images} PNGs (once)")
        make_sources(folder, args.images, resolution)
        if not (prepared / "manifest.json").exists():
            prepare_dataset(open_source(str(folder), None), str(folder), str(prepared), resolution, 3, "center-crop", None, os.cpu_count() or 1)
        nvlabs = 1000 / NVLABS_1GPU_SEC_PER_KIMG[resolution] if resolution in NVLABS_1GPU_SEC_PER_KIMG else None
        for workers in [int(w) for w in args.workers.split(",")]:
            # Workers kept between epochs, as training keeps them (the DataModules' default): with 512
            # images an epoch is 16 batches, and starting new workers at each one took a large share
            # of the prepared path's time (interleaved runs), a cost a real dataset's long epochs do
            # not have.
            common = {"batch_size": args.batch_size, "num_workers": workers, "persistent_workers": True}
            folder_rate = delivered_rate(ImageFolderDataModule(root=str(folder), resolution=resolution, val_fraction=0.0, **common), device, args.batches)
            gc.collect()  # the finished loader's workers exit before the next measurement
            prepared_rate = delivered_rate(StreamingDataModule(input_dir=str(prepared), **common), device, args.batches)
            gc.collect()
            row = {
                "resolution": resolution, "workers": workers, "batch_size": args.batch_size,
                "image_folder_img_per_s": round(folder_rate, 1), "prepared_img_per_s": round(prepared_rate, 1),
                "prepared_over_folder": round(prepared_rate / folder_rate, 2),
                "nvlabs_1gpu_v100_consumes_img_per_s": round(nvlabs, 1) if nvlabs else None,
            }  # fmt: skip
            print(json.dumps(row))
            results.append(row)
    report = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "THP_MEM_ALLOC_ENABLE": os.environ.get("THP_MEM_ALLOC_ENABLE"),
        "source_images": "generated PNGs, 1.25x the resolution, resized and centre cropped",
        "nvlabs_rate_source": NVLABS_SOURCE,
        "rows": results,
    }
    out = harness.write_json(args.out or RESULTS / f"data_throughput_{device.type}.json", report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
