"""LightningDataModules: image folders, torchvision sets and the bundled generated shapes."""

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.bundled import ShapesDataModule
from gan_lightning.data.image_folder import ImageFolderDataModule
from gan_lightning.data.torchvision_sets import TorchvisionDataModule
from gan_lightning.data.unpaired import ShapesStyleDataModule, SingleImagePairDataModule, UnpairedDataModule

__all__ = [
    "ImageDataModule",
    "ImageFolderDataModule",
    "ShapesDataModule",
    "ShapesStyleDataModule",
    "SingleImagePairDataModule",
    "TorchvisionDataModule",
    "UnpairedDataModule",
]
