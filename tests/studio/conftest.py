"""What the studio's tests share: the tiny checkpoints of each algorithm, photos to upload, running a
"copy as command" line with the CLI, and studio servers (one per model, for the whole session)."""

from __future__ import annotations

import os
import shlex
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lightning.cli.main import main
from gan_lightning.common.video import read_frames
from tests.conftest import ASSETS

MODELS: dict[str, Path] = {
    "stylegan": ASSETS / "main_stylegan.ckpt",
    "vanilla_gan": ASSETS / "main_vanilla_gan.ckpt",
    "style_transfer": ASSETS / "main_style_transfer.ckpt",
    "arbitrary_style": ASSETS / "main_arbitrary_style.ckpt",
}


def write_photo(path: Path, size: tuple[int, int] = (40, 36), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """A small photo, a style image, and a photo larger than the smallest tile (stylized in tiles)."""
    root = tmp_path_factory.mktemp("photos")
    return {
        "photo": write_photo(root / "photo.png"),
        "style": write_photo(root / "style.png", (48, 48), seed=1),
        "large": write_photo(root / "large.png", (100, 72), seed=2),
    }


def run_command_line(line: str, cwd: Path) -> None:
    """Runs a studio's "copy as command" line with the CLI, in ``cwd`` (where its --out lands)."""
    words = shlex.split(line)
    assert words[:3] == ["python", "-m", "gan_lightning"], line
    cwd.mkdir(parents=True, exist_ok=True)
    before = os.getcwd()
    os.chdir(cwd)
    try:
        main(words[3:])
    finally:
        os.chdir(before)


def pixels(path: str | os.PathLike) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def frames(path: str | os.PathLike) -> torch.Tensor:
    return torch.stack(list(read_frames(path)))


def as_png_frames(line: str) -> str:
    """A walk's command line writing lossless PNG frames to frames/ instead of its MP4."""
    words = shlex.split(line)
    words[words.index("--out") + 1] = "frames/"
    return shlex.join(words)


def png_frames(folder: Path) -> np.ndarray:
    return np.stack([pixels(path) for path in sorted(folder.glob("frame*.png"))])


def encoded_frames(monkeypatch) -> list[np.ndarray]:
    """The frames (uint8, T x H x W x C) each studio walk hands to the MP4 writer, in the order written."""
    from gan_lightning.cli.studio import session
    from gan_lightning.common.images import to_uint8

    seen: list[np.ndarray] = []
    write_video = session.write_video

    def recording(frames, path, fps):
        seen.append(to_uint8(frames).permute(0, 2, 3, 1).numpy())
        return write_video(frames, path, fps)

    monkeypatch.setattr(session, "write_video", recording)
    return seen


def same_videos(ours: torch.Tensor, theirs: torch.Tensor) -> bool:
    """Decoded MP4s of the same frames: equal, since x264 runs without its macroblock tree (common/video.py)."""
    return ours.shape == theirs.shape and torch.equal(ours, theirs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def converted_models(tmp_path_factory) -> dict[str, Path]:
    """StyleGAN3 (config T) and R3GAN checkpoints converted from the tiny official pickles in tests/assets."""
    root = tmp_path_factory.mktemp("converted")
    sources = {"stylegan3": ("nvlabs", ASSETS / "nvlabs_stylegan3_t32.pkl"), "r3gan": ("r3gan", ASSETS / "r3gan" / "tiny.pkl")}
    for name, (source, pickle) in sources.items():
        main(["convert", "--from", source, str(pickle), "--out", str(root / f"{name}.ckpt")])
    return {name: root / f"{name}.ckpt" for name in sources}


@pytest.fixture(scope="session")
def servers(converted_models):
    """name -> a running studio (``Running``: studio, page, url), started on first use and closed at the end:
    one server per model for the whole session (starting Gradio costs seconds)."""
    pytest.importorskip("gradio")
    from gan_lightning.cli.commands.studio import serve

    running: dict[str, tuple] = {}

    def server(name: str) -> tuple:
        if name not in running:
            running[name] = serve(str({**MODELS, **converted_models}[name]), "127.0.0.1", free_port(), "cpu", block=False)
        return running[name]

    yield server
    for studio in running.values():
        studio.page.close()
