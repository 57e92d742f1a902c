"""A requeued job restarts on the same image folder: the corrupt-file check opened every file at every
start; now each file is opened once, and again only when it changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from gan_lightning.data import ImageFolderDataModule
from tests.conftest import write_rgb_images


def files_opened_by_a_start(root: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    opened = []
    real_open = Image.open

    def counting_open(fp, *args, **kwargs):
        opened.append(fp)
        return real_open(fp, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", counting_open)
        ImageFolderDataModule(root=str(root), resolution=16, num_workers=0).setup("fit")
    return opened


def test_a_restart_opens_only_new_or_changed_images(image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAN_LIGHTNING_CACHE", str(tmp_path / "cache"))
    assert len(files_opened_by_a_start(image_folder, monkeypatch)) == 12
    assert files_opened_by_a_start(image_folder, monkeypatch) == []

    changed = write_rgb_images(image_folder, 1, size=(20, 20), seed=7)[0]  # img000.png rewritten: new size
    (image_folder / "broken.png").write_bytes(b"not an image")
    with pytest.warns(UserWarning, match="skipping 1 unreadable image file"):
        opened = files_opened_by_a_start(image_folder, monkeypatch)
    assert sorted(Path(p).name for p in opened) == ["broken.png", changed.name]
    with pytest.warns(UserWarning, match="skipping 1 unreadable image file"):  # still skipped, without opening it
        assert files_opened_by_a_start(image_folder, monkeypatch) == []


def test_an_unwritable_cache_only_warns(image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("GAN_LIGHTNING_CACHE", str(blocker))
    with pytest.warns(UserWarning, match="could not remember the image check"):
        assert len(files_opened_by_a_start(image_folder, monkeypatch)) == 12
