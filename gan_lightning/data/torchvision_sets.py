"""torchvision's datasets (MNIST, Fashion-MNIST, CIFAR-10, CelebA) behind the image DataModule interface."""

from __future__ import annotations

from typing import Literal

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import datasets

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.transforms import Transform, image_transform
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import to_mode

TorchvisionName = Literal["mnist", "fashion_mnist", "cifar10", "celeba"]
_NATIVE_CHANNELS = {"mnist": 1, "fashion_mnist": 1, "cifar10": 3, "celeba": 3}
_NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}  # CelebA has attributes, no classes


def _make(name: str, root: str, train: bool, download: bool) -> Dataset:
    if name == "mnist":
        return datasets.MNIST(root, train=train, download=download)
    if name == "fashion_mnist":
        return datasets.FashionMNIST(root, train=train, download=download)
    if name == "cifar10":
        return datasets.CIFAR10(root, train=train, download=download)
    if name == "celeba":
        return datasets.CelebA(root, split="train" if train else "valid", target_type=[], download=download)
    raise UserError(f"unknown torchvision dataset {name!r}; allowed: {', '.join(_NATIVE_CHANNELS)}")


class _Converted(Dataset):
    """Applies mode conversion and the shared transform; keeps the class label when there is one."""

    def __init__(self, dataset: Dataset, channels: int, transform: Transform) -> None:
        self.dataset = dataset
        self.channels = channels
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, target = self.dataset[index]
        label = int(target) if isinstance(target, int) or (torch.is_tensor(target) and target.numel() == 1) else 0
        assert isinstance(image, Image.Image)
        return self.transform(to_mode(image, self.channels)), label

    @property
    def labels(self) -> list[int] | None:
        """The class of every item without decoding it (torchvision keeps them as ``targets``)."""
        targets = getattr(self.dataset, "targets", None)
        return None if targets is None else [int(t) for t in targets]


class TorchvisionDataModule(ImageDataModule):
    """A torchvision dataset: its official train split for training and its test (CelebA: valid) split for validation.

    Args:
        dataset: mnist, fashion_mnist, cifar10 or celeba.
        root: where the dataset lives (or is downloaded to).
        download: download it when it is missing (needs network access).
        flip: random horizontal flips of training images.
        labels: "classes": the dataset's classes (10 for MNIST, Fashion-MNIST and CIFAR-10) are the
            labels of a class-conditional model (``num_classes``); "none": unconditional.
    """

    def __init__(
        self,
        dataset: TorchvisionName = "cifar10",
        root: str = "data",
        download: bool = False,
        resolution: int = 32,
        flip: bool = False,
        labels: Literal["none", "classes"] = "none",
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        if dataset not in _NATIVE_CHANNELS:
            raise UserError(f"unknown torchvision dataset {dataset!r}; allowed: {', '.join(_NATIVE_CHANNELS)}")
        if labels not in ("none", "classes"):
            raise UserError(f"labels {labels!r} is not a label source of {dataset}; allowed: none, classes")
        if labels == "classes" and dataset not in _NUM_CLASSES:
            raise UserError(f"{dataset} has no classes; labels classes is allowed for {', '.join(_NUM_CLASSES)}")
        self.labels = labels
        self.num_classes = _NUM_CLASSES[dataset] if labels == "classes" else 0
        self.dataset = dataset
        self.root = root
        self.download = download
        self.flip = flip

    def prepare_data(self) -> None:
        # Runs on one process per node before setup: the place to download.
        if self.download:
            for train in (True, False):
                self._open(train)

    def _open(self, train: bool) -> Dataset:
        try:
            return _make(self.dataset, self.root, train, self.download)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted. You can use download=True"
            hint = "" if self.download else " (add --data.init_args.download true to download it)"
            raise UserError(f"{self.dataset} not found under {self.root!r}{hint}: {error}") from None
        except OSError as error:  # URLError, socket errors, disk errors during download
            raise UserError(f"could not download {self.dataset} to {self.root!r}: {error}") from None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        self.train_set = _Converted(self._open(True), self.channels, image_transform(self.resolution, self.channels, self.flip))
        self.val_set = _Converted(self._open(False), self.channels, image_transform(self.resolution, self.channels, False))

    def metric_set(self) -> Dataset:
        train = super().metric_set()
        return _Converted(self._open(True), self.channels, image_transform(self.resolution, self.channels, False)) if self.flip else train
