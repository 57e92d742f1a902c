"""Images as the whole package sees them: tensors in [-1, 1] (what generators take and make), and
image files. The one place that converts between [-1, 1], [0, 1], uint8 and files.

Plain torch, numpy and PIL: inference commands use it without the training stack.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.utils import make_grid, save_image

from gan_lightning.common.errors import UserError
from gan_lightning.common.outputs import written_file

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Transparent pixels are composited onto white, as image viewers show them.
_MATTE = (255, 255, 255)
_UNREADABLE = (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError)
_LOSSY = (".jpg", ".jpeg", ".webp")

# --- value ranges ----------------------------------------------------------------------------------


def to_unit(images: Tensor) -> Tensor:
    """[-1, 1] -> float [0, 1] (clamped)."""
    return (images.float().clamp(-1, 1) + 1) / 2


def from_unit(images: Tensor) -> Tensor:
    """[0, 1] -> [-1, 1]."""
    return images * 2 - 1


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] -> uint8 [0, 255], rounded half up as NVlabs quantizes (x * 127.5 + 128, clamped,
    truncated): the images the metrics' detectors see are those NVlabs' see."""
    return (images.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def from_uint8(images: Tensor) -> Tensor:
    """uint8 (or float) [0, 255] -> float [-1, 1], a new tensor. Computed in place on one new float
    copy: a batch's fresh temporaries cost more than the arithmetic (the same values as
    ``images.float() / 127.5 - 1.0``)."""
    return images.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def pil_to_tensor(image: Image.Image) -> Tensor:
    """RGB or L PIL image -> (C, H, W) float in [-1, 1]."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return from_uint8(torch.from_numpy(array).permute(2, 0, 1))


def square_crop(image: Image.Image, resolution: int) -> Tensor:
    """PIL image -> (C, resolution, resolution) in [-1, 1]: short side resized (antialiased), centre
    cropped; what the data's evaluation transform does, for commands that load one image."""
    from torchvision.transforms.v2 import functional

    pixels = functional.pil_to_tensor(image)
    pixels = functional.center_crop(functional.resize(pixels, resolution, antialias=True), resolution)
    return from_uint8(pixels)


def tensor_to_pil(image: Tensor) -> Image.Image:
    """(C, H, W) in [-1, 1] with 1 or 3 channels -> PIL image (L or RGB)."""
    array = to_uint8(image.detach()).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)


# --- reading ---------------------------------------------------------------------------------------


class ImageFile(NamedTuple):
    """An image file found by ``scan_images``, with what one ``stat`` of it said. Its path is kept
    as a string: a million ``Path`` objects take seconds to build at every start."""

    location: str  # the file's path
    name: str  # relative to the scanned folder, "/"-separated
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.location)


def list_images(root: str | os.PathLike) -> list[Path]:
    """All image files under ``root`` (recursive, sorted). Errors name the path if there are none."""
    return [Path(entry.path) for _, entry in _image_entries(root)]


def scan_images(root: str | os.PathLike) -> list[ImageFile]:
    """``list_images`` with each file's size and modification time, from one walk and one ``stat``
    per file: what a restart on a million files needs to tell changed files from known ones."""
    found = []
    for parts, entry in _image_entries(root):
        stat = entry.stat()
        found.append(ImageFile(entry.path, "/".join(parts), stat.st_size, stat.st_mtime_ns))
    return found


