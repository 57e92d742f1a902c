"""Time the ADA pipeline: forward + backward (as in G's loss) of ``AdaptiveAugment`` at probability p,
today's against the one in another git revision of this repository (before NVlabs' algorithm: sampling
at the image's own resolution), and optionally NVlabs' AugmentPipe (their PyTorch reference ops).

    python benchmarks/augment_throughput.py --resolution 256 --batch 32 --baseline-rev 50d9518 \
        [--nvlabs ~/src/stylegan2-ada-pytorch] [--device cuda] [--out benchmarks/results/augment_throughput.json] [--profile]

Prints milliseconds per batch (median of --repeats after --warmup runs) for each pipeline.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
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


def time_ms(pipe, images: torch.Tensor, warmup: int, repeats: int) -> float:
    x = images.clone().requires_grad_(True)

    def forward_backward() -> None:
        x.grad = None  # a fresh gradient each call, as for a new batch
        pipe(x).square().mean().backward()

    return harness.median_seconds(forward_backward, warmup, repeats, sync=images.device if images.is_cuda else None) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--p", type=float, default=0.6)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--baseline-rev", default=None, help="a git revision whose gan_lightning/core/augment.py to time too")
    parser.add_argument("--nvlabs", type=Path, default=None, help="a stylegan2-ada-pytorch checkout to time their AugmentPipe too")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's table of one forward + backward of ours")
    args = parser.parse_args()
    torch.manual_seed(0)
    images = torch.rand(args.batch, 3, args.resolution, args.resolution, device=args.device) * 2 - 1
    pipes = {"ours": AdaptiveAugment(p=args.p).to(args.device)}
    if args.baseline_rev:
        pipes[f"ours@{args.baseline_rev}"] = module_at_revision(args.baseline_rev).AdaptiveAugment(p=args.p).to(args.device)
    if args.nvlabs:
        harness.use_nvlabs(args.nvlabs.expanduser().resolve())
        from training import augment as nv_augment  # type: ignore[import-not-found]

        nv = nv_augment.AugmentPipe(**harness.NVLABS_BGC).train().requires_grad_(False).to(args.device)
        nv.p.fill_(args.p)
        pipes["nvlabs"] = nv
    results = {
        "resolution": args.resolution, "batch": args.batch, "p": args.p, "device": args.device, "threads": torch.get_num_threads(),
        "ms_per_batch_forward_backward": {name: round(time_ms(pipe, images, args.warmup, args.repeats), 2) for name, pipe in pipes.items()},
    }  # fmt: skip
    harness.print_json(results, args.out)
    if args.profile:
        x = images.clone().requires_grad_(True)
        with torch.profiler.profile(record_shapes=True) as prof:
            pipes["ours"](x).square().mean().backward()
        print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
