"""Content photos and style images for perceptual style transfer: fast neural style (a folder of
photos and one style image, Johnson et al. 2016) and arbitrary style (a folder of photos and a
folder of style images, AdaIN). Without paths: the example photos and styles of ``example_photos``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from gan_lightning.data.base import StyleDataModule
from gan_lightning.data.datasets import ItemList, NamedImageDataset, UnpairedDataset
from gan_lightning.data.example_photos import EXAMPLE_PHOTOS, EXAMPLE_STYLES, PHOTO_NAMES, example_photo, example_style
from gan_lightning.data.transforms import full_image_transform, load_size_for
from gan_lightning.common.checks import check_at_least, check_range
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, from_uint8, list_images, load_image, to_mode


class RandomCrops(Dataset):
    """``length`` random crops: item i is a crop of image i mod |images|, resized so its short side
    is ``load_size``, flipped at random when ``flip``, turned grey (its luminance in every channel)
    with probability ``grey_fraction``. Images are files (read when needed) or PIL images."""

    def __init__(
        self, images: list[Path | Image.Image], length: int, resolution: int, load_size: int, channels: int, flip: bool, grey_fraction: float = 0.0
    ) -> None:
        self.images = images
        self.length = length
        self.channels = channels
        steps: list = [v2.PILToTensor(), v2.Resize(load_size, antialias=True), v2.RandomCrop(resolution)]
        steps += [v2.RandomHorizontalFlip()] if flip else []
        steps += [v2.RandomGrayscale(grey_fraction)] if grey_fraction > 0 else []
        self.transform = v2.Compose(steps)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index % len(self.images)]
        image = load_image(image, self.channels) if isinstance(image, Path) else to_mode(image, self.channels)
        return from_uint8(self.transform(image)), 0


def _image_files(path: str, what: str) -> list[Path]:
    """One image file, or every image under a folder."""
    location = Path(path).expanduser()
    if location.is_file():
        if location.suffix.lower() not in IMAGE_EXTENSIONS:
            raise UserError(f"{what} {path!r} is not a {', '.join(IMAGE_EXTENSIONS)} file")
        return [location]
    if not location.exists():
        raise UserError(f"{what} {path!r} does not exist; allowed: an image file or a folder of images")
    return list_images(location)


class PhotoStyleDataModule(StyleDataModule):
    """Batches ``(content crop, style crop)`` from content photos and style image(s).

    Args:
        content: a folder of content photos (or one photo); None: the example photos named by ``example_photos``.
        style: one style image (fast neural style) or a folder of them (arbitrary style); None: the
            example styles named by ``example_styles``.
        example_photos: which of scikit-image's photos (``data/example_photos.py``: the colour
            ``EXAMPLE_PHOTOS``, the default, and ``GREY_PHOTOS``) to train on when ``content`` is None (the
            presets leave ``coffee`` out, to show the result on a photo never seen in training).
        example_styles: which of the example styles (``data/example_photos.py``) to use when ``style`` is None.
        resolution: side of the training crops.
        load_size: short side of the content photos before cropping; None: resolution * 286/256.
        style_load_size: short side of the style images before cropping, which sets the scale of their
            strokes in the output; None: ``load_size``.
        crops_per_epoch: training items per epoch.
        flip: random horizontal flips.
        grey_fraction: the share of content crops turned grey (their luminance in every channel), so
            that a generator trained on colour photos has seen grey ones; 0: none. Style crops keep their colours.
        **kwargs: batch_size, num_workers, channels, ... of ``ImageDataModule``.
    """

    predict_from_files = True

    def __init__(
        self,
        content: str | None = None,
        style: str | None = None,
        example_photos: list[str] = list(EXAMPLE_PHOTOS),  # noqa: B006, B008 (jsonargparse needs the plain default)
        example_styles: list[str] = ["grass_ink"],  # noqa: B006 (jsonargparse needs the plain default)
        resolution: int = 256,
        load_size: int | None = None,
        style_load_size: int | None = None,
        crops_per_epoch: int = 1000,
        flip: bool = True,
        grey_fraction: float = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        check_range("grey_fraction", grey_fraction, 0.0, 1.0)
        self.load_size = load_size_for(load_size, resolution)
        self.style_load_size = load_size_for(style_load_size if style_load_size is not None else self.load_size, resolution)
        check_at_least("crops_per_epoch", crops_per_epoch, 1)
        if content is None:
            unknown = [name for name in example_photos if name not in PHOTO_NAMES]
            if unknown or not example_photos:
                raise UserError(f"example_photos {list(example_photos)} invalid; allowed: one or more of {', '.join(PHOTO_NAMES)}")
        if style is None:
            unknown = [name for name in example_styles if name not in EXAMPLE_STYLES]
            if unknown or not example_styles:
                raise UserError(f"example_styles {list(example_styles)} invalid; allowed: one or more of {', '.join(EXAMPLE_STYLES)}")
        # Fail at start-up, before any training, on a missing path or an empty folder.
        self.content_files = _image_files(content, "content") if content is not None else None
        self.style_files = _image_files(style, "style") if style is not None else None
        self.example_photos = list(example_photos)
        self.example_styles = list(example_styles)
        self.crops_per_epoch = crops_per_epoch
        self.flip = flip
        self.grey_fraction = grey_fraction

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        content: list = self.content_files or [example_photo(name) for name in self.example_photos]
        style: list = self.style_files or [example_style(name) for name in self.example_styles]
        crops = lambda images, n, size, flip, grey=0.0: RandomCrops(images, n, self.resolution, size, self.channels, flip, grey)  # noqa: E731
        self.train_set = UnpairedDataset(
            crops(content, self.crops_per_epoch, self.load_size, self.flip, self.grey_fraction),
            crops(style, self.crops_per_epoch, self.style_load_size, self.flip),
            random_style=True,
        )
        # Validation: fixed crops (seeded, so every run sees the same ones), one per content image.
        rng_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        num_val = max(self.batch_size, 4)
        val_content = crops(content, num_val, self.load_size, False)
        val_style = crops(style, num_val, self.style_load_size, False)
        self.val_set = UnpairedDataset(ItemList([val_content[i] for i in range(num_val)]), ItemList([val_style[i] for i in range(num_val)]), random_style=False)
        torch.random.set_rng_state(rng_state)
        if self.content_files is not None:
            self.predict_set = NamedImageDataset(self.content_files, self.channels)
        else:
            to_tensor = full_image_transform(self.channels)
            self.predict_set = ItemList([(to_tensor(to_mode(image, self.channels)), name) for image, name in zip(content, self.example_photos)])
