"""Data that cannot be read or a folder that cannot be written: one `error:` line naming it, at
start (before any training), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, write_rgb_images
from tests.helpers.reliability import one_line_error

VANILLA = REPO / "configs" / "vanilla_gan.yaml"
TINY = ["--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.max_steps", "2",
        "--model.init_args.generator.width", "8", "--model.init_args.discriminator.width", "8"]  # fmt: skip


@pytest.fixture
def folder_with_a_link_loop(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_rgb_images(root, 4)
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    return root


def test_a_symlink_loop_in_an_image_folder(folder_with_a_link_loop: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prepare = one_line_error(capsys, "prepare", "--source", folder_with_a_link_loop, "--out", tmp_path / "out", "--resolution", "32", "--workers", "1")
    fit = one_line_error(capsys, "fit", "--config", VANILLA, "--data", "ImageFolderDataModule", "--data.root", folder_with_a_link_loop,
                         "--data.resolution", "32", "--trainer.default_root_dir", tmp_path / "run", *TINY)  # fmt: skip
    for line in (prepare, fit):
        assert "Too many levels of symbolic links" in line and str(folder_with_a_link_loop) in line


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("prepared_whole")
    write_rgb_images(root / "images", 8)
    run_cli("prepare", "--source", root / "images", "--out", root / "prepared", "--resolution", "32", "--workers", "1")
    return root / "prepared"


def truncated_index(folder: Path) -> str:
    index = folder / "index.json"
    index.write_text(index.read_text()[:100])
    return f"{index} is missing or not a whole litdata index"


def truncated_chunk(folder: Path) -> str:
    chunk = folder / json.loads((folder / "index.json").read_text())["chunks"][0]["filename"]
    chunk.write_bytes(chunk.read_bytes()[:1000])
    return f"chunk {chunk} holds 1000 bytes where the index says"


def missing_chunk(folder: Path) -> str:
    chunk = folder / json.loads((folder / "index.json").read_text())["chunks"][0]["filename"]
    chunk.unlink()
    return f"chunk {chunk} is missing"


@pytest.mark.parametrize("damage", [truncated_index, truncated_chunk, missing_chunk])
def test_a_damaged_prepared_dataset(damage, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(prepared, copy)
    expected = damage(copy)
    line = one_line_error(capsys, "fit", "--config", VANILLA, "--data", "gan_lightning.data.StreamingDataModule", "--data.input_dir", copy,
                          "--data.num_workers", "0", "--data.batch_size", "4", "--trainer.default_root_dir", tmp_path / "run", *TINY)  # fmt: skip
    assert expected in line


def test_a_checkpoint_folder_that_cannot_be_written_fails_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    unwritable = "/proc/gan_lightning_checkpoints"  # not even root can create it
    line = one_line_error(capsys, "fit", "--config", VANILLA, "--trainer.default_root_dir", tmp_path / "run",
                          "--trainer.callbacks.dirpath", unwritable, "--trainer.callbacks+=tests.helpers.reliability.RecordFirstBatch",
                          "--trainer.callbacks.record", tmp_path / "trained", *TINY)  # fmt: skip
    assert f"checkpoint folder {unwritable!r} cannot be written" in line
    assert not (tmp_path / "trained").exists()  # nothing trained
