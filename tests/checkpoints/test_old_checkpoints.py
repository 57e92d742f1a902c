"""Checkpoints written before the issue-7 layout (tests/assets/v0_*, see its README) keep working:
their generators make the same images, and training resumes from them through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_lightning.checkpoints.migration import migrate_hparams
from gan_lightning.checkpoints.reading import load_checkpoint, load_generator
from gan_lightning.common.sampling import latents_for_seeds
from tests.conftest import ASSETS, REPO, fast_trainer_args, run_cli

OUTPUTS = torch.load(ASSETS / "v0_outputs.pt", weights_only=True)


@pytest.mark.parametrize("name", ["vanilla_gan", "stylegan", "converted_rosinality"])
def test_old_generators_make_the_same_images(name: str) -> None:
    generator, checkpoint = load_generator(ASSETS / f"v0_{name}.ckpt")
    kwargs = {"noise_mode": "const"} if checkpoint["algorithm"] == "StyleGAN" else {}
    with torch.no_grad():
        images = generator(latents_for_seeds([0, 1, 2], generator.z_dim), **kwargs)
    torch.testing.assert_close(images, OUTPUTS[name], rtol=0, atol=1e-6)


def test_old_style_transfer_generator_makes_the_same_images() -> None:
    generator, _ = load_generator(ASSETS / "v0_style_transfer.ckpt")
    with torch.no_grad():
        images = generator(torch.linspace(-1, 1, 3 * 3 * 20 * 24).reshape(3, 3, 20, 24))
    torch.testing.assert_close(images, OUTPUTS["style_transfer"], rtol=0, atol=1e-6)


def test_old_hyper_parameters_are_renamed_and_grouped() -> None:
    vanilla = load_checkpoint(ASSETS / "v0_vanilla_gan.ckpt")["hyper_parameters"]
    assert vanilla["generator"] == {"z_dim": 8, "width": 4} and vanilla["gan_loss"] == "non_saturating"
    assert "latent_dim" not in vanilla and "loss" not in vanilla and "generator_width" not in vanilla
    stylegan = load_checkpoint(ASSETS / "v0_stylegan.ckpt")["hyper_parameters"]
    assert stylegan["generator"]["channel_base"] == 128 and stylegan["discriminator"]["mbstd_group_size"] == 4
    assert "z_dim" not in stylegan and "channel_base" not in stylegan
    style = load_checkpoint(ASSETS / "v0_style_transfer.ckpt")["hyper_parameters"]
    assert style["fid_features"] == {"class_path": "gan_lightning.evaluation.features.LookFeatures"}
    assert migrate_hparams("StyleGAN", stylegan) == stylegan  # current hyper-parameters pass unchanged


CONFIGS = {
    "vanilla_gan": ["--data.init_args.batch_size", "4"],
    "stylegan": ["--data.init_args.batch_size", "4"],
    "style_transfer": ["--data.init_args.batch_size", "2"],
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fit_resumes_from_an_old_checkpoint(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = torch.load(ASSETS / f"v0_{name}.ckpt", weights_only=True)
    epochs_done = old["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    run_cli("fit", "--config", REPO / "configs" / f"{name}.yaml", *fast_trainer_args(tmp_path),
            "--ckpt_path", ASSETS / f"v0_{name}.ckpt", "--trainer.max_epochs", str(epochs_done + 1),
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", *CONFIGS[name])  # fmt: skip
    new = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    batch = int(CONFIGS[name][1])
    assert new["state_dict"]["images_seen"] == old["state_dict"]["images_seen"] + 2 * batch  # went on, not restarted
    assert new["global_step"] > old["global_step"]
