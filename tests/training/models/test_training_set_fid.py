"""A GAN trained with `val_fraction: 0` logs FID against its whole training set every N kimg
(`fid_every_kimg`) as `val/fid`, and keeps its best checkpoint by it; the validation loop's FID is
the metric suite's too."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from gan_lightning.data import ImageFolderDataModule, ShapesDataModule
from gan_lightning.evaluation.detectors import FeatureModuleDetector
from gan_lightning.evaluation.extraction import extract_features
from gan_lightning.evaluation.formulas import frechet_distance, kernel_distance
from gan_lightning.common.errors import UserError
from gan_lightning.training.models import VanillaGAN
from tests.conftest import REPO, fast_trainer_args, run_cli, write_rgb_images


class ColourStatistics(nn.Module):
    """A small feature network: per-channel mean and standard deviation of images in [0, 1]."""

    num_features = 6

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1)


# ModelCheckpoint saves either at a training epoch's end (by default without validation) or after
# validation (here: when validation is not every epoch); the mid-epoch FID must reach it in both.
@pytest.mark.parametrize("trainer_args", [{}, {"check_val_every_n_epoch": 2}], ids=["saves-at-epoch-end", "saves-after-validation"])
def test_fid_against_the_training_set_every_n_kimg_picks_the_best_checkpoint(tmp_path: Path, trainer_args: dict) -> None:
    write_rgb_images(tmp_path / "images", 24, size=(32, 32))
    data = ImageFolderDataModule(str(tmp_path / "images"), resolution=32, val_fraction=0, batch_size=8, num_workers=0)
    model = VanillaGAN(resolution=32, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), fid_features=ColourStatistics(),
                       fid_num_samples=12, fid_every_kimg=0.016)  # fmt: skip
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", filename="best-fid{val/fid:.4f}", auto_insert_metric_name=False,
                                 monitor="val/fid", mode="min", save_last=True)  # fmt: skip
    trainer = Trainer(max_epochs=2, logger=CSVLogger(tmp_path, name="log"), callbacks=[checkpoint], accelerator="cpu",
                      enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1, **trainer_args)  # fmt: skip
    trainer.fit(model, data)  # 3 batches of 8 per epoch: 48 images, FID at 16, 32 and 48

    with open(Path(trainer.logger.log_dir) / "metrics.csv") as file:
        logged = [float(row["val/fid"]) for row in csv.DictReader(file) if row.get("val/fid")]
    assert len(logged) == 3 and all(value > 0 for value in logged)
    assert checkpoint.best_model_score.item() == pytest.approx(min(logged))
    best = Path(checkpoint.best_model_path)
    assert best.is_file() and best.name == f"best-fid{min(logged):.4f}.ckpt"
    assert (tmp_path / "ckpt" / "last.ckpt").is_file()
    assert not any(key.startswith(("_train_fid", "inception")) for key in torch.load(best, weights_only=False)["state_dict"])  # (hparams hold the test's module)


def test_fid_every_kimg_must_be_positive() -> None:
    with pytest.raises(UserError, match="fid_every_kimg must be > 0 or null, got 0"):
        VanillaGAN(resolution=32, fid_every_kimg=0)


def test_fit_with_val_fraction_0_and_the_shared_checkpoint_config(tmp_path: Path) -> None:
    """The command line way: `val_fraction 0` and `fid_every_kimg`, with configs/base/trainer.yaml's
    ModelCheckpoint (monitor val/fid) keeping the best, and LastCheckpoint the last checkpoint."""
    write_rgb_images(tmp_path / "images", 16, size=(32, 32))
    run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", *fast_trainer_args(tmp_path),
            "--data", "ImageFolderDataModule", "--data.root", tmp_path / "images", "--data.resolution", "32",
            "--data.val_fraction", "0", "--data.batch_size", "8", "--trainer.max_epochs", "1",
            "--model.init_args.fid_every_kimg", "0.008", "--model.init_args.fid_num_samples", "8",
            "--model.init_args.fid_features", "gan_lightning.evaluation.features.LookFeatures")  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert len(names) == 2 and names[0].startswith("best-step") and names[1] == "last.ckpt", names


def test_validation_fid_and_kid_are_the_suites_values_of_the_same_images(tmp_path: Path) -> None:
    """val/fid and val/kid are `evaluate`'s: its detector input (uint8 as NVlabs quantizes) and its formulas."""
    model = VanillaGAN(resolution=32, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), fid_features=ColourStatistics(),
                       fid_num_samples=16, kid=True, kid_subset_size=8)  # fmt: skip
    fed: dict[str, list[torch.Tensor]] = {"real": [], "generated": []}
    real_of, generated_of = model.fid_real_images, model.fid_fake_images
    model.fid_real_images = lambda batch: fed["real"].append(real_of(batch)) or fed["real"][-1]
    model.fid_fake_images = lambda batch: fed["generated"].append(generated_of(batch)) or fed["generated"][-1]
    data = ShapesDataModule(resolution=32, num_train=16, num_val=16, batch_size=8, num_workers=0)
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      accelerator="cpu", default_root_dir=tmp_path)  # fmt: skip
    logged = trainer.validate(model, data, verbose=False)[0]

    detector = FeatureModuleDetector(ColourStatistics())
    generated, real = (torch.cat(fed[side]) for side in ("generated", "real"))
    generated, real = (extract_features(lambda i, x=x: x[i], detector, len(x), batch_size=8)["features"] for x in (generated, real))
    assert logged["val/fid"] == pytest.approx(frechet_distance(generated, real), rel=1e-6)
    assert logged["val/kid"] == pytest.approx(kernel_distance(generated, real, max_subset_size=8), rel=1e-6)
