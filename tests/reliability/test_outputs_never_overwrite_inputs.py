"""A user points a tool's --out at its own input, at a folder inside the input, or at files a
previous run wrote: inputs are never replaced, our outputs are not read back as inputs, and an
existing file is only replaced with --overwrite."""

from __future__ import annotations

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
