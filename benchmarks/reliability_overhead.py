"""What the reliability measures cost: checkpoint writes (atomic vs Lightning's own), the
divergence guard's per-batch checks, and per-item seeded loading.

    python benchmarks/reliability_overhead.py                       # config-F StyleGAN on this device
    python benchmarks/reliability_overhead.py --resolution 64 --repeats 3   # quick

- save: seconds to write one StyleGAN checkpoint (networks, EMA, Adam states) with
  ``AtomicCheckpointIO`` (temp file beside the target, fsync, rename) and ``TorchCheckpointIO``.
- guard: milliseconds per batch for ``NonFiniteGuard``'s checks (every gradient before its step,
  every weight and buffer after the batch), on the model's device.
- loading: images/s of the bundled data through ``SeededItems`` vs directly (no workers).
Results go to benchmarks/results/reliability_overhead_<device>.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness
import torch
from harness import RESULTS

from gan_lightning.data.resumable import SeededItems
from gan_lightning.data.shapes import ShapesDataset
from gan_lightning.training.callbacks.checkpoint_writing import AtomicCheckpointIO, non_finite_entry
from gan_lightning.training.callbacks.divergence import has_non_finite_grad
from gan_lightning.training.models.stylegan import StyleGAN


def timed(function, repeats: int, sync: torch.device | None = None) -> float:
    """Median seconds of ``repeats`` calls after one warm-up."""
    return harness.median_seconds(function, 1, repeats, sync)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder", default=None, help="where checkpoints are written (default: a temp folder)")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from lightning.pytorch.plugins.io import TorchCheckpointIO

    model = StyleGAN(resolution=args.resolution, channels=3, fid_features="shapes").to(device)
    optimizers = [torch.optim.Adam(model.generator.parameters()), torch.optim.Adam(model.discriminator.parameters())]
    for optimizer in optimizers:  # Adam states exist after a first step, as in a real checkpoint
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                parameter.grad = torch.zeros_like(parameter)
        optimizer.step()
    checkpoint = {"state_dict": model.state_dict(), "optimizer_states": [o.state_dict() for o in optimizers]}
    size_mb = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 1e6

    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        target = Path(folder) / "last.ckpt"
        save_atomic = timed(lambda: AtomicCheckpointIO().save_checkpoint(checkpoint, target), args.repeats)
        save_lightning = timed(lambda: TorchCheckpointIO().save_checkpoint(checkpoint, target), args.repeats)
        file_mb = target.stat().st_size / 1e6

    sync = device.type == "cuda"
    guard = timed(lambda: (non_finite_entry(model.state_dict()), [has_non_finite_grad(o) for o in optimizers]), args.repeats * 4, device if sync else None)

    dataset = ShapesDataset(512, 64, 3, seed=0)
    seeded = SeededItems(dataset)
    plain_s = timed(lambda: [dataset[i] for i in range(512)], 1)
    seeded_s = timed(lambda: [seeded[(i, i)] for i in range(512)], 1)

    result = {
        "device": torch.cuda.get_device_name() if sync else "cpu",
        "resolution": args.resolution,
        "weights_mb": round(size_mb, 1),
        "checkpoint_mb": round(file_mb, 1),
        "save_s": {"AtomicCheckpointIO": round(save_atomic, 3), "TorchCheckpointIO": round(save_lightning, 3)},
        "guard_ms_per_batch": round(guard * 1000, 2),
        "loading_images_per_s": {"SeededItems": round(512 / seeded_s), "plain": round(512 / plain_s)},
    }
    harness.print_json(result, RESULTS / f"reliability_overhead_{device.type}.json")


if __name__ == "__main__":
    main()
