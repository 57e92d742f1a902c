"""Check our StyleGAN3 against NVlabs' stylegan3 code itself, and write the small snapshot pickles
the tests read.

    python benchmarks/compare_nvlabs3.py ~/src/stylegan3 --out benchmarks/results/compare_nvlabs3.json
    python benchmarks/compare_nvlabs3.py ~/src/stylegan3 --fixtures tests/assets

Imports ``training/networks_stylegan3.py``, ``networks_stylegan2.py`` and ``augment.py`` from the
given checkout at run time (nothing of it is bundled here); their CUDA plugin loader is stubbed, so
their pure-PyTorch reference ops run on the CPU (``filtered_lrelu`` falls back to ``impl='ref'``).

The comparison builds, for configs T and R at each ``--resolutions`` value, their G (train.py's
G_kwargs: mapping 2, 14 layers, fp16 on the 4 highest rates, clamp 256, magnitude EMA beta for batch
32; R with conv kernel 1, radial filters and doubled channels) and their StyleGAN2 D, moves every
parameter and buffer but the designed filters off its initial value (G_ema differs from G), writes
a snapshot pickle the way their training loop does to a temporary folder outside the project,
reads it back with our restricted unpickler and converter, and records the max absolute difference
of G_ema and G images for the same z (psi 1 and 0.7, and with a rotation + translation set in the
input's ``transform`` as their gen_images.py does) and of D logits. Their fp16 layers run in fp32
(``force_fp32``), as ours do on the CPU.

``--fixtures DIR`` writes, for configs T and R, a 16 px snapshot pickle with tiny channel counts the
way their training loop does (``pickle.dump`` of deep copies of G, D, G_ema and the augment pipe
in eval mode, on the CPU), every parameter and buffer except the designed filters moved off its
initial value (G_ema differs from G), and ``nvlabs3_outputs.pt``: what their own G, G_ema and D
give for fixed inputs (``REFERENCE_INPUTS``), so that the tests compare our conversion with their
code without needing it.
"""

from __future__ import annotations

import argparse
import copy
import math
import pickle
import sys
import tempfile
import types
from pathlib import Path

import harness
import torch

CONFIGS = ("t", "r")
FIXTURE_RESOLUTION = 32


def import_nvlabs3(clone: Path):
    """dnnlib and training.{networks_stylegan3, networks_stylegan2, augment} from the checkout."""
    harness.use_checkout(clone, "training/networks_stylegan3.py", "NVlabs/stylegan3")
    if "pkg_resources" not in sys.modules:  # their conv2d_gradfix imports it for parse_version only
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    from torch_utils import custom_ops  # type: ignore[import-not-found]

    custom_ops.get_plugin = harness._no_extensions
    import dnnlib  # type: ignore[import-not-found]
    from training import augment, networks_stylegan2, networks_stylegan3  # type: ignore[import-not-found]

    return dnnlib, networks_stylegan3, networks_stylegan2, augment


def generator_kwargs(config: str, *, resolution: int, z_dim: int, channel_base: int, channel_max: int, num_layers: int, batch: int) -> dict:
    """Their train.py's G_kwargs for --cfg=stylegan3-CONFIG (num_fp16_res 4, conv_clamp 256, mapping 2)."""
    kwargs = dict(
        z_dim=z_dim, c_dim=0, w_dim=z_dim, img_resolution=resolution, img_channels=3,
        mapping_kwargs=dict(num_layers=2), channel_base=channel_base, channel_max=channel_max,
        num_fp16_res=4, conv_clamp=256, magnitude_ema_beta=0.5 ** (batch / (20 * 1e3)), num_layers=num_layers,
    )  # fmt: skip
    if config == "r":
        kwargs.update(conv_kernel=1, channel_base=channel_base * 2, channel_max=channel_max * 2, use_radial_filters=True)
    return kwargs


def perturb(module: torch.nn.Module, scale: float, generator: torch.Generator) -> None:
    """Every parameter and float buffer but the designed filters moved by scale * N(0, 1) * (|x| mean + 0.1)."""
    with torch.no_grad():
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if name.endswith(("_filter", "resample_filter", "Hz_geom", "Hz_fbank")) or not tensor.is_floating_point():
                continue
            tensor.add_(torch.randn(tensor.shape, generator=generator) * scale * (tensor.abs().mean() + 0.1))


