"""Generator latency on CPU: ONNX Runtime vs PyTorch, for StyleGAN and StyleTransfer at 256 px,
batch 1 and 8 (what `export --format onnx` gives an app, against the generator in torch).

    python benchmarks/onnx_latency.py [--threads 4] [--repeats 10]
    python benchmarks/onnx_latency.py --resolution 32 --channel-base 256 --ngf 8 --n-blocks 1 \
        --repeats 2 --results /tmp/onnx_latency.md          # a quick check that it runs

Networks at the sizes users export, with random weights (latency does not depend on the values):
StyleGAN2 with the stylegan_256 preset's generator (channel_base 16384, z/w 512, 8 mapping layers),
noise_mode const, psi 0.7; StyleTransfer with the CUT paper's generator (ngf 64, 9 residual blocks,
anti-aliasing) on 256x256 images. Each model is exported with the same code as the command (and
checked against PyTorch to 1e-3), then both runtimes run the same inputs: median of ``--repeats``
timed calls after ``--warmup`` untimed ones, both with ``--threads`` intra-op threads. PyTorch is
timed as users call it (``generator(z, truncation_psi=0.7, noise_mode="const")`` under no_grad, eval).
Results are appended to benchmarks/results/onnx_latency.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness
import onnxruntime
import torch
from harness import median_seconds

from gan_lightning.checkpoints.export.graphs import graphs_for
from gan_lightning.checkpoints.export.runtimes import write_onnx
from gan_lightning.core.nets.resnet import ResnetGenerator
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig

RESULTS = harness.RESULTS / "onnx_latency.md"
PSI = 0.7


def models(args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    config = GeneratorConfig(channel_base=args.channel_base, channel_max=args.channel_max)
    return {
        "StyleGAN": Generator(args.resolution, 3, config).eval().requires_grad_(False),
        "StyleTransfer": ResnetGenerator(ngf=args.ngf, n_blocks=args.n_blocks).eval().requires_grad_(False),
    }


def measure(algorithm: str, generator: torch.nn.Module, args: argparse.Namespace, folder: Path) -> list[dict]:
    graph = graphs_for(generator, algorithm)[0]
    path = folder / f"{algorithm}.onnx"
    difference = write_onnx(graph, path, {"algorithm": algorithm})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rows = []
    for batch in args.batches:
        if algorithm == "StyleGAN":
            z = torch.randn(batch, generator.z_dim)
            feed = {"z": z.numpy(), "psi": torch.tensor(PSI).numpy()}
            torch_call = lambda: generator(z, truncation_psi=PSI, noise_mode="const")  # noqa: E731
        else:
            x = torch.rand(batch, 3, args.resolution, args.resolution) * 2 - 1
            feed = {"x": x.numpy()}
            torch_call = lambda: generator(x)  # noqa: E731
        with torch.no_grad():
            torch_s = median_seconds(torch_call, args.warmup, args.repeats)
        onnx_s = median_seconds(lambda: session.run(None, feed), args.warmup, args.repeats)
        rows.append({"algorithm": algorithm, "batch": batch, "torch_ms": torch_s * 1e3, "onnx_ms": onnx_s * 1e3, "difference": difference})
        print(f"{algorithm} batch {batch}: PyTorch {torch_s * 1e3:.1f} ms, ONNX Runtime {onnx_s * 1e3:.1f} ms ({torch_s / onnx_s:.2f}x)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--channel-base", type=int, default=16384, help="StyleGAN generator channel_base (stylegan_256 preset)")
    parser.add_argument("--channel-max", type=int, default=512)
    parser.add_argument("--ngf", type=int, default=64, help="StyleTransfer generator width (CUT paper)")
    parser.add_argument("--n-blocks", type=int, default=9, help="StyleTransfer residual blocks (CUT paper)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads for both runtimes")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown table the rows are appended to")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        rows = [row for algorithm, generator in models(args).items() for row in measure(algorithm, generator, args, Path(folder))]
    cpu = harness.device_name(torch.device("cpu"))  # --threads threads
    software = f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    sizes = f"StyleGAN channel_base {args.channel_base}; StyleTransfer ngf {args.ngf}, {args.n_blocks} blocks"
    lines = [
        f"| {harness.today()} | {cpu} | {software} | {sizes} | {args.resolution} | {row['algorithm']} | "
        f"{row['batch']} | {row['torch_ms']:.1f} | {row['onnx_ms']:.1f} | {row['torch_ms'] / row['onnx_ms']:.2f}x | {row['difference']:.1e} |"
        for row in rows
    ]
    harness.append_rows(
        args.results,
        "Generator latency on CPU: ONNX Runtime vs PyTorch",
        "Measured by `python benchmarks/onnx_latency.py` (see its docstring): median of timed calls, same\n"
        "inputs and thread count for both runtimes, random weights at the exported sizes.",
        ["date", "device", "software", "sizes", "px", "algorithm", "batch", "PyTorch ms", "ONNX Runtime ms", "speed-up", "max abs diff"],
        lines,
    )
    print(f"appended {len(rows)} rows to {args.results}")


if __name__ == "__main__":
    main()
