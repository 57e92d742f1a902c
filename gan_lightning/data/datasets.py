"""Small Dataset wrappers the style-transfer DataModules share: pairing a content set with a style
set, naming whole images for ``predict``, and fixed item lists."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch.utils.data import Dataset

from gan_lightning.data.transforms import full_image_transform
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import load_image


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
    """Whole image files as ``(tensor, file stem)`` for ``predict`` (batch size 1: sizes differ)."""

    def __init__(self, files: list[Path], channels: int) -> None:
        self.files = files
        self.transform = full_image_transform(channels)
        self.channels = channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        path = self.files[index]
        return self.transform(load_image(path, self.channels)), path.stem


class NamedByIndex(Dataset):
    """The images of ``(image, label)`` items as ``(image, "content0007")``: names for ``predict``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.width = max(4, int(math.log10(max(len(dataset), 1))) + 1)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        return self.dataset[index][0], f"content{index:0{self.width}d}"


class ItemList(Dataset):
    """A fixed list of ready-made items (validation crops, one bundled image)."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]
