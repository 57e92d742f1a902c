"""Callbacks Lightning does not already have: sample grids to the loggers and to disk, prediction
images to files, and the bundled data's quality figures."""

from __future__ import annotations

import os
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info
import torch
from torch import Tensor
from torchvision.utils import save_image

from gan_lightning.data import ShapesDataModule
from gan_lightning.evaluation.shapes_classifier import ShapesClassifier, load_shapes_classifier
from gan_lightning.evaluation.shapes_quality import class_accuracy, shapes_quality
from gan_lightning.common.images import save_images, to_grid


def log_image(trainer: Trainer, tag: str, grid: Tensor, step: int) -> None:
    """Sends one image grid in [0, 1] to every logger that takes images (TensorBoard, W&B)."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_image(tag, grid, global_step=step)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=tag, images=[grid.permute(1, 2, 0).numpy()], step=step)


def run_dir(trainer: Trainer) -> Path:
    """Where this run writes its files: the first logger's version folder, else default_root_dir.
    Collective under DDP (``log_dir`` broadcasts): call it on every rank."""
    return Path(trainer.log_dir or trainer.default_root_dir)


class SampleGrid(Callback):
    """Every ``every_n_batches`` training batches (and at the end of training), the model's fixed
    samples go to the loggers and to ``<run dir>/samples/<name>_<batch>.png``.

    Args:
        every_n_batches: interval in training batches (not optimizer steps).
        save_png: also write PNG files next to the logs.
    """

    def __init__(self, every_n_batches: int = 500, save_png: bool = True) -> None:
        self.every_n_batches = every_n_batches
        self.save_png = save_png

    def write(self, trainer: Trainer, pl_module: LightningModule) -> None:
        folder = run_dir(trainer) / "samples"  # on every rank: it is collective
        if trainer.is_global_zero:
            self._write(trainer, pl_module, folder)

    def _write(self, trainer: Trainer, pl_module: LightningModule, folder: Path) -> None:
        batch = trainer.fit_loop.total_batch_idx + 1
        for name, images in pl_module.fixed_samples().items():  # type: ignore[operator]
            grid = to_grid(images, getattr(pl_module, "sample_grid_columns", None))  # conditional: a row per class
            log_image(trainer, f"samples/{name}", grid, step=batch)
            if self.save_png:
                out = folder / f"{name.replace('/', '_')}_{batch:07d}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                save_image(grid, out)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        if (trainer.fit_loop.total_batch_idx + 1) % self.every_n_batches == 0:
            self.write(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.write(trainer, pl_module)


class ShapesQuality(Callback):
    """At each validation epoch end, logs how recognisable and how varied generated samples of the
    bundled shapes data are (see ``gan_lightning.evaluation.shapes_quality``):
    ``val/shapes_confident`` and ``val/shapes_mode_coverage``.

    Only meaningful on ``ShapesDataModule``; with any other data (or none) it does nothing, so it can
    be one of every preset's default callbacks.
    """

    def __init__(self, num_samples: int = 512) -> None:
        self.num_samples = num_samples
        self._classifier: ShapesClassifier | None = None
        self._told_skipped = False

    def _applies(self, trainer: Trainer) -> bool:
        datamodule = trainer.datamodule
        if isinstance(datamodule, ShapesDataModule):
            return True
        if not self._told_skipped:
            self._told_skipped = True
            found = type(datamodule).__name__ if datamodule is not None else "no DataModule"
            rank_zero_info(
                f"ShapesQuality skipped: it measures samples of the bundled shapes data (ShapesDataModule); this run has {found}"
            )
        return False

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self._applies(trainer):
            return
        if self._classifier is None:
            self._classifier = load_shapes_classifier()
        self._classifier.to(pl_module.device)
        seed = 10_000_000 + int(trainer.global_rank) * self.num_samples
        num_classes = int(getattr(pl_module, "num_classes", 0))
        if num_classes > 0:  # trained on the shapes' classes: the same z in each class, and is it that class?
            per_class = max(1, self.num_samples // num_classes)
            images = torch.cat([pl_module.generate(per_class, seed=seed, class_index=k) for k in range(num_classes)])  # type: ignore[operator]
            classes = torch.arange(num_classes).repeat_interleave(per_class)
            pl_module.log("val/shapes_class_accuracy", class_accuracy(images, classes, self._classifier), sync_dist=True)
        else:
            images = pl_module.generate(self.num_samples, seed=seed)  # type: ignore[operator]
        quality = shapes_quality(images, self._classifier)
        pl_module.log("val/shapes_confident", quality["confident"], sync_dist=True)
        pl_module.log("val/shapes_mode_coverage", quality["mode_coverage"], sync_dist=True)


class ImageWriter(BasePredictionWriter):
    """Writes what ``predict_step`` returns ({"images": (N,C,H,W) in [-1, 1], "names": [...]}) as
    ``<output_dir>/<name>.png``."""

    def __init__(self, output_dir: str = "predictions") -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx) -> None:
        save_images(prediction["images"], self.output_dir, prediction["names"])

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            print(f"predictions written to {os.path.abspath(self.output_dir)}")


__all__ = ["SampleGrid", "ShapesQuality", "ImageWriter", "log_image", "to_grid", "run_dir"]

