"""StyleGAN training throughput (images/s) and peak memory, with every phase of the training step.

    python benchmarks/stylegan_throughput.py                      # 64 and 256 px on this machine's device
    python benchmarks/stylegan_throughput.py --resolutions 256 --batch-size 32 --precision bf16-mixed
    python benchmarks/stylegan_throughput.py --resolutions 64 --compile        # compiled step (inductor)

Each resolution runs in its own process (clean peak memory). The networks are config F (the
GeneratorConfig / DiscriminatorConfig defaults), trained by the real LightningModule on random
images, through Lightning's Trainer. Batches are timed one by one, starting at batch 14 of
the lazy schedule, so the measured window holds plain batches, a path-length batch (every 4) and an
R1 + path-length batch (every 16); the figure reported is the amortised cost of the lazy
regularization schedule: t_plain + t_path_length / 4 + t_r1 / 16 per batch. ADA runs with p = 0.2.
Results go to benchmarks/results/stylegan_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import harness
from harness import RESULTS

FIRST_STEP = 14  # batches 14..20: plain, plain, R1 + PL (16), plain, plain, plain, PL (20)


def measure(resolution: int, batch_size: int, precision: str, accelerator: str, compile: bool = False, batches: int = 7, tf32: bool | None = None) -> dict:
    import torch
    from lightning.pytorch import Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lightning.training.models.stylegan import StyleGAN

    torch.manual_seed(0)
    model = StyleGAN(resolution=resolution, channels=3, augment_p=0.2, fid_features="shapes", compile=compile, tf32=tf32)
    first = FIRST_STEP - (batches - 7)  # extra batches (compile warm-up) come before the measured window
    model.batches_done.fill_(first)
    images = torch.randn(batch_size * (batches + 1), 3, resolution, resolution).clamp(-1, 1)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch_size, drop_last=True)
    times: dict[int, float] = {}

    class Timer(harness.BatchTimer):
        """Times by schedule step (the step a batch ran at)."""

        def timed(self, trainer, pl_module, batch, batch_idx, seconds):
            times[int(pl_module.batches_done) - 1] = seconds

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer = Trainer(
        accelerator=accelerator, devices=1, precision=precision, max_epochs=1, limit_train_batches=batches, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[Timer()],
    )  # fmt: skip
    trainer.fit(model, loader)
    assert sorted(times) == list(range(first, FIRST_STEP + 7)), sorted(times)
    plain = statistics.mean(times[s] for s in (15, 17, 18, 19))
    # On a shared machine a single batch can come out faster than the plain mean: clamp at 0.
    path_length = max(times[20] - plain, 0.0)
    r1 = max(times[16] - max(times[20], plain), 0.0)
    amortised = plain + path_length / 4 + r1 / 16
    device = torch.cuda.get_device_name() if accelerator == "gpu" else f"CPU ({harness.cpu_name()})"
    result = {
        "resolution": resolution,
        "batch_size": batch_size,
        "precision": precision,
        "compile": compile,
        "tf32": tf32,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "seconds_per_batch": {"plain": round(plain, 4), "path_length_extra": round(path_length, 4), "r1_extra": round(r1, 4)},
        "images_per_second": round(batch_size / amortised, 3),
        "images_per_second_plain_batches": round(batch_size / plain, 3),
        "raw_seconds_by_schedule_step": {str(k): round(v, 3) for k, v in sorted(times.items())},
        "load_average_1min_at_end": harness.load_average(),
        "cpu_count": os.cpu_count(),
    }
    if accelerator == "gpu":
        result["peak_gpu_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    result["peak_host_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 4 on CPU, 32 on GPU")
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--accelerator", choices=("cpu", "gpu", "auto"), default="auto")
    parser.add_argument("--compile", action="store_true", help="with --model.init_args.compile true; 3 more warm-up batches (step 11 on)")
    parser.add_argument("--tf32", choices=("on", "off"), default=None, help="TF32 in convolutions and matmuls (GPU); default: PyTorch's")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # child process: one resolution
    args = parser.parse_args()

    import torch

    accelerator = args.accelerator if args.accelerator != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    batch_size = args.batch_size or (32 if accelerator == "gpu" else 4)
    if args.single:
        print(json.dumps(measure(args.resolutions[0], batch_size, args.precision, accelerator, args.compile, 10 if args.compile else 7, None if args.tf32 is None else args.tf32 == "on")))
        return
    results = []
    for resolution in args.resolutions:
        cmd = [sys.executable, __file__, "--single", "--resolutions", str(resolution), "--batch-size", str(batch_size),
               "--precision", args.precision, "--accelerator", accelerator] + (["--compile"] if args.compile else []) + (["--tf32", args.tf32] if args.tf32 else [])  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{resolution} px failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    out = harness.write_json(args.out or RESULTS / f"stylegan_throughput_{accelerator}_{args.precision}{'_compiled' if args.compile else ''}{'_tf32_' + args.tf32 if args.tf32 else ''}.json", results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
