"""A user points ImageFolderDataModule at their folder: every common image mode loads right,
and bad folders or files give clear messages instead of crashes."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.data import ImageFolderDataModule
from gan_lightning.common.errors import UserError
from gan_lightning.common.images import load_image
from tests.conftest import write_rgb_images


def make_module(root: Path, **kwargs) -> ImageFolderDataModule:
    kwargs = {"resolution": 16, "batch_size": 4, "num_workers": 0, "val_fraction": 0.25, **kwargs}
    module = ImageFolderDataModule(root=str(root), **kwargs)
    module.setup("fit")
    return module


def test_batches_have_the_asked_shape_and_range(image_folder: Path) -> None:
    module = make_module(image_folder)
    images, labels = next(iter(module.train_dataloader()))
    assert images.shape == (4, 3, 16, 16)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert len(module.train_set) == 9 and len(module.val_set) == 3  # 12 images, 25% held out


def test_split_is_fixed_by_its_seed(image_folder: Path) -> None:
    a, b = make_module(image_folder), make_module(image_folder)
    assert a.val_set.indices == b.val_set.indices
    assert make_module(image_folder, split_seed=5).val_set.indices != a.val_set.indices or len(a.val_set) == 0


def test_grayscale_output(image_folder: Path) -> None:
    images, _ = next(iter(make_module(image_folder, channels=1).train_dataloader()))
    assert images.shape == (4, 1, 16, 16)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"image folder '.*nowhere' does not exist"):
        ImageFolderDataModule(root=str(tmp_path / "nowhere"))


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"no images \(.png, .jpg, .jpeg, .webp, .bmp\) found under '.*empty'"):
        ImageFolderDataModule(root=str(tmp_path / "empty"))
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="no images"):
        ImageFolderDataModule(root=str(tmp_path / "text"))


def test_a_file_instead_of_a_folder(tmp_path: Path) -> None:
    path = write_rgb_images(tmp_path, 1)[0]
    with pytest.raises(UserError, match="is not a folder"):
        ImageFolderDataModule(root=str(path))


def add_corrupt_files(root: Path) -> None:
    (root / "zero.png").write_bytes(b"")
    (root / "garbage.jpg").write_bytes(b"this is not an image at all")
    good = (root / "img000.png").read_bytes()
    (root / "truncated.png").write_bytes(good[: len(good) // 2])


def test_corrupt_files_are_skipped_with_one_counting_warning(image_folder: Path) -> None:
    add_corrupt_files(image_folder)
    with pytest.warns(UserWarning, match=r"skipping 3 unreadable image file\(s\)") as record:
        module = make_module(image_folder, val_fraction=0.0)
    assert len([w for w in record if "unreadable" in str(w.message)]) == 1
    assert len(module.train_set) == 12
    # A whole epoch runs.
    assert sum(len(batch[0]) for batch in module.train_dataloader()) == 12


def test_corrupt_files_can_be_made_fatal(image_folder: Path) -> None:
    add_corrupt_files(image_folder)
    with pytest.raises(UserError, match=r"3 unreadable image file\(s\).*skip_corrupt"):
        make_module(image_folder, skip_corrupt=False)


def test_a_file_that_breaks_mid_epoch_is_replaced_not_fatal(image_folder: Path) -> None:
    module = make_module(image_folder, val_fraction=0.0)
    # Damage a file after the start-up scan, as a flaky network disk might.
    victim = sorted(image_folder.rglob("*.png"))[0]
    victim.write_bytes(b"")
    with pytest.warns(UserWarning, match="skipping unreadable image"):
        batches = list(module.train_dataloader())
    assert sum(len(b[0]) for b in batches) == 12


def test_every_image_mode_loads(tmp_path: Path) -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(gray, mode="L").save(tmp_path / "gray.png")
    Image.fromarray(gray, mode="L").convert("P").save(tmp_path / "palette.png")
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    sixteen = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "sixteen.png")
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(tmp_path / "photo.webp")
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / "old.bmp")

    gray_rgb = np.asarray(load_image(tmp_path / "gray.png", 3))
    assert gray_rgb.shape == (8, 8, 3) and (gray_rgb[..., 0] == gray).all()
    assert np.asarray(load_image(tmp_path / "palette.png", 3)).shape == (8, 8, 3)
    rgba_rgb = np.asarray(load_image(tmp_path / "rgba.png", 3))
    assert tuple(rgba_rgb[0, 0]) == (255, 0, 0)  # opaque stays red
    assert tuple(rgba_rgb[7, 7]) == (255, 255, 255)  # transparent -> white matte
    sixteen_l = np.asarray(load_image(tmp_path / "sixteen.png", 1)).astype(int)
    # 16-bit values are scaled to 8 bits, not clipped: 63000 / 65535 * 255 = 245
    assert sixteen_l[7, 7] == round(63000 / 65535 * 255)
    assert sixteen_l[0, 1] == round(1000 / 65535 * 255)
    assert np.asarray(load_image(tmp_path / "photo.webp", 1)).shape == (8, 8)
    assert np.asarray(load_image(tmp_path / "old.bmp", 3)).shape == (8, 8, 3)

    module = make_module(tmp_path, val_fraction=0.0, batch_size=6)
    images, _ = next(iter(module.train_dataloader()))
    assert images.shape == (6, 3, 16, 16) and torch.isfinite(images).all()


def test_bad_val_fraction(image_folder: Path) -> None:
    with pytest.raises(UserError, match=r"val_fraction must be in \[0, 1\), got 1.5"):
        ImageFolderDataModule(root=str(image_folder), val_fraction=1.5)
