"""A researcher picks one of NVlabs' stylegan2-ada-pytorch presets (train.py ``cfg_specs``) and gets
their values: each preset file parses with `fit --print_config` and holds the table below, and the
``auto`` preset fills batch, group size, widths, lr, gamma and EMA by NVlabs' rule."""

from __future__ import annotations

import pytest
import yaml
from jsonargparse import dict_to_namespace

from gan_lightning.cli.run_config import apply_nvlabs_auto, gpu_count
from gan_lightning.training.nvlabs_auto import nvlabs_auto
from tests.conftest import REPO, run_cli

# Written from NVlabs train.py cfg_specs: ref_gpus, kimg, mb (global batch), mbstd, fmaps, lrate, gamma,
# ema (kimg), ramp (EMA ramp-up), map (mapping layers); cifar also sets pl_weight 0, style_mixing_prob 0,
# D architecture 'orig'. -1: chosen by the auto rule.
CFG_SPECS = {
    "stylegan_config_f": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=10, ema=10, ramp=None, map=8),
    "stylegan_256": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=0.5, lrate=0.0025, gamma=1, ema=20, ramp=None, map=8),
    "stylegan_512": dict(ref_gpus=8, kimg=25000, mb=64, mbstd=8, fmaps=1, lrate=0.0025, gamma=0.5, ema=20, ramp=None, map=8),
    "stylegan_1024": dict(ref_gpus=8, kimg=25000, mb=32, mbstd=4, fmaps=1, lrate=0.002, gamma=2, ema=10, ramp=None, map=8),
    "stylegan_cifar": dict(ref_gpus=2, kimg=100000, mb=64, mbstd=32, fmaps=1, lrate=0.0025, gamma=0.01, ema=500, ramp=0.05, map=2),
    "stylegan_auto": dict(ref_gpus=-1, kimg=25000, mb=-1, mbstd=-1, fmaps=-1, lrate=-1, gamma=-1, ema=-1, ramp=0.05, map=2),
}
CIFAR_ONLY = dict(pl_weight=0.0, style_mixing_prob=0.0, architecture="orig")
# What NVlabs' train.py and StyleGAN2Loss / training loop use for every preset.
COMMON = dict(z_dim=512, w_dim=512, channel_max=512, r1_interval=16, pl_interval=4, pl_decay=0.01, pl_batch_shrink=2,
              betas=[0.0, 0.99], ada_target=0.6, ada_interval=4, ada_kimg=500.0, augment_p=0.0)  # fmt: skip


def printed_config(name: str, capsys: pytest.CaptureFixture) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", REPO / "configs" / f"{name}.yaml", "--print_config")
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(CFG_SPECS))
def test_each_nvlabs_preset_parses_and_holds_their_values(name: str, capsys: pytest.CaptureFixture) -> None:
    spec = CFG_SPECS[name]
    config = printed_config(name, capsys)
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    g, d = model["generator"], model["discriminator"]
    assert model["max_kimg"] == spec["kimg"]
    assert model["ema_rampup"] == spec["ramp"]
    assert g["mapping_layers"] == spec["map"]
    assert config.get("nvlabs_auto", False) == (spec["mb"] == -1)
    if spec["mb"] != -1:
        assert data["batch_size"] * spec["ref_gpus"] == spec["mb"]  # per GPU on their GPU count
        assert d["mbstd_group_size"] == spec["mbstd"]
        assert g["channel_base"] == d["channel_base"] == int(spec["fmaps"] * 32768)
        assert model["lr"] == spec["lrate"]
        assert model["r1_gamma"] == spec["gamma"]
        assert model["ema_kimg"] == spec["ema"]
    cifar = name == "stylegan_cifar"
    assert model["pl_weight"] == (CIFAR_ONLY["pl_weight"] if cifar else 2.0)
    assert model["style_mixing_prob"] == (CIFAR_ONLY["style_mixing_prob"] if cifar else 0.9)
    assert d["architecture"] == (CIFAR_ONLY["architecture"] if cifar else "resnet")
    for key, value in COMMON.items():
        actual = g[key] if key in ("z_dim", "w_dim") else d[key] if key == "channel_max" else model[key]
        assert actual == value, key
    assert model["ada"] is True


# (resolution, GPUs) -> batch, per GPU, mbstd group, channel_base, lr, gamma, ema kimg: worked by hand
# from NVlabs' auto rule (mb = max(min(gpus * min(4096 // res, 32), 64), gpus), gamma = 0.0002 res^2 / mb ...).
AUTO_CASES = {
    (256, 1): (16, 16, 4, 16384, 0.0025, 0.8192, 5.0),
    (256, 8): (64, 8, 4, 16384, 0.0025, 0.2048, 20.0),
    (512, 1): (8, 8, 4, 32768, 0.0025, 6.5536, 2.5),
    (1024, 8): (32, 4, 4, 32768, 0.002, 6.5536, 10.0),
    (32, 2): (64, 32, 4, 16384, 0.0025, 0.0032, 20.0),
    (128, 3): (64, 21, 4, 16384, 0.0025, 0.0512, 20.0),
}


@pytest.mark.parametrize("resolution,gpus", sorted(AUTO_CASES))
def test_auto_rule_gives_nvlabs_values(resolution: int, gpus: int) -> None:
    batch, per_gpu, mbstd, channel_base, lr, gamma, ema = AUTO_CASES[resolution, gpus]
    s = nvlabs_auto(resolution, gpus)
    assert (s.batch, s.batch_per_gpu, s.mbstd_group_size, s.channel_base, s.lr, s.ema_kimg) == (batch, per_gpu, mbstd, channel_base, lr, ema)
    assert s.r1_gamma == pytest.approx(gamma)


def test_auto_preset_fills_the_config_and_command_line_options_win(capsys: pytest.CaptureFixture) -> None:
    section = dict_to_namespace(printed_config("stylegan_auto", capsys))
    section.data.init_args.resolution = 512
    section.trainer.devices, section.trainer.num_nodes = 2, 2
    report = apply_nvlabs_auto(section, ["--model.init_args.r1_gamma", "3", "--data.init_args.num_workers", "0"])
    # 4 GPUs at 512 px: batch max(min(4 * 8, 64), 4) = 32, 8 per GPU
    assert section.data.init_args.batch_size == 8
    assert section.model.init_args.generator.channel_base == section.model.init_args.discriminator.channel_base == 32768
    assert section.model.init_args.discriminator.mbstd_group_size == 4
    assert (section.model.init_args.lr, section.model.init_args.ema_kimg) == (0.0025, 10.0)
    assert section.model.init_args.r1_gamma == 10.0  # not replaced (in a real run it holds the command line's 3)
    assert "512 px, 4 GPUs, global batch 32" in report and "kept from the command line: r1_gamma" in report
    assert "\n" not in report


def test_gpu_count_reads_the_trainer_devices() -> None:
    assert gpu_count(8) == 8 and gpu_count("4", 2) == 8 and gpu_count([0, 1]) == 2 and gpu_count("0,1,2") == 3
    assert gpu_count("auto") >= 1
