"""Each configs/r3gan_*.yaml resolves to the values of its preset in brownvc/R3GAN's train.py (and the
README's training command: global batch, GPUs, --cond, --mirror, --aug), and builds networks with
their parameter counts."""

from __future__ import annotations

import pytest
import torch
import yaml

from gan_lightning.core.nets.r3gan import (
    R3GANDiscriminator,
    R3GANDiscriminatorConfig,
    R3GANGenerator,
    R3GANGeneratorConfig,
)
from gan_lightning.training.models.r3gan import with_classes
from tests.conftest import REPO, run_cli
from tests.core.nets.test_r3gan_networks import OFFICIAL as PARAMETER_COUNTS

# Their train.py per preset: gamma, EMA half-life (kimg) and augmentation ramps, the ramps' length
# (decay_nimg / 1000), FP16Stages (bfloat16 there); their README's command: --batch, --gpus, --cond.
THEIRS = {
    "r3gan_cifar10": dict(preset="CIFAR10 conditional", gamma=(0.05, 0.005), ema=5000, aug=0.55, ramp=20000, bf16=3, batch=512, gpus=8, classes=10),
    "r3gan_ffhq64": dict(preset="FFHQ-64", gamma=(2, 0.2), ema=500, aug=0.3, ramp=20000, bf16=4, batch=256, gpus=8, classes=0),
    "r3gan_ffhq256": dict(preset="FFHQ-256", gamma=(150, 15), ema=500, aug=0.3, ramp=20000, bf16=4, batch=256, gpus=8, classes=0),
    "r3gan_imagenet32": dict(preset="ImageNet-32", gamma=(0.5, 0.05), ema=50000, aug=0.5, ramp=200000, bf16=3, batch=4096, gpus=32, classes=1000),
    "r3gan_imagenet64": dict(preset="ImageNet-64", gamma=(1, 0.1), ema=50000, aug=0.4, ramp=200000, bf16=4, batch=4096, gpus=64, classes=1000),
}
# Presets of ours, on data made offline: no counterpart in their train.py.
OURS = {"r3gan_stacked_digits"}


_RESOLVED: dict[str, dict] = {}  # each preset parsed once for both tests (a parse takes seconds)


def resolved(name: str, capsys: pytest.CaptureFixture) -> dict:
    if name not in _RESOLVED:
        with pytest.raises(SystemExit) as exit_info:
            run_cli("fit", "--config", REPO / "configs" / f"{name}.yaml", "--print_config")
        assert exit_info.value.code == 0
        _RESOLVED[name] = yaml.safe_load(capsys.readouterr().out)
    return _RESOLVED[name]


def test_every_official_preset_is_checked() -> None:
    assert sorted(p.stem for p in (REPO / "configs").glob("r3gan_*.yaml") if p.stem not in OURS) == sorted(THEIRS)


@pytest.mark.parametrize("name", list(THEIRS))
def test_preset_has_the_values_of_their_train_py(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    theirs, config = THEIRS[name], resolved(name, capsys)
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    assert config["model"]["class_path"] == "gan_lightning.training.models.R3GAN"
    ramp = lambda start, end: {"start": float(start), "end": float(end)}
    assert model["lr"] == ramp(2e-4, 5e-5) and model["beta2"] == ramp(0.9, 0.99)
    assert model["gamma"] == ramp(*theirs["gamma"])
    assert model["ema_kimg"] == ramp(0, theirs["ema"]) and model["augment_p"] == ramp(0, theirs["aug"])
    assert model["ramp_kimg"] == theirs["ramp"] and model["adam_eps"] == 1e-8
    for network in ("generator", "discriminator"):
        settings = model[network]
        assert (settings["expansion"], settings["kernel_size"], settings["resampling_filter"]) == (2, 3, [1, 2, 1])
        assert settings["bf16_stages"] == theirs["bf16"] and set(settings["blocks"]) == {2}
    assert model["generator"]["z_dim"] == 64
    assert data["batch_size"] * theirs["gpus"] == theirs["batch"]  # per GPU here, global there
    assert data["flip"] is True  # --mirror=1
    assert data.get("labels", "none") == ("none" if theirs["classes"] == 0 else ("classes" if name == "r3gan_cifar10" else "folders"))


@pytest.mark.parametrize("name", list(THEIRS))
def test_networks_built_from_the_preset_have_their_parameter_counts(name: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    model = resolved(name, capsys)["model"]["init_args"]
    generator, discriminator = with_classes(
        THEIRS[name]["classes"], R3GANGeneratorConfig(**model["generator"]), R3GANDiscriminatorConfig(**model["discriminator"])
    )
    with torch.device("meta"):
        counts = (sum(p.numel() for p in R3GANGenerator(generator).parameters()), sum(p.numel() for p in R3GANDiscriminator(discriminator).parameters()))
    assert counts == PARAMETER_COUNTS[THEIRS[name]["preset"]][3:]