def reference_inputs(z_dim: int, resolution: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(2024)
    return {"z": torch.randn(3, z_dim, generator=g), "images": torch.randn(4, 3, resolution, resolution, generator=g)}


@torch.no_grad()
def nvlabs_outputs(G, G_ema, D, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    z, c = inputs["z"], torch.zeros(len(inputs["z"]), 0)
    return {
        "G_ema": G_ema(z, c, noise_mode="const", force_fp32=True),
        "G_ema_psi0.7": G_ema(z, c, truncation_psi=0.7, noise_mode="const", force_fp32=True),
        "G": G(z, c, noise_mode="const", force_fp32=True),
        "D": D(inputs["images"], torch.zeros(len(inputs["images"]), 0), force_fp32=True),
    }


def write_fixtures(clone: Path, folder: Path) -> None:
    dnnlib, sg3, sg2, augment = import_nvlabs3(clone)
    E = dnnlib.EasyDict
    z_dim, resolution = 8, FIXTURE_RESOLUTION
    outputs: dict[str, dict] = {}
    for index, config in enumerate(CONFIGS):
        torch.manual_seed(index)
        noise = torch.Generator().manual_seed(100 + index)
        G = sg3.Generator(**generator_kwargs(config, resolution=resolution, z_dim=z_dim, channel_base=64, channel_max=8, num_layers=4, batch=32))
        D = sg2.Discriminator(
            c_dim=0, img_resolution=resolution, img_channels=3, channel_base=64, channel_max=8, num_fp16_res=4, conv_clamp=256,
            block_kwargs=E(freeze_layers=0), mapping_kwargs=E(), epilogue_kwargs=E(mbstd_group_size=2),
        )  # fmt: skip
        pipe = augment.AugmentPipe(**harness.NVLABS_BGC)
        for module in (G, D, pipe):
            module.train().requires_grad_(False)
        perturb(G, 0.2, noise)
        perturb(D, 0.2, noise)
        G_ema = copy.deepcopy(G).eval()
        perturb(G_ema, 0.05, noise)
        pipe.p.copy_(torch.rand((), generator=noise))
        snapshot = dict(training_set_kwargs=E(class_name="training.dataset.ImageFolderDataset", path="afhq.zip", resolution=resolution))
        for name, module in (("G", G), ("D", D), ("G_ema", G_ema), ("augment_pipe", pipe)):
            snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
        path = folder / f"nvlabs_stylegan3_{config}{resolution}.pkl"
        with path.open("wb") as file:
            pickle.dump(snapshot, file)
        inputs = reference_inputs(z_dim, resolution)
        outputs[config] = {**inputs, **nvlabs_outputs(snapshot["G"], snapshot["G_ema"], snapshot["D"], inputs)}
        print(f"{path}: {path.stat().st_size / 1e3:.0f} kB")
    torch.save(outputs, folder / "nvlabs3_outputs.pt")


def user_transform(angle: float, tx: float, ty: float) -> torch.Tensor:
    """The input ``transform`` for an output rotated by ``angle`` and translated by (tx, ty): the
    inverse map of the sample coordinates, as their gen_images.py sets it."""
    c, s = math.cos(angle), math.sin(angle)
    m = torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]]) @ torch.tensor([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])
    return torch.linalg.inv(m)


def their_networks(clone: Path, config: str, resolution: int, *, z_dim: int, channel_base: int, channel_max: int, num_layers: int,
                   batch: int, mbstd_group: int, seed: int):
    """Their G (train.py's G_kwargs for the config and batch), their StyleGAN2 D and G_ema, every
    parameter and buffer but the designed filters moved off its initial value (G_ema off G's); G and D
    in train mode, as their loop holds them; and the random generator the moves were drawn from, for
    further inputs."""
    dnnlib, sg3, sg2, _ = import_nvlabs3(clone)
    E = dnnlib.EasyDict
    torch.manual_seed(seed)
    noise = torch.Generator().manual_seed(seed + 1)
    G = sg3.Generator(**generator_kwargs(config, resolution=resolution, z_dim=z_dim, channel_base=channel_base, channel_max=channel_max, num_layers=num_layers, batch=batch))
    D = sg2.Discriminator(
        c_dim=0, img_resolution=resolution, img_channels=3, channel_base=channel_base, channel_max=channel_max, num_fp16_res=4,
        conv_clamp=256, block_kwargs=E(freeze_layers=0), mapping_kwargs=E(), epilogue_kwargs=E(mbstd_group_size=mbstd_group),
    )  # fmt: skip
    for module in (G, D):
        module.train().requires_grad_(False)
    perturb(G, 0.2, noise)
    perturb(D, 0.2, noise)
    G_ema = copy.deepcopy(G).eval()
    perturb(G_ema, 0.05, noise)
    return G, D, G_ema, noise