def _image_entries(root: str | os.PathLike) -> list[tuple[tuple[str, ...], os.DirEntry]]:
    # os.scandir tells files from folders without a stat per entry (rglob + is_file cost one each).
    # The same files, in the same order, as sorted(p for p in Path(root).rglob("*") if
    # p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()) on Python 3.11: symlinked folders are
    # not entered, symlinked files count, Paths sort by their parts (a test compares the two).
    path = Path(root).expanduser()
    if not path.exists():
        raise UserError(f"image folder {str(path)!r} does not exist")
    if not path.is_dir():
        raise UserError(f"{str(path)!r} is not a folder; expected a folder of images ({', '.join(IMAGE_EXTENSIONS)})")
    found: list[tuple[tuple[str, ...], os.DirEntry]] = []
    folders: list[tuple[str, tuple[str, ...]]] = [(str(path), ())]
    while folders:
        folder, parts = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except PermissionError:
            continue  # as rglob: an unreadable subfolder is passed over
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir() and not entry.is_symlink():
                    folders.append((entry.path, (*parts, name)))
                    continue
                dot = name.rfind(".")  # Path.suffix's rule: not a leading dot, not a trailing one
                if 0 < dot < len(name) - 1 and name[dot:].lower() in IMAGE_EXTENSIONS and entry.is_file():
                    found.append(((*parts, name), entry))
            except OSError as error:  # a symbolic link that points at itself, or round a loop
                raise UserError(
                    f"cannot look at {entry.path!r} under image folder {str(path)!r}: {error.strerror}; allowed: files, "
                    "folders and links that lead to one (remove or fix that link)"
                ) from None
    if not found:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {str(path)!r}")
    found.sort(key=lambda item: item[0])
    return found


def to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Converts any PIL image (1-bit, palette, grayscale, 16-bit, float, RGBA, CMYK) to RGB or L."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float32)
        if image.mode == "F":
            peak = 1.0 if array.max(initial=0.0) <= 1.0 else 255.0
        else:
            peak = 65535.0 if image.mode.startswith("I;16") or array.max(initial=0.0) > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        matte = Image.new("RGBA", rgba.size, _MATTE + (255,))
        image = Image.alpha_composite(matte, rgba)
    return image.convert("RGB" if channels == 3 else "L")


def load_image(path: str | os.PathLike, channels: int = 3) -> Image.Image:
    """Opens and fully decodes an image file as RGB (channels=3) or L (channels=1).

    Raises ``UserError`` naming the file when it is empty, truncated or not an image.
    """
    try:
        if os.path.getsize(path) == 0:
            raise UserError(f"image file {str(path)!r} is empty (0 bytes)")
        with Image.open(path) as image:
            image.load()
            return to_mode(image, channels)
    except UserError:
        raise
    except _UNREADABLE as error:
        raise UserError(f"cannot read image {str(path)!r}: {error}") from None


def decode_image(data: bytes, name: str, channels: int = 3) -> Image.Image:
    """``load_image`` for an image held in memory (an archive member); ``name`` is what errors show."""
    if not data:
        raise UserError(f"image {name!r} is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return to_mode(image, channels)
    except _UNREADABLE as error:
        raise UserError(f"cannot read image {name!r}: {error}") from None


def is_readable_image(path: Path) -> bool:
    """Cheap validity check: non-empty, known format, and structurally intact (``verify``)."""
    try:
        if path.stat().st_size == 0:
            return False
        with Image.open(path) as image:
            image.verify()
        return True
    except _UNREADABLE:
        return False


# --- writing ---------------------------------------------------------------------------------------


def to_grid(images: Tensor, nrow: int | None = None) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> one (C, H', W') grid in [0, 1] on the CPU (square by default)."""
    nrow = nrow or max(1, int(len(images) ** 0.5))
    return make_grid(to_unit(images.detach()).cpu(), nrow=nrow, padding=2)


def save_image_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """(N, C, H, W) in [-1, 1] -> one PNG grid (parent folders are created; written whole or not at all)."""
    path = Path(path)
    with written_file(path) as temporary:
        save_image(to_grid(images, nrow), temporary)
    return path


def save_image_file(image: Tensor, path: str | os.PathLike) -> Path:
    """(C, H, W) in [-1, 1] -> a file in the format its extension names (JPEG/WebP at quality 95;
    written whole or not at all)."""
    path = Path(path)
    pil = tensor_to_pil(image)
    with written_file(path) as temporary:
        pil.save(temporary, quality=95) if path.suffix.lower() in _LOSSY else pil.save(temporary)
    return path


def save_images(images: Tensor, folder: str | os.PathLike, names: list[str]) -> list[Path]:
    """One PNG per image: ``folder/<name>.png`` (a name may hold subfolders)."""
    return [save_image_file(image, Path(folder) / f"{name}.png") for image, name in zip(images, names)]
