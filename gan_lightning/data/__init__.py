"""LightningDataModules: image folders, torchvision sets, prepared (streamed) datasets, the bundled
generated shapes and stacked digits, and content/style sets for style transfer."""

from gan_lightning.data.base import ImageDataModule
from gan_lightning.data.bundled import ShapesDataModule
from gan_lightning.data.bundled_style import ShapesStyleDataModule
from gan_lightning.data.image_folder import ImageFolderDataModule
from gan_lightning.data.photo_style import PhotoStyleDataModule
from gan_lightning.data.single_image import SingleImagePairDataModule
from gan_lightning.data.stacked_digits import StackedDigitsDataModule
from gan_lightning.data.streaming import StreamingDataModule
from gan_lightning.data.torchvision_sets import TorchvisionDataModule
from gan_lightning.data.unpaired import UnpairedDataModule

__all__ = [
    "ImageDataModule",
    "ImageFolderDataModule",
    "ShapesDataModule",
    "PhotoStyleDataModule",
    "ShapesStyleDataModule",
    "SingleImagePairDataModule",
    "StackedDigitsDataModule",
    "StreamingDataModule",
    "TorchvisionDataModule",
    "UnpairedDataModule",
]
