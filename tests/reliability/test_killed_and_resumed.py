"""A run SIGKILLed part-way through an epoch and resumed from its last checkpoint ends with the
same weights and optimizer states, bit for bit, as a run that was never interrupted: the data
order and position, the augmentations, the RNG streams, the EMA and the optimizers all continue."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from tests.conftest import write_rgb_images
from tests.reliability.helpers import BUNDLED_DATA, load, run_fit, tiny_fit_args

HELPERS = "tests.reliability.helpers"


def every_batch_checkpoint(folder: Path) -> list[str]:
    # Lightning's own callback, so the same test runs on code without LastCheckpoint (2 optimizer steps a batch).
    return [
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.dirpath", str(folder),
        "--trainer.callbacks.every_n_train_steps", "2",
        "--trainer.callbacks.save_top_k", "0",
        "--trainer.callbacks.save_last", "true",
    ]  # fmt: skip


def image_folder_data(tmp_path: Path) -> list[str]:
    write_rgb_images(tmp_path / "images", 40)  # 32 for training (4 batches an epoch), 8 for validation
    return ["--data", "ImageFolderDataModule", "--data.root", str(tmp_path / "images"), "--data.resolution", "32",
            "--data.val_fraction", "0.2", "--data.flip", "true"]  # fmt: skip


def assert_same_training_state(resumed: dict, uninterrupted: dict) -> None:
    assert resumed["global_step"] == uninterrupted["global_step"]
    for name, value in uninterrupted["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), f"{name} differs after the resume"
    for opt_resumed, opt_uninterrupted in zip(resumed["optimizer_states"], uninterrupted["optimizer_states"], strict=True):
        for key, state in opt_uninterrupted["state"].items():
            for field, value in state.items():
                assert torch.equal(torch.as_tensor(opt_resumed["state"][key][field]), torch.as_tensor(value)), f"optimizer {key}.{field}"


@pytest.mark.parametrize("data, epochs, kill_at", [("bundled", 2, 11), ("image_folder", 2, 2)])
def test_killed_mid_epoch_then_resumed_trains_as_if_never_killed(data: str, epochs: int, kill_at: int, tmp_path: Path) -> None:
    data_args = BUNDLED_DATA if data == "bundled" else image_folder_data(tmp_path)
    common = ["--trainer.max_epochs", str(epochs), "--trainer.check_val_every_n_epoch", "1",
              "--trainer.limit_val_batches", "1", "--seed_everything", "3"]  # fmt: skip

    def args(name: str, *extra: str) -> list[str]:
        return tiny_fit_args(tmp_path / name, *common, *every_batch_checkpoint(tmp_path / name / "every"), *extra, data=data_args)

    uninterrupted = run_fit(args("uninterrupted"), cwd=tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    killed = run_fit(args("killed", f"--trainer.callbacks+={HELPERS}.KillAtBatch", "--trainer.callbacks.at_batch", str(kill_at)), cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    saved = load(tmp_path / "killed" / "every" / "last.ckpt")
    assert saved["global_step"] == 2 * kill_at  # killed part-way: batches 0..kill_at-1 trained

    resumed = run_fit(args("killed", "--ckpt_path", str(tmp_path / "killed" / "every" / "last.ckpt")), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    assert_same_training_state(load(tmp_path / "killed" / "every" / "last.ckpt"), load(tmp_path / "uninterrupted" / "every" / "last.ckpt"))
