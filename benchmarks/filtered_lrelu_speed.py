"""Reference filtered leaky ReLU vs a candidate optimised path, forward + backward of a StyleGAN3
synthesis stack (T and R), interleaved in one process.

    OMP_NUM_THREADS=1 python benchmarks/filtered_lrelu_speed.py                  # 64 and 256 px, batch 4
    OMP_NUM_THREADS=1 python benchmarks/filtered_lrelu_speed.py --resolutions 64 --repeats 5
    OMP_NUM_THREADS=1 python benchmarks/filtered_lrelu_speed.py --candidate compiled --resolutions 64

Candidates: ``separable``, the separable formulation: where a filter is 1-D (every up-sampling filter, and
config T's down-sampling filters) it runs as two 1-D depthwise passes (k + k taps per output sample
instead of k x k); R's radial down-sampling filters stay 2-D; ``compiled``, the reference function through
torch.compile (inductor; one compilation per layer shape, done before timing). The stack is the whole synthesis network
(modulated convolutions included, as a training step runs it), narrow (G 32 channels, R 64) so the
filtering is a large share, as in the CPU comparison of StyleGAN2 and 3 (stylegan_throughput.py
--stylegan3). Both paths are checked equal (outputs and input gradients) before timing.
Results go to benchmarks/results/filtered_lrelu_speed_cpu[_compiled].json (or --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import harness
import torch
import torch.nn.functional as F
from harness import RESULTS
from torch import Tensor

from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.settings import StyleGAN3Config


def fir_last_axis(x: Tensor, f: Tensor, up: int, down: int, p0: int, p1: int, gain: float) -> Tensor:
    """upfirdn along the last axis with 1-D taps ``f``: zero insertion, pad (p0, p1), true convolution,
    keep every ``down``-th sample."""
    c, k = x.shape[1], f.numel()
    f = (f.to(device=x.device, dtype=x.dtype) * gain).reshape(1, 1, 1, k).expand(c, 1, 1, k)
    if up > 1:
        full = F.conv_transpose2d(x, f, stride=(1, up), groups=c)  # zero insertion + full convolution
        width, left = x.shape[3] * up + p0 + p1 - k + 1, k - 1 - p0
        full = F.pad(full, [max(-left, 0), max(left + width - full.shape[3], 0)])
        left = max(left, 0)
        x = full[..., left : left + width]
        return x[..., ::down] if down > 1 else x
    x = F.pad(x, [max(p0, 0), max(p1, 0)])
    x = x[..., max(-p0, 0) : x.shape[3] - max(-p1, 0)]
    return F.conv2d(x, f.flip(-1), stride=(1, down), groups=c)


def upfirdn2d_separable(x: Tensor, f: Tensor, up: int = 1, down: int = 1, padding: list[int] = (0, 0, 0, 0), gain: float = 1.0) -> Tensor:
    """layers.upfirdn2d for 1-D taps as two 1-D passes (width, then height); 2-D taps go to the reference."""
    if f.ndim != 1:
        return stylegan3.upfirdn2d(x, f, up=up, down=down, padding=padding, gain=gain)
    px0, px1, py0, py1 = padding
    x = fir_last_axis(x, f, up, down, px0, px1, gain**0.5)
    return fir_last_axis(x.transpose(2, 3), f, up, down, py0, py1, gain**0.5).transpose(2, 3)


def filtered_lrelu_separable(x, up_filter, down_filter, bias, up, down, padding, gain, slope, clamp) -> Tensor:
    """stylegan3.filtered_lrelu with the separable upfirdn2d."""
    x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    x = F.pad(x, padding) if up_filter is None else upfirdn2d_separable(x, up_filter, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x if down_filter is None else upfirdn2d_separable(x, down_filter, down=down)


PATHS = {"reference": stylegan3.filtered_lrelu, "separable": filtered_lrelu_separable}


def compiled_filtered_lrelu():
    # every layer has its own shapes and paddings: room for one compiled graph per layer
    torch._dynamo.config.cache_size_limit = 64
    return torch.compile(stylegan3.filtered_lrelu, dynamic=False)


def synthesis(config: str, resolution: int) -> stylegan3.SynthesisNetwork:
    settings = dict(z_dim=64, w_dim=64, channel_base=2048, channel_max=32)
    if config == "R":
        settings = dict(settings, channel_base=4096, channel_max=64, conv_kernel=1, use_radial_filters=True)
    torch.manual_seed(0)
    return stylegan3.SynthesisNetwork(64, resolution, 3, StyleGAN3Config(**settings)).train()


def forward_backward(net: stylegan3.SynthesisNetwork, ws: Tensor, path: str) -> tuple[Tensor, Tensor, float]:
    """Images, the gradient of their mean square at ws, and the seconds both took, on ``path``."""
    stylegan3.filtered_lrelu = PATHS[path]
    try:
        ws = ws.detach().requires_grad_(True)
        start = time.perf_counter()
        images = net(ws)
        images.square().mean().backward()
        seconds = time.perf_counter() - start
    finally:
        stylegan3.filtered_lrelu = PATHS["reference"]
    return images.detach(), ws.grad, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--candidate", choices=("separable", "compiled"), default="separable")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    candidate_name = args.candidate
    if candidate_name == "compiled":
        PATHS["compiled"] = compiled_filtered_lrelu()
    paths = ("reference", candidate_name)
    results = []
    for resolution in args.resolutions:
        for config in ("T", "R"):
            net = synthesis(config, resolution)
            ws = torch.randn(args.batch_size, net.num_ws, net.w_dim, generator=torch.Generator().manual_seed(1))
            reference, reference_grad, _ = forward_backward(net, ws, "reference")  # warm-up and the equality check
            candidate, candidate_grad, first_seconds = forward_backward(net, ws, candidate_name)
            seconds: dict[str, list[float]] = {path: [] for path in paths}
            for repeat in range(args.repeats):
                for path in paths if repeat % 2 == 0 else reversed(paths):
                    net.zero_grad(set_to_none=True)
                    seconds[path].append(forward_backward(net, ws, path)[2])
            ratios = [s / r for s, r in zip(seconds[candidate_name], seconds["reference"])]
            record = {
                "config": config, "resolution": resolution, "batch_size": args.batch_size, "candidate": candidate_name,
                "candidate_first_call_seconds": round(first_seconds, 1),
                "max_abs_difference_images": float((candidate - reference).abs().max()),
                "max_abs_difference_ws_grad": float((candidate_grad - reference_grad).abs().max()),
                "seconds": {path: [round(s, 3) for s in v] for path, v in seconds.items()},
                "candidate_over_reference_median": round(statistics.median(ratios), 3),
                "load_average_1min_at_end": harness.load_average(),
            }  # fmt: skip
            print(record, flush=True)
            results.append(record)
    out = harness.write_json(args.out or RESULTS / f"filtered_lrelu_speed_cpu{'_compiled' if candidate_name == 'compiled' else ''}.json", {
        "command": f"OMP_NUM_THREADS=1 python benchmarks/filtered_lrelu_speed.py --candidate {candidate_name} --resolutions {' '.join(map(str, args.resolutions))} --repeats {args.repeats}",
        "note": "measured on a loaded machine; forward + backward of the synthesis network, interleaved; ratio < 1: candidate faster",
        "device": f"CPU ({harness.cpu_name()})", "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "results": results,
    })  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
