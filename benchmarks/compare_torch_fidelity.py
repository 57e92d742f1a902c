"""Compare `evaluate`'s FID, KID, precision/recall and IS with torch-fidelity's own
``calculate_metrics`` on the same two image folders and the same feature network.

With the paper's networks (needs their weight files, see docs/evaluation.md, "Offline clusters"):

    python benchmarks/compare_torch_fidelity.py --generated GEN_DIR --real REAL_DIR \\
        --weights-dir /shared/metric-weights --out benchmarks/results/compare_torch_fidelity_inception.json

Offline smoke check (the shipped shapes classifier for every metric; writes shapes images itself):

    python benchmarks/compare_torch_fidelity.py --detector shapes --make-shapes 64

Images of one folder must share one size; each is read once, in sorted order (no shuffling).
torch-fidelity computes precision/recall on VGG16 features, like `evaluate` (pr50k3_full).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import harness
import numpy as np
import torch
import torch_fidelity
from PIL import Image
from torch.utils.data import Dataset

from gan_lightning.evaluation.detectors import INCEPTION_FILE, VGG16_FILE, weights_file
from gan_lightning.evaluation.fidelity_extractor import NAME, ShapesForTorchFidelity
from gan_lightning.evaluation.protocols import PROTOCOLS
from gan_lightning.evaluation.suite import MetricSuite, RealSet


class Folder(Dataset):
    """uint8 (3, H, W) images of a folder, sorted by name."""

    def __init__(self, root: str) -> None:
        self.paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        if not self.paths:
            raise SystemExit(f"no png/jpg images under {root}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        array = np.asarray(Image.open(self.paths[index]).convert("RGB"))
        return torch.from_numpy(array.copy()).permute(2, 0, 1)

    def as_unit_range(self, indices: list[int]) -> torch.Tensor:
        """Images in [-1, 1], which `evaluate` quantizes back to the same uint8 values."""
        return torch.stack([self[i] for i in indices]).float() / 127.5 - 1


def make_shapes(root: Path, count: int) -> tuple[str, str]:
    from gan_lightning.data.shapes import ShapesDataset
    from gan_lightning.common.images import to_uint8

    for name, seed in (("real", 1), ("generated", 2)):
        (root / name).mkdir(parents=True)
        data = ShapesDataset(count, 32, seed=seed)
        for i in range(count):
            Image.fromarray(to_uint8(data[i][0][None])[0].permute(1, 2, 0).numpy()).save(root / name / f"{i:05d}.png")
    return str(root / "generated"), str(root / "real")


def torch_fidelity_figures(generated: Folder, real: Folder, detector: str, weights_dir: str | None, subset: int) -> dict:
    common = dict(cuda=torch.cuda.is_available(), cache=False, verbose=False, save_cpu_ram=True, samples_shuffle=False, kid_subset_size=subset)
    if detector == "shapes":
        torch_fidelity.register_feature_extractor(NAME, ShapesForTorchFidelity)
        return torch_fidelity.calculate_metrics(input1=generated, input2=real, feature_extractor=NAME, fid=True, kid=True, prc=True, isc=True, **common)
    inception = dict(feature_extractor="inception-v3-compat", feature_extractor_weights_path=weights_file(INCEPTION_FILE, weights_dir))
    figures = torch_fidelity.calculate_metrics(input1=generated, input2=real, fid=True, kid=True, isc=True, **inception, **common)
    vgg = dict(feature_extractor="vgg16", feature_layer_prc="fc2_relu", feature_extractor_weights_path=weights_file(VGG16_FILE, weights_dir))
    figures.update(torch_fidelity.calculate_metrics(input1=generated, input2=real, prc=True, **vgg, **common))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generated", help="folder of generated images")
    parser.add_argument("--real", help="folder of real images")
    parser.add_argument("--detector", default="inception", choices=("inception", "shapes"))
    parser.add_argument("--weights-dir", default=None)
    parser.add_argument("--make-shapes", type=int, default=0, help="write this many bundled shapes images per side and use them")
    parser.add_argument("--out", default=None, help="write the comparison as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.make_shapes:
            args.generated, args.real = make_shapes(Path(tmp), args.make_shapes)
        generated, real = Folder(args.generated), Folder(args.real)
        subset = min(1000, len(generated), len(real))
        theirs = torch_fidelity_figures(generated, real, args.detector, args.weights_dir, subset)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        suite = MetricSuite(
            lambda indices: generated.as_unit_range(indices).to(device),
            RealSet(lambda indices: real.as_unit_range(indices).to(device), len(real), "compare", 0),
            detector_kind=args.detector, weights_dir=args.weights_dir, num_gen=len(generated), device=device,
        )  # fmt: skip
        ours = {}
        for name in ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k"):
            ours.update(suite.compute(PROTOCOLS[name]))
    pairs = {
        "fid50k_full": "frechet_inception_distance",
        "kid50k_full": "kernel_inception_distance_mean",
        "pr50k3_full_precision": "precision",
        "pr50k3_full_recall": "recall",
        "is50k_mean": "inception_score_mean",
        "is50k_std": "inception_score_std",
    }
    rows = {name: {"evaluate": ours[name], "torch_fidelity": float(theirs[key]), "abs_diff": abs(ours[name] - float(theirs[key]))} for name, key in pairs.items()}
    result = {"command": harness.command_line(), "detector": args.detector, "num_generated": len(generated), "num_real": len(real),
              "kid_subset_size": subset, "device": device, "torch_fidelity": torch_fidelity.__version__, "figures": rows}  # fmt: skip
    harness.print_json(result, args.out)


if __name__ == "__main__":
    main()
