"""A run SIGKILLed part-way through an epoch and resumed from its last checkpoint ends with the
same weights and optimizer states, bit for bit, as a run that was never interrupted: the data
order and position, the augmentations, the RNG streams, the EMA and the optimizers all continue."""

from __future__ import annotations

import importlib
import signal
from pathlib import Path

import pytest
import yaml

import torch
from lightning.pytorch import Callback

from tests.conftest import REPO, write_rgb_images
from tests.helpers.reliability import load, run_fit, tiny_fit_args

HELPERS = "tests.helpers.reliability"


def every_batch_checkpoint(folder: Path) -> list[str]:
    # Lightning's own callback, so the same test runs on code without LastCheckpoint (2 optimizer steps a batch).
    return [
        "--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint",
        "--trainer.callbacks.dirpath", str(folder),
        "--trainer.callbacks.every_n_train_steps", "2",
        "--trainer.callbacks.save_top_k", "0",
        "--trainer.callbacks.save_last", "true",
    ]  # fmt: skip


def assert_same_training_state(resumed: dict, uninterrupted: dict) -> None:
    assert resumed["global_step"] == uninterrupted["global_step"]
    for name, value in uninterrupted["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), f"{name} differs after the resume"
    for opt_resumed, opt_uninterrupted in zip(resumed["optimizer_states"], uninterrupted["optimizer_states"], strict=True):
        for key, state in opt_uninterrupted["state"].items():
            for field, value in state.items():
                assert torch.equal(torch.as_tensor(opt_resumed["state"][key][field]), torch.as_tensor(value)), f"optimizer {key}.{field}"


def test_killed_mid_epoch_then_resumed_trains_as_if_never_killed(tmp_path: Path) -> None:
    """The bundled data, a validation between the kill and the end, a real SIGKILL."""
    common = ["--trainer.max_epochs", "2", "--trainer.check_val_every_n_epoch", "1", "--trainer.limit_val_batches", "1",
              "--seed_everything", "3"]  # fmt: skip

    def args(name: str, *extra: str) -> list[str]:
        return tiny_fit_args(tmp_path / name, *common, *every_batch_checkpoint(tmp_path / name / "every"), *extra)

    uninterrupted = run_fit(args("uninterrupted"), cwd=tmp_path)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

    kill_at = 11  # in the second epoch, after the first validation
    killed = run_fit(args("killed", f"--trainer.callbacks+={HELPERS}.KillAtBatch", "--trainer.callbacks.at_batch", str(kill_at)), cwd=tmp_path)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert load(tmp_path / "killed" / "every" / "last.ckpt")["global_step"] == 2 * kill_at  # batches 0..10 trained

    resumed = run_fit(args("killed", "--ckpt_path", str(tmp_path / "killed" / "every" / "last.ckpt")), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    assert_same_training_state(load(tmp_path / "killed" / "every" / "last.ckpt"), load(tmp_path / "uninterrupted" / "every" / "last.ckpt"))


def shipped(key: str) -> list:
    """The plugins or callbacks of configs/base/trainer.yaml that need no run folder."""
    made = []
    for entry in yaml.safe_load((REPO / "configs" / "base" / "trainer.yaml").read_text())["trainer"].get(key) or []:
        init_args = entry.get("init_args", {})
        if "${" not in str(init_args):
            module, name = entry["class_path"].rsplit(".", 1)
            made.append(getattr(importlib.import_module(module), name)(**init_args))
    return made


class SaveEveryBatch(Callback):
    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        trainer.save_checkpoint(self.path)


class CrashAtBatch(Callback):
    def __init__(self, at_batch: int) -> None:
        self.at_batch = at_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.fit_loop.total_batch_idx == self.at_batch:
            raise RuntimeError("crash")


def image_folder_vanilla_gan(tmp_path: Path) -> tuple:
    from gan_lightning.data import ImageFolderDataModule
    from gan_lightning.training.models import VanillaGAN

    write_rgb_images(tmp_path / "images", 40)  # 32 for training: 4 batches an epoch, random flips
    data = ImageFolderDataModule(str(tmp_path / "images"), resolution=32, flip=True, val_fraction=0.2, batch_size=8, num_workers=0)
    model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), ema_decay=0.9, fid_features="shapes")
    return model, data


def bundled_stylegan(tmp_path: Path) -> tuple:
    from tests.training.models.test_stylegan import tiny_data, tiny_model

    # ADA adjusts p every 4 batches, so stopping at batch 6 falls between two adjustments;
    # R1 every 2 and path length every 4 batches (pl_mean), EMA of the generator
    return tiny_model(ada=True, augment_p=0.2), tiny_data(num_train=32)


