"""Winograd F(4x4, 3x3) (``nets.layers.winograd_conv3x3``) against the direct convolution
(``F.conv2d``, oneDNN on CPU) for StyleGAN2 config F's 512-channel 3x3 layers, batch 4, one thread.

    python benchmarks/winograd_conv.py                 # accuracy and fwd+bwd time per image side (idle machine)
    python benchmarks/winograd_conv.py --no-timing     # accuracy only (does not depend on load)

Accuracy: the largest absolute error of the output, the input gradient and the weight gradient of
each, in fp32, against a float64 direct convolution (inputs N(0, 1), weights scaled as equalized lr
does, an N(0, 1) output gradient). Timing: forward + backward (input and weight gradients), direct
and Winograd alternating, the minimum of --repeats. Results: benchmarks/results/winograd_conv_cpu.json
(or winograd_conv_cpu_accuracy.json with --no-timing; or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import harness
import torch
import torch.nn.functional as F
from harness import RESULTS

from gan_lightning.core.nets.layers import winograd_conv3x3


def direct(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, padding=1)


def output_and_gradients(conv, x: torch.Tensor, w: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    x, w = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
    y = conv(x, w)
    y.backward(grad)
    return [y.detach(), x.grad, w.grad]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)
    result: dict = {
        "channels": args.channels, "batch_size": args.batch_size, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "device": f"CPU ({harness.cpu_name()})", "sides": {},
    }  # fmt: skip
    for side in args.sides:
        torch.manual_seed(side)
        c = args.channels
        x = torch.randn(args.batch_size, c, side, side, dtype=torch.float64)
        w = torch.randn(c, c, 3, 3, dtype=torch.float64) / (c * 9) ** 0.5
        grad = torch.randn(args.batch_size, c, side, side, dtype=torch.float64)
        reference = output_and_gradients(direct, x, w, grad)
        entry: dict = {}
        for name, conv in (("direct", direct), ("winograd", winograd_conv3x3)):
            got = output_and_gradients(conv, x.float(), w.float(), grad.float())
            entry[f"{name}_max_abs_error"] = {
                what: (g.double() - r).abs().max().item() for what, g, r in zip(("output", "input_grad", "weight_grad"), got, reference)
            }
        entry["reference_max_abs"] = {what: r.abs().max().item() for what, r in zip(("output", "input_grad", "weight_grad"), reference)}
        if not args.no_timing:
            xf, wf, gf = x.float().requires_grad_(True), w.float().requires_grad_(True), grad.float()
            seconds: dict[str, list[float]] = {"direct": [], "winograd": []}
            for repeat in range(args.repeats + 1):  # the first round is warm-up
                for name, conv in (("direct", direct), ("winograd", winograd_conv3x3)):
                    start = time.perf_counter()
                    conv(xf, wf).backward(gf)
                    if repeat:
                        seconds[name].append(round(time.perf_counter() - start, 4))
            entry["seconds_fwd_bwd"] = seconds
            entry["winograd_over_direct_min"] = round(min(seconds["winograd"]) / min(seconds["direct"]), 3)
        result["sides"][str(side)] = entry
        print(side, json.dumps(entry), file=sys.stderr, flush=True)
    if not args.no_timing:
        result["load_average_1min_at_end"] = harness.load_average()
    name = "winograd_conv_cpu_accuracy.json" if args.no_timing else "winograd_conv_cpu.json"
    out = args.out or RESULTS / name
    harness.print_json(result, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
