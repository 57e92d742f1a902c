"""StyleGAN training throughput (images/s) and peak memory, with every phase of the training step.

    python benchmarks/stylegan_throughput.py                      # 64 and 256 px on this machine's device
    python benchmarks/stylegan_throughput.py --resolutions 256 --batch-size 32 --precision bf16-mixed
    python benchmarks/stylegan_throughput.py --resolutions 64 --compile        # compiled step (inductor)
    OMP_NUM_THREADS=1 python benchmarks/stylegan_throughput.py --stylegan3 --resolutions 64 --rounds 3

--stylegan3 compares the cost per kimg of StyleGAN2, StyleGAN3-T and StyleGAN3-R in one process, the
three interleaved round by round (the order rotating), at one narrow channel setting (32 channels in
every G layer, 64 in D; R with twice G's channels, as NVlabs' stylegan3-r), each with its preset's
rules (StyleGAN2: path length regularization and style mixing; R: the blur of D's input).

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


def narrow_model(network: str, resolution: int):
    """The --stylegan3 comparison's model: ``network`` is stylegan2, stylegan3-t or stylegan3-r, at the
    same narrow widths (G 32 channels, R 64 as NVlabs doubles its cbase/cmax; D 64), ADA p = 0.2."""
    from gan_lightning.core.nets.settings import StyleGAN3Config
    from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig
    from gan_lightning.training.models.stylegan import StyleGAN

    common = dict(resolution=resolution, channels=3, augment_p=0.2, fid_features="shapes", discriminator=DiscriminatorConfig(channel_base=2048, channel_max=64))
    if network == "stylegan2":
        return StyleGAN(generator=GeneratorConfig(z_dim=64, w_dim=64, channel_base=2048, channel_max=32), **common)
    sg3 = dict(z_dim=64, w_dim=64, channel_base=2048, channel_max=32)
    if network == "stylegan3-r":
        sg3 = dict(sg3, channel_base=4096, channel_max=64, conv_kernel=1, use_radial_filters=True)
        common = dict(common, blur_init_sigma=10.0)
    return StyleGAN(stylegan3=StyleGAN3Config(**sg3), pl_weight=0.0, style_mixing_prob=0.0, **common)


def measure(resolution: int, batch_size: int, precision: str, accelerator: str, compile: bool = False, batches: int = 7, tf32: bool | None = None, network: str | None = None) -> dict:
    """``network`` None: config F; otherwise one of narrow_model's networks."""
    import torch
    from lightning.pytorch import Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lightning.training.models.stylegan import StyleGAN

    torch.manual_seed(0)
    if network is None:
        model = StyleGAN(resolution=resolution, channels=3, augment_p=0.2, fid_features="shapes", compile=compile, tf32=tf32)
    else:
        model = narrow_model(network, resolution)
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
    with_path_length = model.hparams.pl_weight > 0
    plain = statistics.mean(times[s] for s in ((15, 17, 18, 19) if with_path_length else (15, 17, 18, 19, 20)))
    # On a shared machine a single batch can come out faster than the plain mean: clamp at 0.
    path_length = max(times[20] - plain, 0.0) if with_path_length else 0.0
    r1 = max(times[16] - max(times[20] if with_path_length else plain, plain), 0.0)
    amortised = plain + path_length / 4 + r1 / 16
    device = torch.cuda.get_device_name() if accelerator == "gpu" else f"CPU ({harness.cpu_name()})"
    result = {
        "network": network or "config F",
        "resolution": resolution,
        "batch_size": batch_size,
        "precision": precision,
        "compile": compile,
        "tf32": tf32,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "seconds_per_batch": {"plain": round(plain, 4), "path_length_extra": round(path_length, 4), "r1_extra": round(r1, 4)},
        "images_per_second": round(batch_size / amortised, 3),
        "seconds_per_kimg": round(amortised / batch_size * 1000, 1),
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
    parser.add_argument("--stylegan3", action="store_true", help="StyleGAN2 vs StyleGAN3-T vs -R, narrow, interleaved in one process")
    parser.add_argument("--rounds", type=int, default=3, help="with --stylegan3: measurements of each network")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)  # child process: one resolution
    args = parser.parse_args()

    import torch

    accelerator = args.accelerator if args.accelerator != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    batch_size = args.batch_size or (32 if accelerator == "gpu" else 4)
    if args.stylegan3:
        compare_stylegan3(args.resolutions, batch_size, args.precision, accelerator, args.rounds, args.out)
        return
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


NETWORKS = ("stylegan2", "stylegan3-t", "stylegan3-r")


def compare_stylegan3(resolutions: list[int], batch_size: int, precision: str, accelerator: str, rounds: int, out: Path | None) -> None:
    """s/kimg of the three networks, interleaved in this process; ratios to StyleGAN2 per round, then
    their medians (a round's three runs saw about the same load)."""
    import torch

    records = []
    for resolution in resolutions:
        runs: dict[str, list[dict]] = {network: [] for network in NETWORKS}
        for turn in range(rounds):
            for network in NETWORKS[turn % 3 :] + NETWORKS[: turn % 3]:
                runs[network].append(measure(resolution, batch_size, precision, accelerator, network=network))
                print(json.dumps({k: runs[network][-1][k] for k in ("network", "resolution", "seconds_per_kimg", "load_average_1min_at_end")}), flush=True)
        per_round = {network: [run["seconds_per_kimg"] for run in runs[network]] for network in NETWORKS}
        ratios = {network: [a / b for a, b in zip(per_round[network], per_round["stylegan2"])] for network in NETWORKS[1:]}
        records.append({
            "resolution": resolution,
            "batch_size": batch_size,
            "precision": precision,
            "torch_threads": torch.get_num_threads(),
            "seconds_per_kimg_by_round": per_round,
            "seconds_per_kimg_median": {network: round(statistics.median(v), 1) for network, v in per_round.items()},
            "ratio_to_stylegan2_median": {network: round(statistics.median(v), 2) for network, v in ratios.items()},
            "ratio_to_stylegan2_by_round": {network: [round(r, 2) for r in v] for network, v in ratios.items()},
            "runs": runs,
        })  # fmt: skip
    path = harness.write_json(out or RESULTS / f"stylegan_throughput_{accelerator}_stylegan3_vs_2.json", {
        "command": "OMP_NUM_THREADS=1 python benchmarks/stylegan_throughput.py --stylegan3 " + " ".join(sys.argv[1:]).replace("--stylegan3", "").strip(),
        "note": "measured on a loaded machine: see load_average_1min_at_end of each run; compare ratios, not seconds",
        "device": records[0]["runs"]["stylegan2"][0]["device"],
        "cpu_count": os.cpu_count(),
        "results": records,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
