"""Check our equivariance metrics (eqt50k_int, eqt50k_frac, eqr50k) against NVlabs' stylegan3 code.

    python benchmarks/compare_nvlabs3_equivariance.py ~/src/stylegan3 --out benchmarks/results/compare_nvlabs3_equivariance.json

Imports ``metrics/equivariance.py`` and the networks from the given checkout at run time (nothing
of it is bundled here; their CUDA plugin loader is stubbed so their reference ops run on the CPU).

Two checks, for configs T and R:

1. The pixel-space operators on random images: integer and fractional translations, rotation and
   pseudo-rotation, and the band-limiting filter, at several transforms: max abs difference of the
   masked images and of the masks.
2. The metrics themselves on a small generator of theirs (random weights moved off their initial
   values, a snapshot pickle written and read back by our converter): their
   ``compute_equivariance_metrics`` and our ``equivariance_psnr`` over the same samples. Their loop
   draws z and the transform from the global RNG; here those draws are answered with the latents and
   transforms our metric uses for the same group (a stand-in for ``torch`` inside their module that
   passes everything else through), so both compute the same samples and the PSNRs must agree.
"""

from __future__ import annotations

import argparse
import copy
import math
import pickle
import tempfile
import time
from pathlib import Path

import harness
import torch
from compare_nvlabs3 import generator_kwargs, import_nvlabs3, perturb

from gan_lightning.common.sampling import latents_for_seeds
from gan_lightning.evaluation import equivariance as ours

METRICS = {"eqt50k_int": "compute_eqt_int", "eqt50k_frac": "compute_eqt_frac", "eqr50k": "compute_eqr"}


def import_their_metrics(clone: Path):
    import_nvlabs3(clone)
    from metrics import equivariance, metric_utils  # type: ignore[import-not-found]

    return equivariance, metric_utils


@torch.no_grad()
def compare_operators(theirs, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 32, 32, generator=g)
    diffs: dict[str, float] = {}

    def record(name: str, a: tuple, b: tuple) -> None:
        (ai, am), (bi, bm) = a, b
        diffs[f"{name}_image"] = max(diffs.get(f"{name}_image", 0.0), (ai * am - bi * bm).abs().max().item())
        diffs[f"{name}_mask"] = max(diffs.get(f"{name}_mask", 0.0), (am - bm).abs().max().item())

    for tx, ty in [(0.0, 0.0), (0.1, -0.05), (-0.125, 0.03), (0.07, 0.11)]:
        t = torch.tensor([tx, ty])
        record("integer_translation", theirs.apply_integer_translation(x, t[0], t[1]), ours.integer_translation(x, tx, ty))
        record("fractional_translation", theirs.apply_fractional_translation(x, t[0], t[1]), ours.fractional_translation(x, tx, ty))
    for angle in [0.0, 0.3, -2.0, math.pi]:
        f = theirs.construct_affine_bandlimit_filter(theirs.rotation_matrix(angle), a=3, amax=6, up=4) * 16  # their gain up**2 applied later
        diffs["bandlimit_filter"] = max(diffs.get("bandlimit_filter", 0.0), (f - ours.bandlimit_filter(ours.rotation(angle))).abs().max().item())
        record("rotation", theirs.apply_fractional_rotation(x, torch.tensor(angle)), ours.fractional_rotation(x, angle))
        record("pseudo_rotation", theirs.apply_fractional_pseudo_rotation(x, torch.tensor(angle)), ours.pseudo_rotation(x, angle))
    return diffs


class SameDraws:
    """Stands in for ``torch`` in their module: ``randn`` gives our latents of the next group and
    ``rand`` the uniform numbers their formula turns into our transform of that group."""

    def __init__(self, metric: str, z_dim: int, resolution: int) -> None:
        self.kind, self.z_dim, self.resolution, self.group = ours.METRICS[metric].kind, z_dim, resolution, -1

    def __getattr__(self, name: str):
        return getattr(torch, name)

    def randn(self, shape, device=None):
        self.group += 1
        return latents_for_seeds(list(range(self.group * ours.GROUP_SIZE, (self.group + 1) * ours.GROUP_SIZE)), self.z_dim, device)

    def rand(self, shape, device=None):
        tx, ty, angle = ours.random_transform(self.kind, self.group, self.resolution, ours.TRANSLATE_MAX, ours.ROTATE_MAX)
        if self.kind == "rot":
            return torch.tensor((angle / math.pi + 1) / 2, device=device)
        return (torch.tensor([tx, ty], dtype=torch.float64) / ours.TRANSLATE_MAX + 1).div(2).float().to(device)


