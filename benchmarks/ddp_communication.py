"""Bytes all-reduced per StyleGAN training batch, and step time, with two processes: Lightning's
``ddp`` (DistributedDataParallel over the whole LightningModule, find_unused_parameters, as the
GAN modules set it) against ``gan_ddp`` (each backward sends only the gradients it produced).

    python benchmarks/ddp_communication.py                                   # 256 px config F, CPU, gloo
    python benchmarks/ddp_communication.py --resolution 32 --channel-max 16  # a quick check (1 min)
    python benchmarks/ddp_communication.py --accelerator gpu --batch-size 8  # 2 GPUs, NCCL

Training starts at batch 15 of the lazy schedule (R1 every 16, path length every 4 batches), so
6 batches hold plain ones (Dmain, Gmain), an R1 + path-length one (16: all four phases) and a
path-length one (20). "amortised" is the cost per batch over the schedule: plain + path-length
extra / 4 + R1 extra / 16.

Counted: every torch.distributed.all_reduce call (gradients; ADA statistics and the path-length
mean), with ``ddp``'s gradient buckets passed through PyTorch's default all-reduce communication hook
so that they are among them, plus for ``ddp`` the buffers DistributedDataParallel broadcasts before
each forward (all of the module's buffers but each process's ADA statistics). Bytes do not depend on load; times do (run on an idle
machine). Step time: median over the
measured batches of each kind, after --warmup batches. Results go to
benchmarks/results/ddp_communication_<accelerator>_<resolution>px[_channel_max<N>].json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness
from harness import RESULTS

COUNT = {"calls": 0, "bytes": 0}
FIRST_BATCH = 15


def worker(strategy_name: str, resolution: int, batch_size: int, batches: int, accelerator: str, channel_max: int, out: str) -> None:
    import torch
    import torch.distributed
    from lightning.pytorch import Trainer
    from lightning.pytorch.strategies import DDPStrategy
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    from torch.utils.data import DataLoader, TensorDataset

    from gan_lightning.training.models.stylegan import StyleGAN
    from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig

    torch.manual_seed(0)
    model = StyleGAN(resolution=resolution, channels=3, augment_p=0.2, fid_features="shapes",
                     generator=GeneratorConfig(channel_max=channel_max), discriminator=DiscriminatorConfig(channel_max=channel_max))
    model.batches_done.fill_(FIRST_BATCH)
    images = torch.randn(batch_size * 2 * batches, 3, resolution, resolution).clamp(-1, 1)
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=batch_size, drop_last=True)
    all_reduce = torch.distributed.all_reduce

    def counted(tensor, *args, **kwargs):
        COUNT["calls"] += 1
        COUNT["bytes"] += tensor.numel() * tensor.element_size()
        return all_reduce(tensor, *args, **kwargs)

    records: list[dict] = []

    class Meter(harness.BatchTimer):
        """Times each batch and counts what it all-reduces."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            COUNT.update(calls=0, bytes=0)
            torch.distributed.all_reduce = counted
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

        def timed(self, trainer, pl_module, batch, batch_idx, seconds):
            torch.distributed.all_reduce = all_reduce
            step = int(pl_module.batches_done) - 1
            record = {"batch": step, "seconds": seconds, "all_reduce_calls": COUNT["calls"], "all_reduce_bytes": COUNT["bytes"]}
            if strategy_name == "ddp":  # DistributedDataParallel broadcasts every buffer it does not ignore before each forward
                ignored = set(getattr(pl_module, "_ddp_params_and_buffers_to_ignore", ()))
                record["buffer_broadcast_bytes"] = sum(b.numel() * b.element_size() for n, b in pl_module.named_buffers() if n not in ignored)
            records.append(record)

    class CountedDDP(DDPStrategy):
        def _register_ddp_hooks(self) -> None:
            # The default averaging all-reduce as a Python hook, so torch.distributed.all_reduce sees
            # (and counts) each bucket; Lightning registers communication hooks on CUDA only.
            self.model.register_comm_hook(None, allreduce_hook)

    if strategy_name == "ddp":
        strategy = CountedDDP(find_unused_parameters=True)
    else:
        strategy = strategy_name
    trainer = Trainer(
        strategy=strategy, devices=2, accelerator=accelerator, max_epochs=1, limit_train_batches=batches,
        limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[Meter()],
    )  # fmt: skip
    trainer.fit(model, loader)
    if trainer.is_global_zero:
        sizes = {name: sum(p.numel() * p.element_size() for p in getattr(model, name).parameters() if p.requires_grad)
                 for name in ("generator", "discriminator")}  # fmt: skip
        Path(out).write_text(json.dumps({"records": records, "gradient_bytes": sizes}))


