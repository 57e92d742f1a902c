"""channels_last vs NCHW for our StyleGAN2 networks' training phases on CPU, interleaved and repeated.

    python benchmarks/stylegan_channels_last.py                                 # 64 px config F, batch 4, 3 repeats
    python benchmarks/stylegan_channels_last.py --resolution 32 --channel-base 512 --repeats 1   # smoke run

Phases as the training step runs them: Gmain (G forward and backward through a frozen D), Dmain (D on
generated and real images, forward and backward), R1 (D's input gradient, then its backward: double
backward). channels_last converts both networks' weights and the images with
``memory_format=torch.channels_last``; PyTorch then keeps the activations in that layout. Each repeat
runs every phase in both layouts back to back, so load on a shared machine hits both alike; the
minimum per phase and layout is reported. One torch thread unless OMP_NUM_THREADS says otherwise.
Results: benchmarks/results/stylegan_channels_last_cpu.json (or --out).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import harness
import torch
import torch.nn.functional as F
from harness import RESULTS

from gan_lightning.common.torch_utils import frozen
from gan_lightning.core.nets.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def phases(G: Generator, D: Discriminator, z: torch.Tensor, real: torch.Tensor):
    def gmain(layout):
        with frozen(D):
            images = G.synthesis(G.mapping(z)).contiguous(memory_format=layout)
            F.softplus(-D(images)).mean().backward()
        G.zero_grad(set_to_none=True)

    def dmain(layout):
        with torch.no_grad():
            fake = G.synthesis(G.mapping(z)).contiguous(memory_format=layout)
        loss = F.softplus(D(fake)).mean() + F.softplus(-D(real.contiguous(memory_format=layout))).mean()
        loss.backward()
        D.zero_grad(set_to_none=True)

    def r1(layout):
        x = real.contiguous(memory_format=layout).requires_grad_(True)
        logits = D(x)
        (gradient,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        (gradient.square().sum() + logits.sum() * 0).backward()
        D.zero_grad(set_to_none=True)

    return {"gmain": gmain, "dmain": dmain, "r1": r1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--channel-base", type=int, default=32768)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "stylegan_channels_last_cpu.json")
    args = parser.parse_args()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    G = Generator(args.resolution, 3, GeneratorConfig(channel_base=args.channel_base)).train()
    D = Discriminator(args.resolution, 3, DiscriminatorConfig(channel_base=args.channel_base)).train()
    z = torch.randn(args.batch_size, G.z_dim)
    real = torch.randn(args.batch_size, 3, args.resolution, args.resolution).clamp(-1, 1)
    seconds: dict[str, dict[str, list[float]]] = {}
    for name, phase in phases(G, D, z, real).items():
        seconds[name] = {layout: [] for layout in LAYOUTS}
        for repeat in range(args.repeats + 1):  # the first round is warm-up
            for layout, memory_format in LAYOUTS.items():
                G.to(memory_format=memory_format)
                D.to(memory_format=memory_format)
                torch.manual_seed(repeat)  # the same noise in both layouts
                start = time.perf_counter()
                phase(memory_format)
                if repeat:
                    seconds[name][layout].append(round(time.perf_counter() - start, 4))
        print(name, {layout: min(times) for layout, times in seconds[name].items()}, file=sys.stderr, flush=True)
    result = {
        "resolution": args.resolution, "channel_base": args.channel_base, "batch_size": args.batch_size, "repeats": args.repeats,
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "device": f"CPU ({harness.cpu_name()})",
        "seconds": seconds,
        "channels_last_over_nchw_min": {name: round(min(t["channels_last"]) / min(t["nchw"]), 3) for name, t in seconds.items()},
        "load_average_1min_at_end": harness.load_average(),
    }  # fmt: skip
    harness.print_json(result, args.out)


if __name__ == "__main__":
    main()
