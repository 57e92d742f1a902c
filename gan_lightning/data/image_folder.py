"""A folder tree of images as a DataModule: a fixed train/val split, and surviving bad files
(finding and decoding the files is ``gan_lightning.common.images``' job)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.labels import FolderLabels, dataset_json_labels, subfolder_labels
from gan_lightning.data.readable_cache import unreadable_files
from gan_lightning.data.transforms import Transform, image_transform
from gan_lightning.common.checks import check_range
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import ImageFile, load_image, scan_images


class ImageFileDataset(Dataset):
    """Image files as ``(tensor, class label)`` (label 0 without ``labels``). A file that fails to
    decode mid-epoch is replaced by the next readable one (with one warning naming it), unless
    ``skip_corrupt`` is off."""

    def __init__(
        self, files: Sequence[str | Path], channels: int, transform: Transform, skip_corrupt: bool, labels: list[int] | None = None
    ) -> None:
        self.files = files
        self.labels = labels
        self.channels = channels
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self._warned: set[Path] = set()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        for offset in range(len(self.files)):
            path = self.files[(index + offset) % len(self.files)]
            try:
                label = 0 if self.labels is None else self.labels[(index + offset) % len(self.files)]
                return self.transform(load_image(path, self.channels)), label
            except UserError as error:
                if not self.skip_corrupt:
                    raise
                if path not in self._warned:
                    self._warned.add(path)
                    warnings.warn(f"skipping unreadable image: {error}", stacklevel=2)
        raise UserError("none of the images in this dataset can be read")


def readable_locations(files: list[ImageFile], root: str, skip_corrupt: bool) -> list[str]:
    """The paths (as strings) of ``files`` (``scan_images(root)``) less empty, truncated and
    non-image files, with one warning that counts them. Each file is opened once; later starts
    reuse the result while its size and modification time are unchanged."""
    bad = unreadable_files(files, root)
    if bad and not skip_corrupt:
        raise UserError(
            f"{len(bad)} unreadable image file(s) under {root!r}, first: {bad[0]!r} "
            "(set skip_corrupt: true to skip them)"
        )
    if not bad:
        return [file.location for file in files]
    warnings.warn(
        f"skipping {len(bad)} unreadable image file(s) (empty, truncated or not an image) under {root!r}, "
        f"first: {bad[0]!r}",
        stacklevel=2,
    )
    unreadable = set(bad)
    good = [file.location for file in files if file.location not in unreadable]
    if not good:
        raise UserError(f"none of the {len(files)} image files under {root!r} can be read")
    return good


def readable_files(files: list[ImageFile], root: str, skip_corrupt: bool) -> list[Path]:
    """``readable_locations`` as Paths."""
    return [Path(location) for location in readable_locations(files, root, skip_corrupt)]


def split_indices(count: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A fixed-seed random train/val split. With val_fraction > 0 and four or more images, at least
    two are held out (FID needs two) and at least half are kept for training."""
    check_range("val_fraction", val_fraction, 0, 1, high_open=True)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    num_val = round(count * val_fraction)
    if val_fraction > 0 and count >= 4:
        num_val = min(max(num_val, 2), count // 2)
    num_val = min(num_val, count - 1)
    return sorted(order[num_val:]), sorted(order[:num_val])


class ImageFolderDataModule(ImageDataModule):
    """Any folder tree of images (png, jpg, jpeg, webp, bmp; searched recursively).

    Args:
        root: the folder.
        flip: random horizontal flips of training images.
        val_fraction: share of the images held out for validation (FID), split with ``split_seed``.
        split_seed: seed of the train/val split, fixed so reruns and resumes see the same split.
        skip_corrupt: skip empty, truncated and non-image files with a warning (false: stop with an error).
        labels: class labels for conditional training: "folders" (each image's class is its subfolder
            of root, numbered in sorted name order), "dataset.json" (NVlabs' ``ROOT/dataset.json``), or
            "none". ``num_classes`` says how many classes there are (0 without labels).
    """

    def __init__(
        self,
        root: str,
        resolution: int = 64,
        flip: bool = True,
        val_fraction: float = 0.05,
        split_seed: int = 0,
        skip_corrupt: bool = True,
        labels: FolderLabels = "none",
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        self.root = root
        self.flip = flip
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.skip_corrupt = skip_corrupt
        self.files = scan_images(root)  # fail at start-up, before any training, on a bad folder
        split_indices(len(self.files), val_fraction, split_seed)  # validates val_fraction early
        # Read now: the CLI hands num_classes to the model when both are built.
        self.labels = labels
        self.class_names: list[str] | None = None  # with labels folders: the subfolder of each class index
        self.file_labels = self._read_labels(labels)
        self.num_classes = 0 if self.file_labels is None else max(self.file_labels) + 1

    def _read_labels(self, source: str) -> list[int] | None:
        if source == "folders":
            labels, self.class_names = subfolder_labels([file.name for file in self.files], self.root)
            return labels
        if source == "dataset.json":
            return dataset_json_labels([file.name for file in self.files], self.root)
        if source != "none":
            raise UserError(f"labels {source!r} is not a label source; allowed: none, folders, dataset.json")
        return None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        files = readable_locations(self.files, self.root, self.skip_corrupt)
        labels = None
        if self.file_labels is not None:
            label_of = dict(zip((file.location for file in self.files), self.file_labels))
            labels = [label_of[location] for location in files]
        train_idx, val_idx = split_indices(len(files), self.val_fraction, self.split_seed)
        train_transform = image_transform(self.resolution, self.channels, self.flip)
        train = ImageFileDataset(files, self.channels, train_transform, self.skip_corrupt, labels)
        val = ImageFileDataset(files, self.channels, image_transform(self.resolution, self.channels, False), self.skip_corrupt, labels)
        self.train_set = Subset(train, train_idx)
        self.val_set = Subset(val, val_idx)
        self._unflipped_train = Subset(val, train_idx)  # `val` reads without flips

    def metric_set(self) -> Dataset:
        super().metric_set()  # fails clearly before setup()
        return self._unflipped_train
