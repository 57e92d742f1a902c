"""A user points a tool's --out at its own input, at a folder inside the input, or at files a
previous run wrote: inputs are never replaced, our outputs are not read back as inputs, and an
existing file is only replaced with --overwrite."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gan_lightning.common.outputs import OUTPUT_MARKER
from tests.conftest import ASSETS, run_cli, write_rgb_images
from tests.helpers.reliability import one_line_error

STYLE_TRANSFER = ASSETS / "v0_style_transfer.ckpt"
STYLEGAN = ASSETS / "v0_stylegan.ckpt"


def contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def stylized(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != OUTPUT_MARKER)


def test_stylized_into_the_input_folder(tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    write_rgb_images(photos, 2, size=(16, 16))
    before = contents(photos)
    for out in (photos, f"{photos}/", photos / "."):
        error = one_line_error(capsys, "stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", out, "--overwrite")
        assert "would write over 2 input file(s)" in error
    error = one_line_error(capsys, "stylize", "--ckpt", STYLE_TRANSFER, "--input", photos / "img000.png", "--out", photos)
    assert "would write over 1 input file(s)" in error
    assert contents(photos) == before  # the originals, byte for byte


def test_stylized_into_a_folder_inside_the_input_twice(tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    write_rgb_images(photos, 2, size=(16, 16))
    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", photos / "styled")
    assert stylized(photos / "styled") == ["img000.png", "img001.png"]
    first = contents(photos / "styled")

    error = one_line_error(capsys, "stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", photos / "styled")
    assert "already holds 2 of the files" in error and "--overwrite" in error  # not styled/styled/...
    assert contents(photos / "styled") == first

    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", photos / "styled", "--overwrite")
    assert stylized(photos / "styled") == ["img000.png", "img001.png"]  # read the originals only
    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", photos / "again")
    assert stylized(photos / "again") == ["img000.png", "img001.png"]  # the earlier output is not an input
    run_cli("stylize", "--ckpt", STYLE_TRANSFER, "--input", photos / "styled", "--out", tmp_path / "twice")
    assert stylized(tmp_path / "twice") == ["img000.png", "img001.png"]  # an output named as --input is read


def test_converted_a_checkpoint_onto_itself(tmp_path: Path, capsys) -> None:
    source = tmp_path / "g.pt"
    source.write_bytes(b"the user's only copy")
    for out in (source, tmp_path / "." / "g.pt"):
        error = one_line_error(capsys, "convert", source, "--from", "rosinality", "--out", out, "--overwrite")
        assert "is the input" in error
    assert source.read_bytes() == b"the user's only copy"


def test_generated_over_an_existing_grid(tmp_path: Path, capsys) -> None:
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"an earlier grid")
    error = one_line_error(capsys, "generate", "--ckpt", STYLEGAN, "--device", "cpu", "--num", "2", "--out", grid)
    assert "already exists" in error and "--overwrite" in error
    assert grid.read_bytes() == b"an earlier grid"
    run_cli("generate", "--ckpt", STYLEGAN, "--device", "cpu", "--num", "2", "--out", grid, "--overwrite")
    assert grid.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("command", "args", "existing"),
    [
        ("generate", ["--num", "2", "--out", "{out}/"], "seed000001.png"),
        ("interpolate", ["--seeds", "1,2", "--steps", "1", "--out", "{out}/"], "frame00001.png"),
        ("style-mix", ["--rows", "1", "--cols", "2", "--out", "{out}/mix.png"], "mix.png"),
        ("project", ["--target", "{photo}", "--steps", "1", "--out", "{out}"], "target_ws.pt"),
    ],
)
def test_a_tool_never_replaces_an_earlier_result_without_overwrite(command: str, args: list[str], existing: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / existing).write_bytes(b"earlier result")
    photo = write_rgb_images(tmp_path / "photos", 1)[0]
    args = [arg.replace("{out}", str(out)).replace("{photo}", str(photo)) for arg in args]
    error = one_line_error(capsys, command, "--ckpt", STYLEGAN, "--device", "cpu", *args)
    assert existing in error and "--overwrite" in error
    assert contents(out) == {existing: b"earlier result"}


HARD_LINKED = {  # command -> (the input's name, the output's name, the arguments besides --out)
    "generate": ("in.ckpt", "hard.png", ["generate", "--ckpt", "{source}", "--device", "cpu", "--num", "2"]),
    "convert": ("in.pt", "hard.ckpt", ["convert", "{source}", "--from", "rosinality"]),
    "style-mix": ("in.ckpt", "hard.png", ["style-mix", "--ckpt", "{source}", "--device", "cpu", "--rows", "1", "--cols", "2"]),
    "interpolate": ("in.ckpt", "hard.gif", ["interpolate", "--ckpt", "{source}", "--device", "cpu", "--seeds", "1,2", "--steps", "1"]),
    "export": ("in.ckpt", "hard.onnx", ["export", "--ckpt", "{source}", "--format", "onnx"]),
}  # fmt: skip


@pytest.mark.parametrize("command", list(HARD_LINKED))
def test_wrote_over_a_hard_link_to_the_input(command: str, tmp_path: Path, capsys) -> None:
    source_name, out_name, args = HARD_LINKED[command]
    source, out = tmp_path / source_name, tmp_path / out_name
    source.write_bytes(STYLEGAN.read_bytes())
    os.link(source, out)  # another name of the same file: no path comparison sees it
    error = one_line_error(capsys, *(str(a).replace("{source}", str(source)) for a in args), "--out", out, "--overwrite")
    assert "is the input" in error
    assert source.read_bytes() == STYLEGAN.read_bytes()


def test_replacing_an_output_leaves_other_names_of_the_old_file_alone(tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    grid.write_bytes(b"an earlier grid")
    os.link(grid, tmp_path / "kept.png")  # the user's second name for the earlier result
    run_cli("generate", "--ckpt", STYLEGAN, "--device", "cpu", "--num", "2", "--out", grid, "--overwrite")
    assert grid.read_bytes().startswith(b"\x89PNG")  # renamed into place, not written into the old file
    assert (tmp_path / "kept.png").read_bytes() == b"an earlier grid"


def disk_full_after(first_bytes: bytes):
    """A writer that puts ``first_bytes`` where it was asked to write, then fails as a full disk does."""

    def write(*args, **kwargs) -> None:
        target = next(arg for arg in args if isinstance(arg, (str, Path)))
        Path(target).write_bytes(first_bytes)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


@pytest.mark.parametrize("out", ["grid.png", "images/"])
def test_disk_full_during_generate_leaves_no_truncated_image(out: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import gan_lightning.common.images as images

    monkeypatch.setattr(images, "save_image", disk_full_after(b"\x89PNG\r\n"))
    monkeypatch.setattr(images.Image.Image, "save", lambda self, *args, **kwargs: disk_full_after(b"\x89PNG\r\n")(*args))
    error = one_line_error(capsys, "generate", "--ckpt", STYLEGAN, "--device", "cpu", "--num", "2", "--out", f"{tmp_path}/{out}")
    assert "No space left on device" in error and str(tmp_path / out.rstrip("/")) in error
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []  # neither a truncated PNG nor a temporary file


DISK_FULL = {  # command -> (the arguments besides --out, --out under the output folder)
    "style-mix": (["style-mix", "--ckpt", STYLEGAN, "--device", "cpu", "--rows", "1", "--cols", "2"], "mix.png"),
    "interpolate": (["interpolate", "--ckpt", STYLEGAN, "--device", "cpu", "--seeds", "1,2", "--steps", "1"], "walk.gif"),
    "stylize": (["stylize", "--ckpt", STYLE_TRANSFER, "--device", "cpu", "--input", "{photos}"], ""),
    "project": (["project", "--ckpt", STYLEGAN, "--device", "cpu", "--target", "{photos}/img000.png", "--steps", "1",
                 "--w-avg-samples", "2"], ""),
}  # fmt: skip


@pytest.mark.parametrize("command", list(DISK_FULL))
def test_disk_full_during_a_tool_leaves_no_truncated_file(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import torch

    import gan_lightning.common.images as images

    write_rgb_images(tmp_path / "photos", 1, size=(32, 32))
    monkeypatch.setattr(images, "save_image", disk_full_after(b"\x89PNG\r\n"))
    monkeypatch.setattr(images.Image.Image, "save", lambda self, *args, **kwargs: disk_full_after(b"GIF89a")(*args))
    monkeypatch.setattr(torch, "save", lambda obj, target, *args, **kwargs: disk_full_after(b"PK\x03\x04")(target))
    args, name = DISK_FULL[command]
    error = one_line_error(capsys, *(str(a).replace("{photos}", str(tmp_path / "photos")) for a in args), "--out", tmp_path / "out" / name)
    assert "No space left on device" in error and str(tmp_path / "out") in error, error
    assert stylized(tmp_path / "out") == []  # neither a truncated output nor a temporary file


def test_disk_full_during_export_leaves_no_model_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import gan_lightning.checkpoints.export.model_folder as model_folder

    monkeypatch.setattr(model_folder, "save_file", disk_full_after(b"\x00" * 8))
    error = one_line_error(capsys, "export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", tmp_path / "model")
    assert "No space left on device" in error and str(tmp_path / "model") in error
    assert list(tmp_path.iterdir()) == []  # no empty folder, no temporary one


def test_disk_full_during_an_onnx_export_leaves_none_of_its_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """StyleGAN's export writes three ONNX files; the disk fills on the second: all or none."""
    import gan_lightning.cli.commands.export as export

    write_onnx = export.write_onnx

    def full_at_the_mapping(graph, path: Path, metadata: dict) -> float:
        if graph.name == "mapping":
            disk_full_after(b"\x08\x09")(path)
        return write_onnx(graph, path, metadata)

    monkeypatch.setattr(export, "write_onnx", full_at_the_mapping)
    error = one_line_error(capsys, "export", "--ckpt", STYLEGAN, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert "No space left on device" in error and str(tmp_path / "g.mapping.onnx") in error
    assert list(tmp_path.iterdir()) == []  # not the whole generator's file without its mapping and synthesis


@pytest.mark.parametrize("file_format", ["onnx", "pt2"])
def test_an_export_that_does_not_match_pytorch_leaves_no_file(file_format: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import gan_lightning.checkpoints.export.runtimes as runtimes

    monkeypatch.setattr(runtimes, "TOLERANCE", -1.0)  # any difference, even 0, is too large
    out = tmp_path / f"g.{file_format}"
    error = one_line_error(capsys, "export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format",
                           "onnx" if file_format == "onnx" else "torch-export", "--out", out)  # fmt: skip
    assert "the generator graph" in error and "differs from PyTorch" in error and "allowed: at most -1" in error, error
    assert "partial" not in error  # the temporary file, gone by then, is not what the user asked for
    assert list(tmp_path.iterdir()) == []


def test_export_over_an_existing_model_folder_keeps_the_users_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    run_cli("export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", folder)
    (folder / "notes.txt").write_text("mine")
    run_cli("export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", folder, "--overwrite")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "notes.txt", "sample.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_exported_a_model_folder_onto_itself(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "model"
    run_cli("export", "--ckpt", ASSETS / "v0_vanilla_gan.ckpt", "--format", "safetensors", "--out", folder)
    before = contents(folder)
    error = one_line_error(capsys, "export", "--ckpt", folder, "--format", "safetensors", "--out", folder, "--overwrite")
    assert "would write over" in error
    assert contents(folder) == before


def test_stylized_into_a_folder_holding_a_hard_link_to_a_photo(tmp_path: Path, capsys) -> None:
    photos = tmp_path / "photos"
    write_rgb_images(photos, 1, size=(16, 16))
    (tmp_path / "out").mkdir()
    os.link(photos / "img000.png", tmp_path / "out" / "img000.png")
    before = contents(photos)
    error = one_line_error(capsys, "stylize", "--ckpt", STYLE_TRANSFER, "--input", photos, "--out", tmp_path / "out", "--overwrite")
    assert "would write over 1 input file(s)" in error
    assert contents(photos) == before


def test_disk_full_while_prepare_writes_its_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_rgb_images(tmp_path / "photos", 2, size=(16, 16))
    write_text = Path.write_text

    def full_for_the_manifest(self: Path, text: str, *args, **kwargs) -> int:
        if "manifest" not in self.name:
            return write_text(self, text, *args, **kwargs)
        write_text(self, text[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full_for_the_manifest)
    out = tmp_path / "prepared"
    error = one_line_error(capsys, "prepare", "--source", tmp_path / "photos", "--out", out, "--resolution", "8", "--workers", "1")
    assert "No space left on device" in error and "manifest.json" in error
    assert not [p.name for p in out.iterdir() if "manifest" in p.name]  # no truncated manifest a reader would trust
