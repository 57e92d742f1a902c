"""Unpaired content / style image sets for style transfer (CUT family).

Batches are ``(content, style)``, both (N, C, resolution, resolution) in [-1, 1]; the two sets need
not have the same size and are not aligned. Three sources:

- ``UnpairedDataModule``: two folders, ``content/`` + ``style/`` or CycleGAN's ``trainA/ trainB/
  testA/ testB/``.
- ``SingleImagePairDataModule``: one content and one style image, random zoomed crops (SinCUT).
- ``ShapesStyleDataModule``: the bundled offline example, shapes in a flat look -> an ink look.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.image_folder import (
    IMAGE_EXTENSIONS,
    ImageFileDataset,
    list_images,
    load_image,
    readable_files,
)
from gan_lightning.data.shape_looks import render_look
from gan_lightning.data.shapes import scene_for_index
from gan_lightning.errors import UserError

Transform = Callable[[Image.Image], torch.Tensor]
# CUT/CycleGAN resize 256 px crops' images to 286 px first: the crop then moves by ~12% of the side.
DEFAULT_LOAD_RATIO = 286 / 256


def default_load_size(resolution: int) -> int:
    return int(round(resolution * DEFAULT_LOAD_RATIO))


def check_load_size(load_size: int, resolution: int) -> None:
    # Resizing every image's short side to load_size >= resolution makes any crop fit (no randrange crash).
    if load_size < resolution:
        raise UserError(f"load_size {load_size} is smaller than the crop resolution {resolution}; allowed: >= {resolution}")


def _to_unit_range(channels: int) -> list:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * channels, [0.5] * channels)]


def train_transform(resolution: int, load_size: int, channels: int, flip: bool) -> Transform:
    """Random resize-crop: short side to ``load_size``, random ``resolution`` crop, optional flip."""
    steps: list = [v2.PILToTensor(), v2.Resize(load_size, antialias=True), v2.RandomCrop(resolution)]
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _to_unit_range(channels))


def eval_transform(resolution: int, channels: int) -> Transform:
    """Deterministic: short side to ``resolution``, center crop."""
    return v2.Compose([v2.PILToTensor(), v2.Resize(resolution, antialias=True), v2.CenterCrop(resolution)] + _to_unit_range(channels))


def full_image_transform(channels: int) -> Transform:
    """The whole image at its own size (what ``predict`` stylizes)."""
    return v2.Compose([v2.PILToTensor()] + _to_unit_range(channels))


class UnpairedDataset(Dataset):
    """Item i = (content i mod |content|, a style image), as ``(content, style)`` tensors.

    Length is the larger set's. With ``random_style`` the style image is drawn at random per item
    (the sets are unaligned, so a fixed pairing would teach nothing); otherwise it is i mod |style|.
    """

    def __init__(self, content: Dataset, style: Dataset, random_style: bool) -> None:
        if len(content) == 0 or len(style) == 0:
            raise UserError(f"unpaired data needs images on both sides, got {len(content)} content and {len(style)} style")
        self.content = content
        self.style = style
        self.random_style = random_style

    def __len__(self) -> int:
        return max(len(self.content), len(self.style))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        # torch's RNG: seeded per worker by the DataLoader, and by seed_everything(workers=True).
        j = int(torch.randint(len(self.style), ())) if self.random_style else index % len(self.style)
        return self.content[index % len(self.content)][0], self.style[j][0]


class NamedImageDataset(Dataset):
    """Whole images as ``(tensor, file stem)`` for ``predict`` (batch size 1: sizes differ)."""

    def __init__(self, files: list[Path], channels: int) -> None:
        self.files = files
        self.transform = full_image_transform(channels)
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        path = self.files[index]
        return self.transform(load_image(path, self.channels)), path.stem


def _folder_layout(root: Path) -> tuple[Path, Path, Path, Path]:
    """(train content, train style, val content, val style) folders under ``root``."""
    if (root / "content").is_dir() and (root / "style").is_dir():
        return root / "content", root / "style", root / "content", root / "style"
    if (root / "trainA").is_dir() and (root / "trainB").is_dir():
        val_a = root / "testA" if (root / "testA").is_dir() else root / "trainA"
        val_b = root / "testB" if (root / "testB").is_dir() else root / "trainB"
        return root / "trainA", root / "trainB", val_a, val_b
    raise UserError(
        f"{str(root)!r} has neither content/ + style/ nor trainA/ + trainB/ (+ testA/ testB/) folders; "
        "put the photos to stylize in content/ and the style examples in style/"
    )


class UnpairedDataModule(ImageDataModule):
    """Two unaligned image folders: ``root/content`` + ``root/style`` or ``root/trainA`` + ``root/trainB``
    (with optional ``testA``/``testB`` for validation; otherwise validation uses the training folders
    without augmentation). Batches are ``(content, style)``; FID compares stylized content with style.

    Args:
        root: the folder holding the two (or four) sub-folders.
        resolution: side of the random training crops.
        load_size: short side every image is resized to before cropping; None: resolution * 286/256.
        flip: random horizontal flips of training crops.
        skip_corrupt: skip empty, truncated and non-image files with a warning (false: stop with an error).
        **kwargs: batch_size, num_workers, channels, ... of ``ImageDataModule``.
    """

    def __init__(
        self,
        root: str,
        resolution: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        skip_corrupt: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        self.root = root
        self.load_size = load_size if load_size is not None else default_load_size(resolution)
        check_load_size(self.load_size, resolution)
        self.flip = flip
        self.skip_corrupt = skip_corrupt
        path = Path(root).expanduser()
        if not path.is_dir():
            raise UserError(f"style transfer data folder {root!r} does not exist or is not a folder")
        # Fail at start-up, before any training, on a bad layout or an empty folder.
        self.folders = _folder_layout(path)
        self.files = [list_images(folder) for folder in self.folders]
        self.predict_set: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        files = [readable_files(f, str(folder), self.skip_corrupt) for f, folder in zip(self.files, self.folders)]
        train_t = train_transform(self.resolution, self.load_size, self.channels, self.flip)
        val_t = eval_transform(self.resolution, self.channels)
        side = lambda f, t: ImageFileDataset(f, self.channels, t, self.skip_corrupt)  # noqa: E731
        self.train_set = UnpairedDataset(side(files[0], train_t), side(files[1], train_t), random_style=True)
        self.val_set = UnpairedDataset(side(files[2], val_t), side(files[3], val_t), random_style=False)
        self.predict_set = NamedImageDataset(files[2], self.channels)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(self.predict_set, batch_size=1, shuffle=False, num_workers=self.num_workers)


class ZoomedCrops(Dataset):
    """``num_crops`` random crops of one image, each at a random zoom in [min_zoom, max_zoom] of the
    image resized so its short side is ``load_size``; flipped at random when ``flip``."""

    def __init__(
        self, image: Image.Image, num_crops: int, resolution: int, load_size: int, min_zoom: float, max_zoom: float, flip: bool
    ) -> None:
        self.image = v2.functional.pil_to_tensor(image)
        self.num_crops = num_crops
        self.resolution = resolution
        self.load_size = load_size
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.flip = flip
        self.channels = self.image.shape[0]

    def __len__(self) -> int:
        return self.num_crops

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        zoom = self.min_zoom + float(torch.rand(())) * (self.max_zoom - self.min_zoom)
        # Never smaller than the crop: a zoom below 1 on a small image cannot make a crop too large.
        short = max(self.resolution, int(round(self.load_size * zoom)))
        image = v2.functional.resize(self.image, short, antialias=True)
        image = v2.RandomCrop(self.resolution)(image)
        if self.flip and bool(torch.rand(()) < 0.5):
            image = image.flip(-1)
        image = image.float() / 127.5 - 1.0
        return image, 0


def bundled_image_pair(tile: int = 64, grid: int = 4, seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """The bundled single-image example: a ``grid`` x ``grid`` mosaic of shapes in the flat look
    (content) and another mosaic, of other scenes, in the ink look (style)."""

    def mosaic(look: str, stream: int) -> Image.Image:
        canvas = Image.new("RGB", (grid * tile, grid * tile))
        for k in range(grid * grid):
            scene = scene_for_index(seed * 10 + stream, k)
            canvas.paste(render_look(scene, tile, look), ((k % grid) * tile, (k // grid) * tile))
        return canvas

    return mosaic("flat", 5), mosaic("ink", 6)


class SingleImagePairDataModule(ImageDataModule):
    """One content image and one style image (SinCUT): every batch is random zoomed crops of both.

    Args:
        content: path of the content image; None (with ``style`` None): the bundled example pair.
        style: path of the style image; None (with ``content`` None): the bundled example pair.
        resolution: side of the training crops.
        load_size: short side of the images at zoom 1; None: resolution * 286/256.
        min_zoom / max_zoom: range of the random zoom (1 to 3 in SinCUT: crops see finer and coarser detail).
        crops_per_epoch: training items per epoch (the Trainer's epochs are otherwise meaningless here).
        flip: random horizontal flips.
    """

    def __init__(
        self,
        content: str | None = None,
        style: str | None = None,
        resolution: int = 128,
        load_size: int | None = None,
        min_zoom: float = 1.0,
        max_zoom: float = 3.0,
        crops_per_epoch: int = 1000,
        flip: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        self.load_size = load_size if load_size is not None else default_load_size(resolution)
        check_load_size(self.load_size, resolution)
        if not 0 < min_zoom <= max_zoom:
            raise UserError(f"zoom range [{min_zoom}, {max_zoom}] is invalid; allowed: 0 < min_zoom <= max_zoom")
        if crops_per_epoch < 1:
            raise UserError(f"crops_per_epoch must be at least 1, got {crops_per_epoch}")
        if (content is None) != (style is None):
            raise UserError("give both content and style image paths, or neither (the bundled example pair)")
        for name, path in (("content", content), ("style", style)):
            if path is None:
                continue
            if not os.path.isfile(path):
                raise UserError(f"{name} image {path!r} does not exist or is not a file")
            if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
                raise UserError(f"{name} image {path!r} is not a {', '.join(IMAGE_EXTENSIONS)} file")
        self.content = content
        self.style = style
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.crops_per_epoch = crops_per_epoch
        self.flip = flip
        self.predict_set: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.content is None or self.style is None:
            content, style = (image.convert("RGB" if self.channels == 3 else "L") for image in bundled_image_pair())
        else:
            content, style = load_image(self.content, self.channels), load_image(self.style, self.channels)
        crops = lambda image, n, lo, hi, flip: ZoomedCrops(image, n, self.resolution, self.load_size, lo, hi, flip)  # noqa: E731
        self.train_set = UnpairedDataset(
            crops(content, self.crops_per_epoch, self.min_zoom, self.max_zoom, self.flip),
            crops(style, self.crops_per_epoch, self.min_zoom, self.max_zoom, self.flip),
            random_style=False,
        )
        # Validation: a fixed handful of crops at zoom 1 (seeded so every run sees the same ones).
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        num_val = max(self.batch_size, 4)
        val_content = [crops(content, 1, 1.0, 1.0, False)[0] for _ in range(num_val)]
        val_style = [crops(style, 1, 1.0, 1.0, False)[0] for _ in range(num_val)]
        torch.random.set_rng_state(generator_state)
        self.val_set = UnpairedDataset(_Items(val_content), _Items(val_style), random_style=False)
        if self.content is None:
            self.predict_set = _Items([(full_image_transform(self.channels)(content), "bundled_content")])
        else:
            self.predict_set = NamedImageDataset([Path(self.content)], self.channels)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(self.predict_set, batch_size=1, shuffle=False)


class _Items(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


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


class ShapesStyleDataModule(ImageDataModule):
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
        self.load_size = load_size if load_size is not None else default_load_size(resolution)
        check_load_size(self.load_size, resolution)
        for name, value in (("num_content", num_content), ("num_style", num_style), ("num_val", num_val)):
            if value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        self.num_content = num_content
        self.num_style = num_style
        self.num_val = num_val
        self.flip = flip
        self.seed = seed
        self.predict_set: Dataset | None = None

    def _seed(self, stream: int) -> int:
        return self.seed * 10 + stream  # content, style, val content, val style: separate streams

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_t = train_transform(self.resolution, self.load_size, self.channels, self.flip)
        val_t = _tensor_transform(self.channels)
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
        self.predict_set = _NamedByIndex(look(self.num_val, self.resolution, "flat", 3, val_t))

    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return DataLoader(self.predict_set, batch_size=self.batch_size, shuffle=False)


def _tensor_transform(channels: int) -> Transform:
    return v2.Compose([v2.PILToTensor()] + _to_unit_range(channels))


class _NamedByIndex(Dataset):
    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.width = max(4, int(math.log10(max(len(dataset), 1))) + 1)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        return self.dataset[index][0], f"content{index:0{self.width}d}"


def shape_look_batch(num: int, resolution: int, look: str, seed: int, first: int = 0) -> torch.Tensor:
    """(num, 3, res, res) images in [-1, 1] of scenes ``first..first+num-1`` of ``seed``, in one look
    (used to measure a translation against the other look of the same scenes)."""
    images = [np.asarray(render_look(scene_for_index(seed, i), resolution, look), dtype=np.float32) for i in range(first, first + num)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2) / 127.5 - 1.0
