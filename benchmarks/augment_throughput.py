"""Time the ADA pipeline: forward + backward (as in G's loss) of ``AdaptiveAugment`` at each probability
p, today's against the one in another git revision of this repository, and optionally NVlabs'
AugmentPipe (their PyTorch reference ops).

    OMP_NUM_THREADS=1 python benchmarks/augment_throughput.py --resolution 256 --batch 32 --p 0.2 0.6 \
        --baseline-rev REV [--nvlabs ~/src/stylegan2-ada-pytorch] [--device cuda] [--out FILE.json] [--profile]
    OMP_NUM_THREADS=1 python benchmarks/augment_throughput.py --training-step --resolution 256 --batch 8 --p 0.2

The pipelines take turns: each repeat draws one seed and runs every pipeline once with it (the same
transforms, so the same padding), in an order that alternates between repeats, so that a machine's
changing load falls on all of them alike. Prints, per p, the median milliseconds per batch of each
pipeline and the median over repeats of each one's time divided by ours.

``--training-step`` times instead a StyleGAN training batch (NVlabs' ``auto`` networks for the
resolution, the real LightningModule through Lightning's Trainer) with augmentation at each p and
without it (p = 0, where the pipeline returns its input), taking turns on the same seeds and images,
and prints the share of the batch that augmentation takes: 1 - time without / time with. Times are
the process's CPU time (one thread: a loaded machine's other jobs do not count, where wall time
varied by half from batch to batch); a batch is plain + path-length extra / 4 (R1's 1/16 left out).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import torch
from harness import REPO

from gan_lightning.core.augment import AdaptiveAugment


def module_at_revision(rev: str):
    """gan_lightning/core/augment.py as it was at ``rev``, imported under another name."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:gan_lightning/core/augment.py"], check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "augment_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("augment_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def forward_backward_seconds(pipe, images: torch.Tensor, seed: int) -> float:
    x = images.clone().requires_grad_(True)  # a fresh gradient each call, as for a new batch
    torch.manual_seed(seed)
    harness.synchronize(images.device)
    start = time.perf_counter()
    pipe(x).square().mean().backward()
    harness.synchronize(images.device)
    return time.perf_counter() - start


