"""Check `convert --from rosinality` against the rosinality/stylegan2-pytorch code itself.

    python benchmarks/compare_rosinality.py --rosinality-dir ~/src/stylegan2-pytorch --resolution 256

Imports ``model.py`` from the given checkout at run time (nothing of it is bundled here), builds a
randomly initialised rosinality Generator with every parameter moved off its default, converts its
state dict with our converter, and prints the max absolute image difference for the same z with
stored noise (their ``randomize_noise=False``, our ``noise_mode="const"``), with and without
truncation. Their CUDA extensions are not built: the build call is stubbed and their ops use their
own pure-PyTorch CPU fallbacks, so run this on CPU.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import harness
import torch

from gan_lightning.checkpoints.formats.rosinality import generator_from_rosinality, stylegan_hyper_parameters


def import_rosinality_model(rosinality_dir: Path):
    harness.use_rosinality(rosinality_dir)
    import model  # type: ignore[import-not-found]

    return model


def time_training_pass(model, theirs, ours, args) -> dict:
    """Best of 3: G forward, D on the fakes and on reals, both backward (what Gmain + Dmain cost).

    Each side runs its own training-mode path (theirs: fused grouped convolution; ours: the
    unfused form in training); same batch, same threads, alternating so load changes hit both.
    """
    import torch.nn.functional as F

    from gan_lightning.core.nets.stylegan2 import Discriminator, DiscriminatorConfig

    their_d = model.Discriminator(args.resolution, channel_multiplier=args.channel_multiplier)
    # rosinality's channel_multiplier m gives min(16384 * m // res, 512) channels
    our_d = Discriminator(args.resolution, 3, DiscriminatorConfig(channel_base=16384 * args.channel_multiplier, channel_max=512))
    z = torch.randn(args.batch, args.style_dim)
    real = torch.randn(args.batch, 3, args.resolution, args.resolution)

    def ours_pass() -> None:
        F.softplus(-our_d(ours.train()(z))).mean().backward()
        F.softplus(our_d(real)).mean().backward()

    def theirs_pass() -> None:
        F.softplus(-their_d(theirs.train()([z])[0])).mean().backward()
        F.softplus(their_d(real)).mean().backward()

    timings: dict[str, list[float]] = {"ours": [], "rosinality": []}
    ours_pass(), theirs_pass()  # warm-up
    for _ in range(3):
        for name, fn in (("ours", ours_pass), ("rosinality", theirs_pass)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    return {name: round(min(values), 3) for name, values in timings.items()} | {"torch_threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rosinality-dir", type=Path, required=True)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--channel-multiplier", type=int, default=2)
    parser.add_argument("--style-dim", type=int, default=512)
    parser.add_argument("--n-mlp", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-timing", action="store_true", help="also time a training pass (G through D, D on reals) of both")
    parser.add_argument("--out", type=Path, default=None, help="optional JSON file for the figures")
    args = parser.parse_args()

    model = import_rosinality_model(args.rosinality_dir.expanduser().resolve())
    torch.manual_seed(args.seed)
    theirs = model.Generator(args.resolution, args.style_dim, args.n_mlp, channel_multiplier=args.channel_multiplier).eval()
    with torch.no_grad():  # noise strengths and biases start at zero there: move them so they are checked too
        for name, p in theirs.named_parameters():
            if name.endswith("noise.weight") or name.endswith(".bias"):
                p.add_(torch.randn_like(p) * 0.2)

    ours = generator_from_rosinality(theirs.state_dict())
    z = torch.randn(args.batch, args.style_dim)
    results = {"resolution": args.resolution, "hyper_parameters": stylegan_hyper_parameters(ours), "batch": args.batch}
    with torch.no_grad():
        reference, _ = theirs([z], randomize_noise=False)
        image = ours(z, noise_mode="const")
        results["max_abs_diff"] = (image - reference).abs().max().item()
        w_avg = ours.mapping.w_avg[None]
        reference_t, _ = theirs([z], randomize_noise=False, truncation=0.7, truncation_latent=w_avg)
        results["max_abs_diff_truncation_0.7"] = (ours(z, noise_mode="const", truncation_psi=0.7) - reference_t).abs().max().item()
        results["image_abs_max"] = reference.abs().max().item()
    if args.train_timing:
        results["train_pass_seconds"] = time_training_pass(model, theirs, ours, args)
    harness.print_json(results, args.out)
    if max(results["max_abs_diff"], results["max_abs_diff_truncation_0.7"]) >= 1e-3:
        raise SystemExit("FAIL: max abs difference is 1e-3 or more")


if __name__ == "__main__":
    main()
