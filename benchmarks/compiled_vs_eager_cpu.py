"""Eager vs compiled (``--model.init_args.compile true``) training step time on CPU for VanillaGAN,
StyleGAN and StyleTransfer at small settings, one torch thread.

    python benchmarks/compiled_vs_eager_cpu.py                          # inductor, small networks
    python benchmarks/compiled_vs_eager_cpu.py --tiny --backend aot_eager   # smoke run (the tests' tiny networks)

Each (algorithm, mode) runs in its own process on the bundled shapes data under Lightning's Trainer.
The first batches are warm-up (compiling, for the compiled runs; their time is reported as
``warmup_seconds``); the timed batches follow. StyleGAN's timed window is schedule steps 17..32, one
whole lazy cycle (R1 at 32, path length every 4th), so its mean is the amortised step time; its
warm-up (steps 11..16) has run every phase once, R1 and path length included. The R1, path-length
and WGAN-GP phases run eagerly in the compiled runs too (no double backward in torch.compile).
Writes benchmarks/results/compiled_vs_eager_cpu.json (or --out). Sizes: see SETTINGS. A run that
fails is recorded with its error (StyleTransfer compiled with inductor failed here, torch 2.14.1: a
stride assertion in the compiled backward of replication_pad2d, ``nets.cut_blocks.BlurUpsample``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import harness
from harness import REPO, RESULTS

ALGORITHMS = ("VanillaGAN", "StyleGAN", "StyleTransfer")
STYLEGAN_FIRST_STEP = 11  # warm-up steps 11..16 (path length at 12, R1 + path length at 16); timed 17..32
# (model arguments, data arguments, warm-up batches, timed batches) per algorithm, small and tiny.
SETTINGS = {
    "small": {
        "VanillaGAN": (dict(resolution=32, generator=dict(z_dim=64, width=32), discriminator=dict(width=32)), dict(batch_size=32), 5, 20),
        "StyleGAN": (dict(resolution=32, generator=dict(channel_base=2048, channel_max=256), discriminator=dict(channel_base=2048, channel_max=256), augment_p=0.2), dict(batch_size=4), 6, 16),
        "StyleTransfer": (dict(resolution=64, generator=dict(width=16, blocks=3), style_network=dict(width=16), num_patches=64), dict(batch_size=1), 3, 12),
    },
    "tiny": {
        "VanillaGAN": (dict(resolution=32, generator=dict(z_dim=8, width=8), discriminator=dict(width=8)), dict(batch_size=8), 2, 3),
        "StyleGAN": (dict(resolution=32, generator=dict(channel_base=256, channel_max=16, z_dim=16, w_dim=16, mapping_layers=2), discriminator=dict(channel_base=256, channel_max=16), augment_p=0.2), dict(batch_size=4), 6, 16),
        "StyleTransfer": (dict(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16), dict(batch_size=2), 2, 3),
    },
}  # fmt: skip


def child(algorithm: str, size: str, compile: bool, backend: str) -> dict:
    """Trains one model in this process and returns its per-batch times."""
    from lightning.pytorch import Trainer, seed_everything

    from gan_lightning.data import ShapesDataModule, ShapesStyleDataModule
    from gan_lightning.training.models.stylegan import StyleGAN
    from gan_lightning.training.models.style_transfer import StyleTransfer
    from gan_lightning.training.models.vanilla_gan import VanillaGAN
    from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig

    model_args, data_args, warmup, timed = SETTINGS[size][algorithm]
    batches = warmup + timed
    seed_everything(0)
    common = dict(fid_features="shapes", compile=compile, compile_backend=backend)
    if algorithm == "VanillaGAN":
        model = VanillaGAN(**model_args, **common)
    elif algorithm == "StyleGAN":
        args = dict(model_args, generator=GeneratorConfig(**model_args["generator"]), discriminator=DiscriminatorConfig(**model_args["discriminator"]))
        model = StyleGAN(**args, **common)
        model.batches_done.fill_(STYLEGAN_FIRST_STEP)
    else:
        model = StyleTransfer(**model_args, **common)
    resolution = model_args["resolution"]
    if algorithm == "StyleTransfer":
        data = ShapesStyleDataModule(resolution=resolution, num_content=batches * data_args["batch_size"], num_style=8, num_val=2, num_workers=0, **data_args)
    else:
        data = ShapesDataModule(resolution=resolution, num_train=batches * data_args["batch_size"], num_val=8, num_workers=0, **data_args)
    timer = harness.BatchTimer()
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, limit_train_batches=batches, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(model, data)
    times = timer.seconds
    if len(times) != batches:
        raise SystemExit(f"error: {algorithm} ran {len(times)} batches, expected {batches}")
    measured = times[warmup:]
    return {
        "warmup_batches": warmup, "timed_batches": timed, "warmup_seconds": round(sum(times[:warmup]), 3),
        "mean_seconds_per_batch": round(statistics.mean(measured), 4), "median_seconds_per_batch": round(statistics.median(measured), 4),
        "seconds_by_batch": [round(t, 4) for t in times],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny networks, few batches (a smoke run)")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend of the compiled runs")
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument("--out", type=Path, default=RESULTS / "compiled_vs_eager_cpu.json")
    parser.add_argument("--child", nargs=2, metavar=("ALGORITHM", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = "tiny" if args.tiny else "small"
    if args.child:
        import torch

        torch.set_num_threads(1)
        algorithm, mode = args.child
        print(json.dumps(child(algorithm, size, mode == "compiled", args.backend)))
        return

    import torch

    env = harness.child_environment(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result: dict = {
        "settings": size, "backend": args.backend, "torch": torch.__version__, "torch_threads": 1,
        "device": f"CPU ({harness.cpu_name()})", "cpu_count": os.cpu_count(),
    }  # fmt: skip
    for algorithm in args.algorithms:
        model_args, data_args, _, _ = SETTINGS[size][algorithm]
        entry: dict = {"model": model_args, "data": data_args}
        for mode in ("eager", "compiled"):
            command = [sys.executable, __file__, "--child", algorithm, mode, "--backend", args.backend] + (["--tiny"] if args.tiny else [])
            start = time.perf_counter()
            done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:  # recorded, and the other runs go on
                sys.stderr.write(done.stderr[-4000:])
                errors = [line for line in done.stderr.splitlines() if "Error" in line]
                entry[mode] = {"failed": f"exit {done.returncode}", "error": errors[-1] if errors else done.stderr[-500:]}
                print(f"{algorithm} {mode}: FAILED (exit {done.returncode})", file=sys.stderr, flush=True)
                continue
            entry[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            entry[mode]["process_seconds"] = round(time.perf_counter() - start, 1)
            print(f"{algorithm} {mode}: {entry[mode]['mean_seconds_per_batch']} s/batch (warm-up {entry[mode]['warmup_seconds']} s)", file=sys.stderr, flush=True)
        if "failed" not in entry["eager"] and "failed" not in entry["compiled"]:
            entry["compiled_over_eager_mean"] = round(entry["compiled"]["mean_seconds_per_batch"] / entry["eager"]["mean_seconds_per_batch"], 3)
        result[algorithm] = entry
    result["load_average_1min_at_end"] = harness.load_average()
    harness.print_json(result, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
