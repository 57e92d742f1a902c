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


def test_the_one_walk_finds_what_rglob_found_in_the_same_order(tmp_path: Path) -> None:
    # The training order and prepare's dataset order follow this list: it must not change with the walk.
    from gan_lightning.common.images import list_images, scan_images

    for name in ["b/x.png", "a.b/y.PNG", "a/z.jpg", "a/deeper/w.webp", "A/v.bmp", "top.jpeg", ".hidden.png", "a/..png",
                 "notes.txt", "a/.png", "a/trailing.", "folder.png/inner.png"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "linked_file.png").symlink_to(tmp_path / "top.jpeg")
    (tmp_path / "linked_folder").symlink_to(tmp_path / "a")  # not entered, as rglob does not
    (tmp_path / "dangling.png").symlink_to(tmp_path / "missing.png")
    extensions = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    expected = sorted(p for p in tmp_path.rglob("*") if p.suffix.lower() in extensions and p.is_file())
    assert list_images(tmp_path) == expected
    scanned = scan_images(tmp_path)
    assert [file.path for file in scanned] == expected
    assert [file.name for file in scanned] == [p.relative_to(tmp_path).as_posix() for p in expected]
    assert [(file.size, file.mtime_ns) for file in scanned] == [(p.stat().st_size, p.stat().st_mtime_ns) for p in expected]