def kind(step: int) -> str:
    r1, pl = step % 16 == 0, step % 4 == 0
    return "r1+pl" if r1 and pl else "pl" if pl else "r1" if r1 else "plain"


def summarise(result: dict, warmup: int, times: bool) -> dict:
    records = result["records"]
    total = [r["all_reduce_bytes"] + r.get("buffer_broadcast_bytes", 0) for r in records]
    by_kind: dict[str, dict] = {}
    for record, sent in zip(records, total):
        entry = by_kind.setdefault(kind(record["batch"]), {"bytes_sent": sent, "all_reduce_calls": record["all_reduce_calls"], "seconds": []})
        if record["batch"] >= warmup:
            entry["seconds"].append(record["seconds"])
    for entry in by_kind.values():
        if times:
            entry["median_seconds"] = statistics.median(entry["seconds"]) if entry["seconds"] else None
        del entry["seconds"]
    summary: dict = {"per_batch_kind": by_kind}
    if {"plain", "pl", "r1+pl"} <= by_kind.keys():
        plain, pl, r1_pl = (by_kind[k]["bytes_sent"] for k in ("plain", "pl", "r1+pl"))
        summary["amortised_bytes_per_batch"] = plain + (pl - plain) / 4 + (r1_pl - pl) / 16
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=1, help="per process")
    parser.add_argument("--batches", type=int, default=6, help="batches per strategy, from batch 15 (6 reach each kind)")
    parser.add_argument("--warmup", type=int, default=0, help="batches left out of the timing")
    parser.add_argument("--channel-max", type=int, default=512, help="config F: 512; smaller for a quick check")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--strategies", nargs="+", default=["ddp", "gan_ddp"])
    parser.add_argument("--bytes-only", action="store_true", help="leave times out (a loaded machine)")
    parser.add_argument("--worker", nargs=2, metavar=("STRATEGY", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.resolution, args.batch_size, args.batches, args.accelerator, args.channel_max, args.worker[1])
        return

    results: dict = {
        "command": harness.command_line(),
        "resolution": args.resolution,
        "batch_size_per_process": args.batch_size,
        "processes": 2,
        "accelerator": args.accelerator,
        "channel_max": args.channel_max,
        "strategies": {},
    }
    for strategy in args.strategies:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            command = [sys.executable, __file__, "--worker", strategy, str(out), "--resolution", str(args.resolution),
                       "--batch-size", str(args.batch_size), "--batches", str(args.batches), "--accelerator", args.accelerator, "--channel-max", str(args.channel_max)]  # fmt: skip
            subprocess.run(command, check=True, cwd=tmp, env=harness.child_environment())
            result = json.loads(out.read_text())
        results["gradient_bytes"] = result["gradient_bytes"]
        results["strategies"][strategy] = summarise(result, args.warmup, not args.bytes_only)
        print(strategy, json.dumps(results["strategies"][strategy], indent=1), flush=True)
    suffix = "" if args.channel_max == 512 else f"_channel_max{args.channel_max}"
    path = harness.write_json(RESULTS / f"ddp_communication_{args.accelerator}_{args.resolution}px{suffix}.json", results, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
