"""Check configs/stylegan3_t.yaml and configs/stylegan3_r.yaml against the values NVlabs' stylegan3
code sets, read from their code rather than from our copy of their table.

    python benchmarks/compare_nvlabs3_presets.py ~/src/stylegan3

Runs their train.py ``main`` for --cfg=stylegan3-t / -r on 8 GPUs at batch 32 (as their docs' tables)
with the dataset reader and the launch stubbed, so the config dict it builds is captured; reads the
defaults it leaves to their training loop, loss and networks from those functions' signatures; reads
R1 gamma for 256 px (our presets' resolution) from their docs/configs.md recommended table. Our side
is what ``fit --config ... --print_config`` prints. Prints one line per value and exits non-zero
when a value differs.
"""

from __future__ import annotations

import argparse
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import harness
import yaml
from compare_nvlabs3 import import_nvlabs3

GPUS, BATCH = 8, 32  # their docs' tables: 8 GPUs, --batch=32


def their_config(clone: Path, cfg: str) -> dict:
    """The config dict their train.py builds for ``--cfg=cfg`` (gamma passed as 1: read from their docs)."""
    import_nvlabs3(clone)
    sys.modules.setdefault("psutil", types.ModuleType("psutil"))  # imported by their loop for memory stats only
    import dnnlib  # type: ignore[import-not-found]
    import train  # type: ignore[import-not-found]

    captured: dict = {}
    train.init_dataset_kwargs = lambda data: (dnnlib.EasyDict(class_name="training.dataset.ImageFolderDataset", path=data, use_labels=False), "data")
    train.launch_training = lambda c, desc, outdir, dry_run: captured.update(c)
    train.main(
        args=[f"--cfg={cfg}", "--data=data.zip", "--outdir=/nonexistent", f"--gpus={GPUS}", f"--batch={BATCH}", "--gamma=1"],
        standalone_mode=False,
    )  # fmt: skip
    return captured


def defaults(function) -> dict:
    """A function's (or a class's constructor's) keyword defaults; their persistent classes wrap the
    constructor in (*args, **kwargs), so the class they decorate is read."""
    if inspect.isclass(function):
        function = (function.__mro__[1] if hasattr(function, "_orig_class_name") else function).__init__
    return {k: p.default for k, p in inspect.signature(function).parameters.items() if p.default is not inspect.Parameter.empty}


def docs_gamma(clone: Path, cfg: str, resolution: int) -> set[float]:
    """The --gamma values of their recommended configurations for ``cfg`` at ``resolution`` px."""
    text = (clone / "docs" / "configs.md").read_text()
    section = text.split(f"#### {resolution}x{resolution} resolution", 1)[1].split("####", 1)[0]
    return {float(g) for g in re.findall(rf"--cfg={cfg} [^`]*--gamma=([0-9.]+)", section)}