def interleaved(pipes: dict, images: torch.Tensor, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Seconds of each pipeline per repeat, the pipelines taking turns with one seed per repeat."""
    names = list(pipes)
    for seed in range(warmup):
        for name in names:
            forward_backward_seconds(pipes[name], images, seed)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            seconds[name].append(forward_backward_seconds(pipes[name], images, warmup + repeat))
    return seconds


# Batches 17..20 of the lazy schedule: plain (warm-up, not kept), plain, plain, path length (20).
# R1's batch (every 16th, 1/16 of the amortised batch) is left out to keep the run short.
FIRST_STEP = 17


def training_batch_seconds(resolution: int, batch: int, p: float, seed: int) -> dict[str, float]:
    """CPU seconds of this process (the machine's other jobs do not count) for StyleGAN training
    batches with augmentation at ``p`` (fixed: ADA's update is off): plain and path-length batches,
    and plain + path-length extra / 4."""
    from lightning.pytorch import Callback, Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig
    from gan_lightning.training.models.stylegan import StyleGAN
    from gan_lightning.training.nvlabs_auto import nvlabs_auto

    auto = nvlabs_auto(resolution, 1)
    torch.manual_seed(seed)
    model = StyleGAN(
        resolution=resolution, channels=3, generator=GeneratorConfig(channel_base=auto.channel_base, mapping_layers=2),
        discriminator=DiscriminatorConfig(channel_base=auto.channel_base, mbstd_group_size=min(batch, 4)),
        r1_gamma=auto.r1_gamma, ada=False, augment_p=p, fid_features="shapes",
    )  # fmt: skip
    model.batches_done.fill_(FIRST_STEP)
    images = torch.rand(batch * 4, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch, drop_last=True)
    times: dict[int, float] = {}

    class CpuTimer(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.start = time.process_time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            times[int(pl_module.batches_done) - 1] = time.process_time() - self.start

    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, callbacks=[CpuTimer()],
    )  # fmt: skip
    trainer.fit(model, loader)
    plain = statistics.mean(times[s] for s in (18, 19))
    return {"plain": plain, "path_length": times[20], "amortised_without_r1": plain + (times[20] - plain) / 4}


def nvlabs_channel_base(resolution: int) -> int:
    from gan_lightning.training.nvlabs_auto import nvlabs_auto

    return nvlabs_auto(resolution, 1).channel_base


def training_step_share(resolution: int, batch: int, ps: list[float], repeats: int) -> dict:
    """Per p: median seconds of each kind of batch with and without augmentation, and the share of
    the amortised batch that augmentation takes (median over repeats, each repeat's pair on one seed)."""
    by_p = {}
    for p in ps:
        runs: dict[str, list[dict[str, float]]] = {"with": [], "without": []}
        for repeat in range(repeats):
            order = [("with", p), ("without", 0.0)]
            for name, value in order if repeat % 2 == 0 else order[::-1]:
                runs[name].append(training_batch_seconds(resolution, batch, value, seed=repeat))
        medians = {name: {kind: round(statistics.median(r[kind] for r in rs), 3) for kind in rs[0]} for name, rs in runs.items()}
        shares = [1 - b["amortised_without_r1"] / a["amortised_without_r1"] for a, b in zip(runs["with"], runs["without"])]
        by_p[f"{p:g}"] = {"seconds_per_batch": medians, "augmentation_share_of_amortised_batch": round(statistics.median(shares), 3), "shares_by_repeat": [round(x, 3) for x in shares]}
    return by_p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--p", type=float, nargs="+", default=[0.6])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-rev", default=None, help="a git revision whose gan_lightning/core/augment.py to time too")
    parser.add_argument("--nvlabs", type=Path, default=None, help="a stylegan2-ada-pytorch checkout to time their AugmentPipe too")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's table of one forward + backward of ours")
    parser.add_argument("--training-step", action="store_true", help="time a StyleGAN training batch with and without augmentation instead (CPU)")
    args = parser.parse_args()
    if args.training_step:
        results = {
            "command": f"OMP_NUM_THREADS={torch.get_num_threads()} python {harness.command_line()}",
            "resolution": args.resolution, "batch": args.batch, "device": harness.device_name(torch.device("cpu")),
            "networks": f"NVlabs auto at {args.resolution} px (channel_base {nvlabs_channel_base(args.resolution)}, 2 mapping layers)",
            "load_average_before": harness.load_average(),
            "by_p": training_step_share(args.resolution, args.batch, args.p, args.repeats),
            "load_average_after": harness.load_average(),
        }  # fmt: skip
        harness.print_json(results, args.out)
        return
    torch.manual_seed(0)
    images = torch.rand(args.batch, 3, args.resolution, args.resolution, device=args.device) * 2 - 1
    pipes = {"ours": AdaptiveAugment().to(args.device)}
    if args.baseline_rev:
        pipes[f"ours@{args.baseline_rev}"] = module_at_revision(args.baseline_rev).AdaptiveAugment().to(args.device)
    if args.nvlabs:
        harness.use_nvlabs(args.nvlabs.expanduser().resolve())
        from training import augment as nv_augment  # type: ignore[import-not-found]

        pipes["nvlabs"] = nv_augment.AugmentPipe(**harness.NVLABS_BGC).train().requires_grad_(False).to(args.device)
    results = {
        "command": f"OMP_NUM_THREADS={torch.get_num_threads()} python {harness.command_line()}",
        "resolution": args.resolution, "batch": args.batch, "device": harness.device_name(torch.device(args.device)),
        "load_average_before": harness.load_average(), "by_p": {},
    }  # fmt: skip
    for p in args.p:
        for pipe in pipes.values():
            pipe.p.fill_(p)
        seconds = interleaved(pipes, images, args.warmup, args.repeats)
        results["by_p"][f"{p:g}"] = {
            "ms_per_batch_forward_backward": {name: round(statistics.median(s) * 1000, 1) for name, s in seconds.items()},
            "time_over_ours": {name: round(statistics.median(a / b for a, b in zip(s, seconds["ours"])), 2) for name, s in seconds.items() if name != "ours"},
        }
    results["load_average_after"] = harness.load_average()
    harness.print_json(results, args.out)
    if args.profile:
        x = images.clone().requires_grad_(True)
        with torch.profiler.profile(record_shapes=True) as prof:
            pipes["ours"](x).square().mean().backward()
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
