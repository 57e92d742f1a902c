"""Check our StyleGAN3 against NVlabs' stylegan3 code itself, and write the small snapshot pickles
the tests read.

    python benchmarks/compare_nvlabs3.py ~/src/stylegan3 --fixtures tests/assets

Imports ``training/networks_stylegan3.py``, ``networks_stylegan2.py`` and ``augment.py`` from the
given checkout at run time (nothing of it is bundled here); their CUDA plugin loader is stubbed, so
their pure-PyTorch reference ops run on the CPU (``filtered_lrelu`` falls back to ``impl='ref'``).

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
import pickle
import sys
import types
from pathlib import Path

import harness
import torch

CONFIGS = ("t", "r")
FIXTURE_RESOLUTION = 16


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan3 outside this repository")
    parser.add_argument("--fixtures", type=Path, help="write the test snapshot pickles and their outputs into this folder")
    args = parser.parse_args()
    if args.fixtures:
        args.fixtures.mkdir(parents=True, exist_ok=True)
        write_fixtures(args.clone.resolve(), args.fixtures)


if __name__ == "__main__":
    main()
