"""A user gives `fit/validate --ckpt_path` a checkpoint that does not belong to the config: another
algorithm, another image size, an inference-only file, or options that change the networks. Each
ends with one line before any training; options given on the command line are applied or refused,
never silently replaced by the checkpoint's."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import ASSETS, REPO, fast_trainer_args, run_cli
from tests.helpers.reliability import one_line_error

VANILLA = REPO / "configs" / "vanilla_gan.yaml"
STYLEGAN = REPO / "configs" / "stylegan.yaml"
# v0_vanilla_gan.ckpt: 32 px, z_dim 8, one epoch of two batches of 4 (tests/assets/README.md)
SHORT = ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--data.init_args.batch_size", "4"]


def test_gave_a_stylegan_checkpoint_to_the_dcgan_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT,
                           "--ckpt_path", ASSETS / "v0_stylegan.ckpt", "--trainer.max_epochs", "2")  # fmt: skip
    assert "StyleGAN checkpoint" in error and "VanillaGAN" in error
    assert not (tmp_path / "checkpoints").exists()  # refused before training, nothing written


def test_gave_a_checkpoint_of_another_image_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "validate", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT,
                           "--ckpt_path", ASSETS / "v0_vanilla_gan.ckpt", "--data.init_args.resolution", "64")  # fmt: skip
    assert "resolution 32" in error and "64" in error


def test_gave_a_converted_generator_to_fit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "fit", "--config", STYLEGAN, *fast_trainer_args(tmp_path), *SHORT,
                           "--ckpt_path", ASSETS / "v0_converted_rosinality.ckpt")  # fmt: skip
    assert "not written by `fit`" in error and "generate" in error


def test_changed_a_network_size_when_resuming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--trainer.max_epochs", "2",
                           "--ckpt_path", ASSETS / "v0_vanilla_gan.ckpt", "--model.init_args.generator.z_dim", "16")  # fmt: skip
    assert "do not fit this VanillaGAN" in error and "(4, 8) in the checkpoint, (4, 16) here" in error


def test_changed_the_learning_rate_when_resuming_is_refused_not_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    error = one_line_error(capsys, "fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--trainer.max_epochs", "2",
                           "--ckpt_path", ASSETS / "v0_vanilla_gan.ckpt", "--model.init_args.generator_lr", "0.001")  # fmt: skip
    assert "generator_lr 0.001 cannot replace the checkpoint's 0.0002" in error


def test_an_option_given_on_the_command_line_wins_over_the_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    old = torch.load(ASSETS / "v0_vanilla_gan.ckpt", weights_only=True)
    assert old["hyper_parameters"]["gp_weight"] == 10.0
    run_cli("fit", "--config", VANILLA, *fast_trainer_args(tmp_path), *SHORT, "--trainer.max_epochs", "2",
            "--ckpt_path", ASSETS / "v0_vanilla_gan.ckpt", "--model.init_args.gp_weight", "3.5")  # fmt: skip
    assert "gp_weight 3.5 (checkpoint: 10.0)" in capsys.readouterr().err  # said, not silent
    new = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert new["hyper_parameters"]["gp_weight"] == 3.5
    assert new["hyper_parameters"]["generator"]["z_dim"] == 8  # the rest still from the checkpoint
    assert new["global_step"] > old["global_step"]  # resumed, not restarted