def bundled_stylegan3(tmp_path: Path) -> tuple:
    from tests.training.models.test_stylegan import tiny_data
    from tests.training.models.test_stylegan3_training import sg3_model

    # config R's networks; the magnitude EMAs, D's input blur fading over the 64 images of the run,
    # ADA p between two adjustments at the stop, R1 every 2 batches, the generator EMA
    return sg3_model(radial=True, ada=True, augment_p=0.2, r1_interval=2, blur_init_sigma=1.0, blur_fade_kimg=0.064), tiny_data(num_train=32)


@pytest.mark.parametrize(
    "make", [image_folder_vanilla_gan, bundled_stylegan, bundled_stylegan3], ids=["image_folder", "stylegan_ada", "stylegan3_r_ada"]
)
def test_stopped_mid_epoch_then_resumed_trains_as_if_never_stopped(make, tmp_path: Path) -> None:
    """In this process, to keep the suite short: the shipped checkpoint plugins and callbacks, an
    exception at the start of the second epoch's third batch instead of a SIGKILL."""
    from lightning.pytorch import Trainer, seed_everything

    def fit(name: str, *extra: Callback, ckpt_path: Path | None = None) -> Path:
        seed_everything(3)
        model, data = make(tmp_path)
        folder = tmp_path / name
        every_batch = SaveEveryBatch(folder / "last.ckpt")
        trainer = Trainer(max_epochs=2, limit_val_batches=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
                          accelerator="cpu", default_root_dir=folder, plugins=shipped("plugins"),
                          callbacks=[*shipped("callbacks"), every_batch, *extra])  # fmt: skip
        try:
            trainer.fit(model, data, ckpt_path=ckpt_path)
        except RuntimeError as error:
            assert str(error) == "crash"
        return folder / "last.ckpt"

    uninterrupted = fit("uninterrupted")
    stopped = fit("stopped", CrashAtBatch(6))
    assert int(load(stopped)["state_dict"]["images_seen"]) == 6 * 8  # batches 0-5 trained
    resumed = fit("stopped", ckpt_path=stopped)
    assert_same_training_state(load(resumed), load(uninterrupted))


# Validation every epoch, or also mid-epoch (val_check_interval 2 of the 4 batches an epoch); the
# sanity check on and the validation loader in a persistent worker, as the shipped defaults have them.
SCHEDULES = {"every_epoch": {}, "val_check_interval": {"val_check_interval": 2}}


def sigterm_resumed(tmp_path: Path, schedule: str, at_batch: int, in_validation: bool) -> tuple[Path, Path]:
    """The uninterrupted run's and the SIGTERMed-then-resumed run's final last.ckpt, in this process."""
    from lightning.pytorch import Trainer, seed_everything
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from gan_lightning.data import ShapesDataModule
    from gan_lightning.training.callbacks.checkpoint_writing import LastCheckpoint
    from gan_lightning.training.models import VanillaGAN
    from tests.helpers.reliability import SignalAtBatch

    def fit(folder: Path, *extra: Callback, ckpt_path: Path | None = None) -> Path:
        seed_everything(3)
        model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), ema_decay=0.9,
                           fid_features="shapes", fid_num_samples=16)  # fmt: skip
        data = ShapesDataModule(resolution=32, num_train=32, num_val=16, batch_size=8, num_workers=1)
        last = LastCheckpoint(dirpath=str(folder), every_kimg=None, every_minutes=None)  # at the end and on SIGTERM only
        trainer = Trainer(max_epochs=2, limit_val_batches=2, num_sanity_val_steps=2, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, accelerator="cpu", default_root_dir=folder, plugins=shipped("plugins"),
                          callbacks=[*shipped("callbacks"), last, *extra], **SCHEDULES[schedule])  # fmt: skip
        trainer.fit(model, data, ckpt_path=ckpt_path)
        return folder / "last.ckpt"

    uninterrupted = tmp_path / f"uninterrupted_{schedule}"
    if not (uninterrupted / "last.ckpt").exists():
        fit(uninterrupted)
    stopped = tmp_path / f"stopped_{schedule}_{at_batch}_{in_validation}"
    with pytest.raises(SIGTERMException):
        fit(stopped, SignalAtBatch(at_batch, in_validation))
    return uninterrupted / "last.ckpt", fit(stopped, ckpt_path=stopped / "last.ckpt")


