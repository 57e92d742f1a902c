"""One content image and one style image (SinCUT): random zoomed crops of both, and the bundled
example pair used when no images are given."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2

from gan_lightning.data.base import StyleDataModule
from gan_lightning.data.datasets import ItemList, NamedImageDataset, UnpairedDataset
from gan_lightning.data.example_photos import check_example_names, example_photo, example_style
from gan_lightning.data.shape_looks import render_look
from gan_lightning.data.shapes import scene_for_index
from gan_lightning.data.transforms import full_image_transform, load_size_for
from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import IMAGE_EXTENSIONS, from_uint8, load_image, to_mode


class ZoomedCrops(Dataset):
    """``num_crops`` random crops of one image, each at a random zoom in [min_zoom, max_zoom] of the
    image resized so its short side is ``load_size``; flipped at random when ``flip``."""

    def __init__(
        self, image: Image.Image, num_crops: int, resolution: int, load_size: int, min_zoom: float, max_zoom: float, flip: bool
    ) -> None:
        self.image = v2.functional.pil_to_tensor(image)  # uint8: resized before the step to [-1, 1]
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
        return from_uint8(image), 0


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


class SingleImagePairDataModule(StyleDataModule):
    """One content image and one style image (SinCUT): every batch is random zoomed crops of both.

    Args:
        content: path of the content image; None (with ``style`` None): an example pair.
        style: path of the style image; None (with ``content`` None): an example pair.
        example_photo / example_style: without paths, a scikit-image photo and an example style
            (``data/example_photos.py``, e.g. chelsea and grass_ink); both None: the bundled mosaics.
        resolution: side of the training crops.
        load_size: short side of the content image at zoom 1; None: resolution * 286/256.
        style_load_size: short side of the style image at zoom 1, which sets the size of its texture
            elements in a crop (and so in the output); None: ``load_size``.
        min_zoom / max_zoom: range of the random zoom (1 to 3 in SinCUT: crops see finer and coarser detail).
        crops_per_epoch: training items per epoch (the Trainer's epochs are otherwise meaningless here).
        flip: random horizontal flips.
    """

    def __init__(
        self,
        content: str | None = None,
        style: str | None = None,
        example_photo: str | None = None,
        example_style: str | None = None,
        resolution: int = 128,
        load_size: int | None = None,
        style_load_size: int | None = None,
        min_zoom: float = 1.0,
        max_zoom: float = 3.0,
        crops_per_epoch: int = 1000,
        flip: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, **kwargs)
        self.load_size = load_size_for(load_size, resolution)
        self.style_load_size = load_size_for(style_load_size if style_load_size is not None else self.load_size, resolution)
        if not 0 < min_zoom <= max_zoom:
            raise UserError(f"zoom range [{min_zoom}, {max_zoom}] is invalid; allowed: 0 < min_zoom <= max_zoom")
        check_at_least("crops_per_epoch", crops_per_epoch, 1)
        if (example_photo is None) != (example_style is None):
            raise UserError("give both example_photo and example_style, or neither (the bundled mosaics)")
        if example_photo is not None and content is not None:
            raise UserError(
                "give content/style image paths or example_photo/example_style, not both "
                "(configs/style_transfer_single.yaml sets the example pair: add --data.init_args.example_photo null --data.init_args.example_style null)"
            )
        if example_photo is not None:
            check_example_names(example_photo, example_style)
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
        self.example = None if example_photo is None else (example_photo, example_style)
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom
        self.crops_per_epoch = crops_per_epoch
        self.flip = flip

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.example is not None:
            content, style = (to_mode(image, self.channels) for image in (example_photo(self.example[0]), example_style(self.example[1])))
        elif self.content is None or self.style is None:
            content, style = (to_mode(image, self.channels) for image in bundled_image_pair())
        else:
            content, style = load_image(self.content, self.channels), load_image(self.style, self.channels)
        crops = lambda image, n, lo, hi, flip, size=self.load_size: ZoomedCrops(image, n, self.resolution, size, lo, hi, flip)  # noqa: E731
        self.train_set = UnpairedDataset(
            crops(content, self.crops_per_epoch, self.min_zoom, self.max_zoom, self.flip),
            crops(style, self.crops_per_epoch, self.min_zoom, self.max_zoom, self.flip, self.style_load_size),
            random_style=False,
        )
        # Validation: a fixed handful of crops at zoom 1 (seeded so every run sees the same ones).
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        num_val = max(self.batch_size, 4)
        val_content = [crops(content, 1, 1.0, 1.0, False)[0] for _ in range(num_val)]
        val_style = [crops(style, 1, 1.0, 1.0, False, self.style_load_size)[0] for _ in range(num_val)]
        torch.random.set_rng_state(generator_state)
        self.val_set = UnpairedDataset(ItemList(val_content), ItemList(val_style), random_style=False)
        if self.content is None:
            name = "bundled_content" if self.example is None else self.example[0]
            self.predict_set = ItemList([(full_image_transform(self.channels)(content), name)])
        else:
            self.predict_set = NamedImageDataset([Path(self.content)], self.channels)
