"""The bundled offline style-transfer example as a DataModule: shapes drawn flat (content) and
hatched in ink (style), rendered from seeds by ``shape_looks.py``."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from gan_lightning.data.base import StyleDataModule
from gan_lightning.data.datasets import NamedByIndex, UnpairedDataset
from gan_lightning.data.shape_looks import render_look
from gan_lightning.data.shapes import scene_for_index
from gan_lightning.data.transforms import (
    Transform,
    full_image_transform,
    load_size_for,
    random_crop_transform,
)
from gan_lightning.common.checks import check_at_least


class ShapeLookDataset(Dataset):
    """Bundled shapes in one look ("flat" or "ink"), rendered at ``render_size`` from ``seed``, then
    passed through ``transform`` (a random crop for training). Items are ``(image, label)``."""

    def __init__(self, num_images: int, render_size: int, look: str, seed: int, channels: int, transform: Transform) -> None:
        self.num_images = num_images
        self.render_size = render_size
        self.look = look
        self.seed = seed
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        scene = scene_for_index(self.seed, index)
        image = render_look(scene, self.render_size, self.look)
        if self.channels == 1:
            image = image.convert("L")
        return self.transform(image), scene.label


class ShapesStyleDataModule(StyleDataModule):
    """The bundled offline example: content = shapes drawn flat on a dark background; style = the
    same kind of shapes hatched in ink on light paper (``shape_looks.py``). The two sets come from
    different seeds, so they are unpaired like real data; sizes may differ.

    Args:
        resolution: side of the training crops.
        load_size: side the images are rendered at before cropping; None: resolution * 286/256.
        num_content / num_style: images per set.
        num_val: validation images per set (other seeds than training).
        flip: random horizontal flips of training crops.
        seed: the example's seed; the same seed gives the same images everywhere.
    """

    predict_same_size = True  # validation content images, all rendered at ``resolution``

    def __init__(
        self,
        resolution: int = 64,
        load_size: int | None = None,
        num_content: int = 512,
        num_style: int = 384,
        num_val: int = 64,
        flip: bool = True,
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        self.load_size = load_size_for(load_size, resolution)
        for name, value in (("num_content", num_content), ("num_style", num_style), ("num_val", num_val)):
            check_at_least(name, value, 1)
        self.num_content = num_content
        self.num_style = num_style
        self.num_val = num_val
        self.flip = flip
        self.seed = seed

    def _seed(self, stream: int) -> int:
        return self.seed * 10 + stream  # content, style, val content, val style: separate streams

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_t = random_crop_transform(self.resolution, self.load_size, self.channels, self.flip)
        val_t = full_image_transform(self.channels)
        look = lambda n, size, name, stream, t: ShapeLookDataset(n, size, name, self._seed(stream), self.channels, t)  # noqa: E731
        self.train_set = UnpairedDataset(
            look(self.num_content, self.load_size, "flat", 1, train_t),
            look(self.num_style, self.load_size, "ink", 2, train_t),
            random_style=True,
        )
        self.val_set = UnpairedDataset(
            look(self.num_val, self.resolution, "flat", 3, val_t),
            look(self.num_val, self.resolution, "ink", 4, val_t),
            random_style=False,
        )
        self.predict_set = NamedByIndex(look(self.num_val, self.resolution, "flat", 3, val_t))
