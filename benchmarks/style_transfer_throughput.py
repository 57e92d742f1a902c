"""StyleTransfer (CUT) throughput: training iterations/s and peak memory at 256 px crops, batch 1,
and the time to stylize one 1024x1024 image, with the paper's network sizes.

    python benchmarks/style_transfer_throughput.py [--device cpu|cuda] [--steps 10] [--preset cut|fastcut] [--compile]

Training runs our LightningModule under a Trainer on pre-made random (content, style) batches held
in memory, so data loading is not measured; one iteration = one batch = the style, generator and
content steps. Peak memory is the process's peak resident set size on CPU (each part runs in its own
process, so the parts do not see each other's peaks) and ``torch.cuda.max_memory_allocated`` on GPU.
Stylize times one whole-image pass (the default tile size is 1024) and a 512 px tiled pass.
Results are appended to benchmarks/results/style_transfer_throughput.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import harness
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.common.tiling import apply_tiled
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE
from gan_lightning.training.models.style_transfer import StyleTransfer

RESULTS = harness.RESULTS / "style_transfer_throughput.md"

PRESETS = {
    "cut": dict(nce_identity=True, flip_equivariance=False, lambda_nce=1.0),
    "fastcut": dict(nce_identity=False, flip_equivariance=True, lambda_nce=10.0),
}


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def paper_model(preset: str, compile: bool = False) -> StyleTransfer:
    # The paper's sizes: ngf 64, 9 residual blocks, 3-layer PatchGAN, anti-aliasing, 256 patches.
    return StyleTransfer(resolution=256, channels=3, generator=dict(width=64, blocks=9), style_network=dict(width=64, layers=3), antialias=True, num_patches=256, fid_features="shapes", compile=compile, **PRESETS[preset])


def train_part(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(0)
    num = args.warmup + args.steps
    content, style = torch.rand(num, 3, 256, 256) * 2 - 1, torch.rand(num, 3, 256, 256) * 2 - 1
    loader = DataLoader(TensorDataset(content, style), batch_size=1, shuffle=False)
    timer = harness.BatchTimer(args.warmup)
    trainer = Trainer(
        accelerator=device.type, devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[timer],
    )  # fmt: skip
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer.fit(paper_model(args.preset, args.compile), train_dataloaders=loader)
    median = statistics.median(timer.seconds)
    return {"it_per_s": 1.0 / median, "s_per_it": median, "peak_mib": peak_memory_mib(device)}


def stylize_part(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    generator = paper_model(args.preset).generator.to(device).eval()
    image = torch.rand(1, 3, 1024, 1024) * 2 - 1
    result = {}
    for name, tile in (("whole", 1024), ("tiled512", 512)):
        apply_tiled(generator, image[:, :, :256, :256], tile_size=tile, multiple=GENERATOR_STRIDE)  # warm-up
        times = []
        for _ in range(args.stylize_repeats):
            harness.synchronize(device)
            start = time.perf_counter()
            apply_tiled(generator, image, tile_size=tile, multiple=GENERATOR_STRIDE)
            harness.synchronize(device)
            times.append(time.perf_counter() - start)
        result[f"stylize_{name}_s"] = statistics.median(times)
    result["peak_mib"] = peak_memory_mib(device)
    return result


def run_part(part: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--part", part, "--device", args.device, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--preset", args.preset, "--stylize-repeats", str(args.stylize_repeats)] + (["--compile"] if args.compile else [])  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=10, help="timed training iterations")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cut")
    parser.add_argument("--stylize-repeats", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="train with --model.init_args.compile true (warm-up batches include compiling)")
    parser.add_argument("--part", choices=("train", "stylize"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "train":
        print(json.dumps(train_part(args)))
        return
    if args.part == "stylize":
        print(json.dumps(stylize_part(args)))
        return

    train, stylize = run_part("train", args), run_part("stylize", args)
    device = torch.device(args.device)
    name = harness.device_name(device)
    print(f"training: {train['it_per_s']:.3f} it/s ({train['s_per_it']:.2f} s/it), peak memory {train['peak_mib']:.0f} MiB")
    print(f"stylize 1024x1024: whole {stylize['stylize_whole_s']:.2f} s, 512 px tiles {stylize['stylize_tiled512_s']:.2f} s, peak memory {stylize['peak_mib']:.0f} MiB")
    line = (
        f"| {harness.today()} | {name} | torch {torch.__version__} | {args.preset}{', compiled' if args.compile else ''}, 256 px, batch 1, "
        f"{args.steps} timed it | {train['it_per_s']:.3f} | {train['peak_mib']:.0f} | {stylize['stylize_whole_s']:.2f} | "
        f"{stylize['stylize_tiled512_s']:.2f} | {stylize['peak_mib']:.0f} |"
    )
    harness.append_rows(
        RESULTS,
        "StyleTransfer (CUT) throughput, paper sizes (ngf 64, 9 blocks, 256 patches)",
        "Measured by `python benchmarks/style_transfer_throughput.py`. Training: median iteration time of our\n"
        "LightningModule under a Trainer (data in memory). Memory: peak RSS of the process on CPU (baseline\n"
        "Python + torch included), max allocated on GPU. Stylize: one 1024x1024 image, whole or in 512 px tiles.",
        ["date", "device", "software", "setting", "train it/s", "train peak MiB", "stylize 1024² whole s", "stylize 1024² tiled s", "stylize peak MiB"],
        [line],
    )


if __name__ == "__main__":
    main()
