"""The default DataModule: the generated shapes dataset, which needs no files and no network."""

from __future__ import annotations

from typing import Literal

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.shapes import NUM_CLASSES, ShapesDataset
from gan_lightning.common.errors import UserError


class ShapesDataModule(ImageDataModule):
    """Coloured shapes generated from ``seed`` (see ``gan_lightning.data.shapes``): 16 known modes.

    Args:
        num_train: training images per epoch.
        num_val: validation images (a different seed stream from training).
        seed: the dataset seed; the same seed gives the same images on every machine.
        labels: "classes": the 16 (shape, colour) classes are the labels of a class-conditional model
            (``num_classes`` 16; ``shapes.class_name`` names them); "none": unconditional.
    """

    def __init__(
        self,
        resolution: int = 32,
        num_train: int = 16384,
        num_val: int = 1024,
        seed: int = 0,
        labels: Literal["none", "classes"] = "none",
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        if labels not in ("none", "classes"):
            raise UserError(f"labels {labels!r} is not a label source of the shapes data; allowed: none, classes")
        self.labels = labels
        self.num_classes = NUM_CLASSES if labels == "classes" else 0
        self.num_train = num_train
        self.num_val = num_val
        self.seed = seed

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = ShapesDataset(self.num_train, self.resolution, self.channels, seed=self.seed)
            self.val_set = ShapesDataset(self.num_val, self.resolution, self.channels, seed=self.seed + 1_000_003)
