"""Options renamed so that one thing has one name across the algorithms (network sizes in
``generator`` / ``discriminator`` / ``style_network`` groups, the frozen feature network in
``perceptual``): checkpoints
and model folders written with the old names (tests/assets/main_*, see its README) make the same
images and resume under `fit`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_lightning.checkpoints.export.model_folder import json_values
from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.common.sampling import latents_for_seeds
from tests.conftest import ASSETS, run_cli

OUTPUTS = torch.load(ASSETS / "main_outputs.pt", weights_only=True)
CONTENT = torch.linspace(-1, 1, 3 * 3 * 20 * 24).reshape(3, 3, 20, 24)
STYLE = (torch.linspace(-1, 1, 3 * 3 * 32 * 32).reshape(3, 3, 32, 32) * 7).remainder(2) - 1
OLD_NAMES = {"z_dim", "generator_width", "discriminator_width", "discriminator_norm", "ngf", "n_blocks", "ndf", "style_layers", "perceptual_features", "perceptual_width", "perceptual_weights_path", "features", "feature_width", "weights_path"}


@pytest.mark.parametrize("use_ema", [True, False])
def test_vanilla_gan_checkpoint_with_the_old_names_makes_the_same_images(use_ema: bool) -> None:
    generator, checkpoint = load_generator(ASSETS / "main_vanilla_gan.ckpt", use_ema=use_ema)
    hparams = checkpoint["hyper_parameters"]
    assert hparams["generator"] == {"z_dim": 8, "width": 4} and hparams["discriminator"] == {"width": 4, "norm": "batch"}
    assert not OLD_NAMES & set(hparams)
    with torch.no_grad():
        images = generator(latents_for_seeds([0, 1, 2], generator.z_dim))
    torch.testing.assert_close(images, OUTPUTS["vanilla_gan" if use_ema else "vanilla_gan_no_ema"], rtol=0, atol=1e-6)


def test_style_transfer_checkpoint_with_the_old_names_makes_the_same_images() -> None:
    generator, checkpoint = load_generator(ASSETS / "main_style_transfer.ckpt")
    hparams = checkpoint["hyper_parameters"]
    assert hparams["generator"] == {"width": 4, "blocks": 1} and hparams["style_network"] == {"width": 4, "layers": 3}
    assert hparams["perceptual"] == {"network": "random", "width": 32, "weights_path": None}
    assert not OLD_NAMES & set(hparams)
    with torch.no_grad():
        torch.testing.assert_close(generator(CONTENT), OUTPUTS["style_transfer"], rtol=0, atol=1e-6)


def adain_images(generator) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        mean, std = generator.style_statistics(STYLE)
        return generator(CONTENT, mean, std), generator(CONTENT, mean, std, 0.5)


def test_adain_checkpoint_with_the_old_names_makes_the_same_images() -> None:
    generator, checkpoint = load_generator(ASSETS / "main_arbitrary_style.ckpt")
    assert checkpoint["hyper_parameters"]["perceptual"] == {"network": "random", "width": 4, "weights_path": None}
    assert not OLD_NAMES & set(checkpoint["hyper_parameters"])
    full, half = adain_images(generator)
    torch.testing.assert_close(full, OUTPUTS["arbitrary_style"], rtol=0, atol=1e-6)
    torch.testing.assert_close(half, OUTPUTS["arbitrary_style_alpha_0.5"], rtol=0, atol=1e-6)


def test_model_folder_exported_with_the_old_names_loads(tmp_path: Path) -> None:
    folder = tmp_path / "adain"
    run_cli("export", "--ckpt", ASSETS / "main_arbitrary_style.ckpt", "--format", "safetensors", "--out", folder)
    config = json.loads((folder / "config.json").read_text())
    old = torch.load(ASSETS / "main_arbitrary_style.ckpt", map_location="cpu", weights_only=True)["hyper_parameters"]
    config["hyper_parameters"] = json_values(old)  # what `export` wrote before the rename
    assert {"features", "feature_width"} <= set(config["hyper_parameters"])
    (folder / "config.json").write_text(json.dumps(config))
    full, _ = adain_images(load_generator(folder)[0])
    torch.testing.assert_close(full, OUTPUTS["arbitrary_style"], rtol=0, atol=1e-6)
