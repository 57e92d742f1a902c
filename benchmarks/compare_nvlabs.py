"""Check `convert --from nvlabs` against NVlabs' stylegan2-ada-pytorch code itself.

    python benchmarks/compare_nvlabs.py ~/src/stylegan2-ada-pytorch --resolution 64 \
        --out benchmarks/results/compare_nvlabs_64.json

Imports ``training/networks.py`` and ``training/augment.py`` from the given checkout at run time
(nothing of it is bundled here), builds G, D and an AugmentPipe (the 'bgc' set) with NVlabs'
train.py settings (fp16 on the 4 highest resolutions, conv clamp 256), moves every parameter and
buffer off its initial value (noise strengths, biases, w_avg, noise_const, p; G_ema differs from
G), writes a snapshot pickle the way their training loop does (``pickle.dump`` of deep copies in
eval mode on the CPU) to a temporary folder outside the project, reads it back with our restricted
unpickler and converter, and prints the max absolute difference of G_ema and G images for the
same z (their ``noise_mode='const'``, ours too; with and without truncation), of D logits for the
same images, and of ADA p. Their custom CUDA ops are not built (the plugin loader is stubbed, their
reference PyTorch paths run); their fp16 blocks run in fp32 (``force_fp32``), as ours do on the CPU.
"""

from __future__ import annotations

import argparse
import copy
import pickle
import tempfile
from pathlib import Path

import harness
import torch

from gan_lightning.checkpoints.formats.nvlabs import convert_nvlabs, load_nvlabs_pickle
from gan_lightning.core.nets.stylegan2 import Discriminator, Generator


def import_nvlabs(clone: Path):
    """NVlabs' dnnlib, training.networks and training.augment from the checkout."""
    harness.use_nvlabs(clone)
    import dnnlib  # type: ignore[import-not-found]
    from training import augment, networks  # type: ignore[import-not-found]

    return dnnlib, networks, augment


def perturb(module: torch.nn.Module, scale: float, generator: torch.Generator) -> None:
    """Every parameter and float buffer (except the resampling filters) moved by scale * N(0, 1) * (|x| mean + 0.1)."""
    with torch.no_grad():
        tensors = list(module.named_parameters()) + list(module.named_buffers())
        for name, t in tensors:
            if name.endswith("resample_filter") or not t.is_floating_point() or name.endswith("Hz_geom") or name.endswith("Hz_fbank"):
                continue
            t.add_(torch.randn(t.shape, generator=generator) * scale * (t.abs().mean() + 0.1))


def write_snapshot(path: Path, args, dnnlib, networks, augment) -> dict:
    E = dnnlib.EasyDict
    g_kwargs = E(
        z_dim=args.z_dim,
        w_dim=args.z_dim,
        mapping_kwargs=E(num_layers=args.mapping_layers),
        synthesis_kwargs=E(channel_base=args.channel_base, channel_max=args.channel_max, num_fp16_res=4, conv_clamp=256),
    )
    d_kwargs = E(
        block_kwargs=E(),
        mapping_kwargs=E(),
        epilogue_kwargs=E(mbstd_group_size=args.mbstd_group),
        architecture=args.d_architecture,
        channel_base=args.channel_base,
        channel_max=args.channel_max,
        num_fp16_res=4,
        conv_clamp=256,
    )
    common = dict(c_dim=args.c_dim, img_resolution=args.resolution, img_channels=3)
    torch.manual_seed(args.seed)
    noise = torch.Generator().manual_seed(args.seed + 1)
    G = networks.Generator(**g_kwargs, **common).train().requires_grad_(False)
    D = networks.Discriminator(**d_kwargs, **common).train().requires_grad_(False)
    perturb(G, 0.2, noise)
    perturb(D, 0.2, noise)
    G_ema = copy.deepcopy(G).eval()
    perturb(G_ema, 0.05, noise)
    pipe = augment.AugmentPipe(**harness.NVLABS_BGC).train().requires_grad_(False)
    pipe.p.copy_(torch.rand((), generator=noise))
    snapshot = dict(training_set_kwargs=dict(E(class_name="training.dataset.ImageFolderDataset", path="data.zip", use_labels=args.c_dim > 0, max_size=1000, xflip=False, resolution=args.resolution)))
    for name, module in [("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", pipe)]:
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    with path.open("wb") as f:
        pickle.dump(snapshot, f)
    return snapshot