def compare_metrics(clone: Path, theirs, metric_utils, config: str, args) -> dict:
    from gan_lightning.checkpoints.formats.nvlabs import load_nvlabs_pickle
    from gan_lightning.checkpoints.formats.nvlabs_stylegan3 import stylegan3_generator_from_nvlabs

    _, sg3, _, _ = import_nvlabs3(clone)
    torch.manual_seed(args.seed)
    G = sg3.Generator(
        **generator_kwargs(
            config, resolution=args.resolution, z_dim=args.z_dim, channel_base=args.channel_base, channel_max=args.channel_max, num_layers=args.num_layers, batch=32
        )
    ).eval().requires_grad_(False)  # fmt: skip
    perturb(G, 0.2, torch.Generator().manual_seed(args.seed + 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network-snapshot-000000.pkl"
        with path.open("wb") as file:
            pickle.dump({"G_ema": copy.deepcopy(G)}, file)
        generator = stylegan3_generator_from_nvlabs(load_nvlabs_pickle(path)["G_ema"]).eval()
    record: dict = {"config": config, "resolution": args.resolution, "num_samples": args.num_samples}
    for metric, flag in METRICS.items():
        start = time.time()
        mine = ours.equivariance_psnr(generator, metric, args.num_samples)
        record[f"{metric}_seconds_ours"] = time.time() - start
        opts = metric_utils.MetricOptions(G=G, device=torch.device("cpu"))
        theirs.torch = SameDraws(metric, args.z_dim, args.resolution)
        try:
            start = time.time()
            reference = float(theirs.compute_equivariance_metrics(opts, num_samples=args.num_samples, batch_size=ours.GROUP_SIZE, **{flag: True}))
            record[f"{metric}_seconds_nvlabs"] = time.time() - start
        finally:
            theirs.torch = torch
        record[f"{metric}_ours"], record[f"{metric}_nvlabs"] = mine, reference
        record[f"{metric}_abs_diff_db"] = abs(mine - reference)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan3 outside this repository")
    parser.add_argument("--configs", nargs="+", choices=("t", "r"), default=["t", "r"])
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--channel-base", type=int, default=256)
    parser.add_argument("--channel-max", type=int, default=16)
    parser.add_argument("--num-layers", type=int, default=6)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance-db", type=float, default=0.01, help="largest allowed PSNR difference (0.01 dB: 0.23%% of the MSE, float32 rounding of images near 110 dB)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed pixel difference of the operators")
    parser.add_argument("--out", type=Path, help="optional JSON file for the figures")
    args = parser.parse_args()
    clone = args.clone.expanduser().resolve()
    theirs, metric_utils = import_their_metrics(clone)
    operators = compare_operators(theirs, args.seed)
    runs = [compare_metrics(clone, theirs, metric_utils, config, args) for config in args.configs]
    worst_db = max(v for r in runs for k, v in r.items() if k.endswith("_abs_diff_db"))
    worst_pixel = max(operators.values())
    harness.print_json(
        {"machine": harness.cpu_name(), "command": harness.command_line(), "tolerance_db": args.tolerance_db, "tolerance": args.tolerance,
         "worst_abs_diff_db": worst_db, "operators_max_abs_diff": operators, "runs": runs},
        args.out,
    )  # fmt: skip
    if worst_db > args.tolerance_db or worst_pixel > args.tolerance:
        raise SystemExit(f"FAIL: PSNR difference {worst_db:.3g} dB (allowed {args.tolerance_db:g}), operators {worst_pixel:.3g} (allowed {args.tolerance:g})")


if __name__ == "__main__":
    main()