def our_config(name: str) -> dict:
    printed = subprocess.run(
        [sys.executable, "-m", "gan_lightning", "fit", "--config", f"configs/{name}.yaml", "--print_config"],
        cwd=harness.REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return yaml.safe_load(printed)


def comparisons(clone: Path, config: str) -> list[tuple[str, object, object]]:
    """(what, theirs, ours) for one config; what starts with "(not compared)" for a value shown only."""
    c = their_config(clone, f"stylegan3-{config}")
    from training import loss, networks_stylegan2, networks_stylegan3, training_loop  # type: ignore[import-not-found]

    loop, loss_defaults = defaults(training_loop.training_loop), defaults(loss.StyleGAN2Loss)
    synthesis, d_defaults = defaults(networks_stylegan3.SynthesisNetwork), defaults(networks_stylegan2.Discriminator)
    layer = defaults(networks_stylegan3.SynthesisLayer)
    ours = our_config(f"stylegan3_{config}")
    model, data = ours["model"]["init_args"], ours["data"]["init_args"]
    g, d = model["stylegan3"], model["discriminator"]
    lk = {**loss_defaults, **c["loss_kwargs"]}
    their_resolution = 256
    return [
        ("global batch (ours: per GPU x their 8 GPUs)", c["batch_size"], data["batch_size"] * GPUS),
        ("G lr", c["G_opt_kwargs"]["lr"], model["lr"]),
        ("D lr", c["D_opt_kwargs"]["lr"], model["d_lr"]),
        ("Adam betas (G and D)", [list(c["G_opt_kwargs"]["betas"]), list(c["D_opt_kwargs"]["betas"])], [model["betas"], model["betas"]]),
        ("mapping layers", c["G_kwargs"]["mapping_kwargs"]["num_layers"], g["mapping_layers"]),
        ("z_dim, w_dim", [c["G_kwargs"]["z_dim"], c["G_kwargs"]["w_dim"]], [g["z_dim"], g["w_dim"]]),
        ("G channel_base, channel_max", [c["G_kwargs"]["channel_base"], c["G_kwargs"]["channel_max"]], [g["channel_base"], g["channel_max"]]),
        ("D channel_base, channel_max", [c["D_kwargs"]["channel_base"], c["D_kwargs"]["channel_max"]], [d["channel_base"], d["channel_max"]]),
        ("G conv_kernel", c["G_kwargs"].get("conv_kernel", layer["conv_kernel"]), g["conv_kernel"]),
        ("G use_radial_filters", c["G_kwargs"].get("use_radial_filters", layer["use_radial_filters"]), g["use_radial_filters"]),
        ("G num_layers", synthesis["num_layers"], g["num_layers"]),
        ("G num_fp16_res, conv_clamp", [synthesis["num_fp16_res"], layer["conv_clamp"]], [g["num_fp16_res"], g["conv_clamp"]]),
        ("D num_fp16_res, conv_clamp", [d_defaults["num_fp16_res"], d_defaults["conv_clamp"]], [d["num_fp16_res"], d["conv_clamp"]]),
        ("magnitude_ema_beta", c["G_kwargs"]["magnitude_ema_beta"], g["magnitude_ema_beta"]),
        ("D minibatch-std group", c["D_kwargs"]["epilogue_kwargs"]["mbstd_group_size"], d["mbstd_group_size"]),
        ("EMA kimg", c["ema_kimg"], model["ema_kimg"]),
        ("EMA ramp-up", loop["ema_rampup"], model["ema_rampup"]),
        ("lazy G regularization (None: none; ours pl_weight 0)", [c.get("G_reg_interval", loop["G_reg_interval"]), lk["pl_weight"]], [None, model["pl_weight"]]),
        ("lazy R1 interval", c.get("D_reg_interval", loop["D_reg_interval"]), model["r1_interval"]),
        ("style mixing", lk["style_mixing_prob"], model["style_mixing_prob"]),
        ("blur_init_sigma", lk["blur_init_sigma"], model["blur_init_sigma"]),
        ("blur_fade_kimg (ours applies only where blur_init_sigma > 0)", lk["blur_fade_kimg"], model["blur_fade_kimg"] if model["blur_init_sigma"] else 0),
        ("ADA target, interval, kimg", [c["ada_target"], loop["ada_interval"], loop["ada_kimg"]], [model["ada_target"], model["ada_interval"], model["ada_kimg"]]),
        ("kimg", c["total_kimg"], model["max_kimg"]),
        (f"R1 gamma at {their_resolution} px (their docs' table)", docs_gamma(clone, f"stylegan3-{config}", their_resolution), {model["r1_gamma"]}),
        ("resolution", their_resolution, data["resolution"]),
        # a dataset choice, not the config's: their --mirror is off by default, on in their paper's runs
        ("(not compared) x-flips", c["training_set_kwargs"]["xflip"], data["flip"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clone", type=Path, help="a checkout of NVlabs/stylegan3 outside this repository")
    args = parser.parse_args()
    clone = args.clone.expanduser().resolve()
    differ = []
    for config in ("t", "r"):
        for what, theirs, ours in comparisons(clone, config):
            same = theirs == ours or what.startswith("(not compared)")
            print(f"stylegan3_{config}: {what}: theirs {theirs}, ours {ours}{'' if same else '  <-- DIFFERS'}")
            differ += [] if same else [f"stylegan3_{config} {what}"]
    if differ:
        raise SystemExit("FAIL: " + "; ".join(differ))
    print("OK: configs/stylegan3_t.yaml and stylegan3_r.yaml hold their train.py's values")


if __name__ == "__main__":
    main()