def snapshot_arguments(parser: argparse.ArgumentParser, resolution: int, channel_base: int, channel_max: int, z_dim: int, mapping_layers: int) -> None:
    """The checkout and the network sizes ``write_snapshot`` reads, with a script's defaults."""
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("--resolution", type=int, default=resolution)
    parser.add_argument("--channel-base", type=int, default=channel_base)
    parser.add_argument("--channel-max", type=int, default=channel_max)
    parser.add_argument("--z-dim", type=int, default=z_dim)
    parser.add_argument("--mapping-layers", type=int, default=mapping_layers)
    parser.add_argument("--mbstd-group", type=int, default=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    snapshot_arguments(parser, resolution=64, channel_base=4096, channel_max=128, z_dim=64, mapping_layers=8)
    parser.add_argument("--c-dim", type=int, default=0, help="class labels (0: unconditional)")
    parser.add_argument("--d-architecture", default="resnet", choices=["resnet", "orig"], help="D blocks (orig: NVlabs' cifar preset)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="optional JSON file for the figures")
    args = parser.parse_args()

    dnnlib, networks, augment = import_nvlabs(args.clone.expanduser().resolve())
    with tempfile.TemporaryDirectory() as tmp:
        pkl = Path(tmp) / "network-snapshot-000000.pkl"
        theirs = write_snapshot(pkl, args, dnnlib, networks, augment)
        converted = convert_nvlabs(load_nvlabs_pickle(pkl))
    hp, state = converted["hyper_parameters"], converted["state_dict"]

    def ours(prefix: str, network: torch.nn.Module) -> torch.nn.Module:
        network.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        return network.eval()

    g_ema = ours("generator_ema.", Generator(hp["resolution"], hp["channels"], hp["generator"]))
    g = ours("generator.", Generator(hp["resolution"], hp["channels"], hp["generator"]))
    d = ours("discriminator.", Discriminator(hp["resolution"], hp["channels"], hp["discriminator"]))

    torch.manual_seed(args.seed + 2)
    z = torch.randn(args.batch, args.z_dim)
    c = torch.nn.functional.one_hot(torch.arange(args.batch) % max(args.c_dim, 1), max(args.c_dim, 1)).float() if args.c_dim else None
    c_theirs = c if c is not None else torch.zeros(args.batch, 0)
    results: dict = {"resolution": args.resolution, "hyper_parameters": hp, "batch": args.batch}
    with torch.no_grad():
        for name, mine, their in (("G_ema", g_ema, theirs["G_ema"]), ("G", g, theirs["G"])):
            for psi in (1.0, 0.7):
                reference = their(z, c_theirs, truncation_psi=psi, noise_mode="const", force_fp32=True)
                image = mine(z, c, truncation_psi=psi, noise_mode="const")
                results[f"{name}_image_max_abs_diff_psi{psi:g}"] = (image - reference).abs().max().item()
            results[f"{name}_image_abs_max"] = reference.abs().max().item()
        images = torch.cat([theirs["G_ema"](z, c_theirs, noise_mode="const", force_fp32=True), torch.randn(args.batch, 3, args.resolution, args.resolution)])
        c2 = None if c is None else torch.cat([c, c])
        c2_theirs = c2 if c2 is not None else torch.zeros(2 * args.batch, 0)
        reference_logits = theirs["D"](images, c2_theirs, force_fp32=True)
        results["D_logits_max_abs_diff"] = (d(images, c2) - reference_logits).abs().max().item()
        results["D_logits_abs_max"] = reference_logits.abs().max().item()
        results["ada_p_abs_diff"] = abs(float(state["augment.p"]) - float(theirs["augment_pipe"].p))
        results["ada_p"] = float(theirs["augment_pipe"].p)
    harness.print_json(results, args.out)
    worst = max(v for k, v in results.items() if k.endswith("diff") or "max_abs_diff" in k)
    if worst > 1e-3:
        raise SystemExit(f"FAIL: max abs difference {worst:.3g} is more than 1e-3")


if __name__ == "__main__":
    main()