def read_as_snapshot(G, D, G_ema, resolution: int) -> tuple[dict, dict]:
    """The networks pickled as their training loop writes a snapshot (to a temporary folder outside
    the project), and what our restricted unpickler reads back: (their snapshot, ours)."""
    import dnnlib  # type: ignore[import-not-found]  # importable once import_nvlabs3 ran

    from gan_lightning.checkpoints.formats.nvlabs import load_nvlabs_pickle

    snapshot = dict(training_set_kwargs=dnnlib.EasyDict(resolution=resolution))
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network-snapshot-000000.pkl"
        with path.open("wb") as file:
            pickle.dump(snapshot, file)
        return snapshot, load_nvlabs_pickle(path)


def compare(clone: Path, config: str, resolution: int, args) -> dict:
    from gan_lightning.checkpoints.formats.nvlabs import discriminator_from_nvlabs
    from gan_lightning.checkpoints.formats.nvlabs_stylegan3 import stylegan3_generator_from_nvlabs

    G, D, G_ema, noise = their_networks(
        clone, config, resolution, z_dim=args.z_dim, channel_base=args.channel_base, channel_max=args.channel_max,
        num_layers=14, batch=32, mbstd_group=4, seed=args.seed,
    )  # fmt: skip
    snapshot, read = read_as_snapshot(G, D, G_ema, resolution)
    ours = {name: stylegan3_generator_from_nvlabs(read[name]) for name in ("G", "G_ema")}
    d = discriminator_from_nvlabs(read["D"])
    z = torch.randn(args.batch, args.z_dim, generator=noise)
    c = torch.zeros(args.batch, 0)
    record: dict = {"config": config, "resolution": resolution, "generator": dataclass_dict(ours["G_ema"].config)}
    with torch.no_grad():
        for name in ("G_ema", "G"):
            theirs = snapshot[name]
            for psi in (1.0, 0.7):
                reference = theirs(z, c, truncation_psi=psi, noise_mode="const", force_fp32=True)
                record[f"{name}_image_max_abs_diff_psi{psi:g}"] = (ours[name](z, truncation_psi=psi) - reference).abs().max().item()
            record[f"{name}_image_abs_max"] = reference.abs().max().item()
        transform = user_transform(0.3, 0.125, -0.25)
        snapshot["G_ema"].synthesis.input.transform.copy_(transform)
        ours["G_ema"].synthesis.input.transform.copy_(transform)
        reference = snapshot["G_ema"](z, c, noise_mode="const", force_fp32=True)
        record["G_ema_transformed_image_max_abs_diff"] = (ours["G_ema"](z) - reference).abs().max().item()
        images = torch.cat([reference, torch.randn(args.batch, 3, resolution, resolution, generator=noise)])
        logits = snapshot["D"](images, torch.zeros(len(images), 0), force_fp32=True)
        record["D_logits_max_abs_diff"] = (d(images) - logits).abs().max().item()
        record["D_logits_abs_max"] = logits.abs().max().item()
    return record


def dataclass_dict(config) -> dict:
    import dataclasses

    return dataclasses.asdict(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan3 outside this repository")
    parser.add_argument("--fixtures", type=Path, help="only write the test snapshot pickles and their outputs into this folder")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--channel-base", type=int, default=32768, help="config T's; R doubles it, as their train.py does")
    parser.add_argument("--channel-max", type=int, default=512)
    parser.add_argument("--z-dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--out", type=Path, help="optional JSON file for the figures")
    args = parser.parse_args()
    clone = args.clone.expanduser().resolve()
    if args.fixtures:
        args.fixtures.mkdir(parents=True, exist_ok=True)
        write_fixtures(clone, args.fixtures)
        return
    records = [compare(clone, config, resolution, args) for config in args.configs for resolution in args.resolutions]
    worst = max(v for r in records for k, v in r.items() if "max_abs_diff" in k)
    harness.print_json({"machine": harness.cpu_name(), "command": harness.command_line(), "tolerance": args.tolerance, "worst_max_abs_diff": worst, "runs": records}, args.out)
    if worst > args.tolerance:
        raise SystemExit(f"FAIL: max abs difference {worst:.3g} is more than {args.tolerance:g}")


if __name__ == "__main__":
    main()
