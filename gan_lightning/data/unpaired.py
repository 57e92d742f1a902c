"""Two unaligned image folders (content and style) for style transfer (CUT family).

Batches are ``(content, style)``, both (N, C, resolution, resolution) in [-1, 1]; the two sets need
not have the same size and are not aligned. The other sources of such batches are
``single_image.py`` (one image pair, SinCUT) and ``bundled_style.py`` (the offline example).
"""

from __future__ import annotations

from pathlib import Path

from gan_lightning.data.base import StyleDataModule
from gan_lightning.data.datasets import NamedImageDataset, UnpairedDataset
from gan_lightning.data.image_folder import ImageFileDataset, readable_files
from gan_lightning.data.transforms import image_transform, load_size_for, random_crop_transform
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import scan_images


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


class UnpairedDataModule(StyleDataModule):
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

    predict_from_files = True

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
        self.load_size = load_size_for(load_size, resolution)
        self.flip = flip
        self.skip_corrupt = skip_corrupt
        path = Path(root).expanduser()
        if not path.is_dir():
            raise UserError(f"style transfer data folder {root!r} does not exist or is not a folder")
        # Fail at start-up, before any training, on a bad layout or an empty folder.
        self.folders = _folder_layout(path)
        self.files = [scan_images(folder) for folder in self.folders]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        files = [readable_files(f, str(folder), self.skip_corrupt) for f, folder in zip(self.files, self.folders)]
        train_t = random_crop_transform(self.resolution, self.load_size, self.channels, self.flip)
        val_t = image_transform(self.resolution, self.channels, flip=False)
        side = lambda f, t: ImageFileDataset(f, self.channels, t, self.skip_corrupt)  # noqa: E731
        self.train_set = UnpairedDataset(side(files[0], train_t), side(files[1], train_t), random_style=True)
        self.val_set = UnpairedDataset(side(files[2], val_t), side(files[3], val_t), random_style=False)
        self.predict_set = NamedImageDataset(files[2], self.channels)