@pytest.mark.parametrize(
    ("schedule", "at_batch", "in_validation"),
    [
        ("every_epoch", 1, False),  # mid-epoch, before the first validation
        ("every_epoch", 3, False),  # at the epoch's end, just before its validation
        ("every_epoch", 3, True),  # during the epoch-end validation
        ("val_check_interval", 1, True),  # during a mid-epoch validation
        ("val_check_interval", 2, False),  # mid-epoch, just after a validation
        ("val_check_interval", 4, False),  # the next epoch's first batch, after the epoch-end validation
    ],
)
def test_sigtermed_around_a_validation_then_resumed_trains_as_if_never_stopped(
    schedule: str, at_batch: int, in_validation: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A resumed run builds its validation loader at its first validation (an uninterrupted one at
    the sanity check), and a SIGTERM during validation saves there: neither may change what is
    trained next."""
    uninterrupted, resumed = sigterm_resumed(tmp_path_factory.getbasetemp() / "around_validation", schedule, at_batch, in_validation)
    assert_same_training_state(load(resumed), load(uninterrupted))


def test_killed_twice_after_epoch_end_saves_then_resumed_trains_as_if_never_killed(tmp_path: Path) -> None:
    """The scheduled last.ckpt falls on each epoch's last batch; the run is killed just after it
    (the next epoch's first batch), resumed, killed the same way an epoch later and resumed again:
    no epoch is trained twice."""
    from lightning.pytorch import Trainer, seed_everything

    from gan_lightning.data import ShapesDataModule
    from gan_lightning.training.callbacks.checkpoint_writing import LastCheckpoint
    from gan_lightning.training.models import VanillaGAN

    def fit(folder: Path, *extra: Callback, ckpt_path: Path | None = None) -> Path:
        seed_everything(3)
        model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), ema_decay=0.9,
                           fid_features="shapes")  # fmt: skip
        data = ShapesDataModule(resolution=32, num_train=32, num_val=16, batch_size=8, num_workers=0)  # 4 batches an epoch
        last = LastCheckpoint(dirpath=str(folder), every_kimg=0.016, every_minutes=None)  # every 2 batches
        trainer = Trainer(max_epochs=3, limit_val_batches=0, logger=False, enable_progress_bar=False, enable_model_summary=False,
                          accelerator="cpu", default_root_dir=folder, plugins=shipped("plugins"),
                          callbacks=[*shipped("callbacks"), last, *extra])  # fmt: skip
        try:
            trainer.fit(model, data, ckpt_path=ckpt_path)
        except RuntimeError as error:
            assert str(error) == "crash"
        return folder / "last.ckpt"

    uninterrupted = fit(tmp_path / "uninterrupted")
    stopped = fit(tmp_path / "stopped", CrashAtBatch(4))
    assert load(stopped)["global_step"] == 2 * 4  # the first epoch, saved at its end
    fit(tmp_path / "stopped", CrashAtBatch(8), ckpt_path=stopped)
    assert load(stopped)["global_step"] == 2 * 8
    resumed = fit(tmp_path / "stopped", ckpt_path=stopped)
    assert_same_training_state(load(resumed), load(uninterrupted))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_prepared_data_killed_after_a_cut_short_epoch_end_save_then_resumed_trains_as_if_never_killed(
    num_workers: int, tmp_path: Path
) -> None:
    """A prepared dataset, epochs cut short by limit_train_batches, the scheduled last.ckpt on an
    epoch's last batch and the run killed just after it: the next epoch builds a new loader iterator,
    which must not draw from the streams the latents come from (the resumed run restores them after
    building its own)."""
    from lightning.pytorch import Trainer, seed_everything

    from gan_lightning.data import StreamingDataModule
    from gan_lightning.training.callbacks.checkpoint_writing import LastCheckpoint
    from gan_lightning.training.models import VanillaGAN
    from tests.conftest import run_cli

    write_rgb_images(tmp_path / "images", 24, size=(32, 32))
    run_cli("prepare", "--source", tmp_path / "images", "--out", tmp_path / "prepared", "--resolution", "32", "--workers", "1")

    def fit(folder: Path, *extra: Callback, ckpt_path: Path | None = None) -> Path:
        seed_everything(3)
        model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), ema_decay=0.9,
                           fid_features="shapes")  # fmt: skip
        data = StreamingDataModule(input_dir=str(tmp_path / "prepared"), batch_size=4, num_workers=num_workers)
        last = LastCheckpoint(dirpath=str(folder), every_kimg=0.008, every_minutes=None)  # every 2 batches: each epoch's end
        trainer = Trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=0, logger=False, enable_progress_bar=False,
                          enable_model_summary=False, accelerator="cpu", default_root_dir=folder, plugins=shipped("plugins"),
                          callbacks=[*shipped("callbacks"), last, *extra])  # fmt: skip
        try:
            trainer.fit(model, data, ckpt_path=ckpt_path)
        except RuntimeError as error:
            assert str(error) == "crash"
        return folder / "last.ckpt"

    uninterrupted = fit(tmp_path / "uninterrupted")
    stopped = fit(tmp_path / "stopped", CrashAtBatch(2))
    assert load(stopped)["global_step"] == 2 * 2  # the first epoch (2 of its 6 batches), saved at its end
    resumed = fit(tmp_path / "stopped", ckpt_path=stopped)
    assert_same_training_state(load(resumed), load(uninterrupted))
