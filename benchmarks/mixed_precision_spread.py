"""The measurements behind tests/training/test_mixed_precision.py's bounds, per algorithm (its tiny
networks, data and 16 batches, one thread): the relative weight distance ||a - b|| / ||b|| between
two 32-true runs from the same initial weights with seeds 0 and 1 (the seed spread), between emulated
16-mixed and 32-true with seed 0, and the optimizer steps the loss scale's search skipped.

    python benchmarks/mixed_precision_spread.py                   # GradScaler's default start, 65536
    python benchmarks/mixed_precision_spread.py --init-scale 512  # a start that needs no search

Results are printed and written to benchmarks/results/mixed_precision_spread_<init scale>.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness
import torch
from harness import RESULTS
from lightning.pytorch import LightningModule, seed_everything

from tests.training.test_mixed_precision import (
    ALGORITHMS,
    SkippedPerBatch,
    emulated_16_mixed,
    relative_distance,
    trainer,
)


def train(name: str, root: Path, precision, seed: int, callbacks: list) -> tuple[LightningModule, object]:
    build_model, build_data = ALGORITHMS[name]
    seed_everything(0)
    model = build_model()
    seed_everything(seed)  # the same initial weights; other latents and data order
    run = trainer(root, precision, callbacks=callbacks)
    run.fit(model, build_data())
    return model, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init-scale", type=float, default=65536.0)
    parser.add_argument("--algorithms", nargs="*", default=list(ALGORITHMS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {"init_scale": args.init_scale, "torch": torch.__version__, "command": harness.command_line(), "algorithms": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.algorithms:
            reference, _ = train(name, Path(tmp) / "a", "32-true", 0, [])
            other_seed, _ = train(name, Path(tmp) / "b", "32-true", 1, [])
            skipped = SkippedPerBatch()
            mixed, run = train(name, Path(tmp) / "c", emulated_16_mixed(torch.amp.GradScaler("cpu", init_scale=args.init_scale)), 0, [skipped])
            results["algorithms"][name] = row = {
                "seed_spread": relative_distance(other_seed, reference),
                "16_mixed_to_32_true": relative_distance(mixed, reference),
                "skipped_steps": skipped.skipped[-1],
                "final_scale": run.precision_plugin.scaler.get_scale(),
            }
            print(name, row, flush=True)
    harness.print_json(results, RESULTS / f"mixed_precision_spread_{int(args.init_scale)}.json")


if __name__ == "__main__":
    main()
