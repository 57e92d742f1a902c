"""`stylize`: any size, tiles, file names, non-images, alpha, colour preservation, bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gan_lightning.training.models.style_transfer import StyleTransfer
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE
from gan_lightning.common.outputs import OUTPUT_MARKER
from gan_lightning.common.tiling import apply_tiled
from gan_lightning.cli.commands.stylize import blend, preserve_color
from tests.conftest import run_cli, write_rgb_images

TINY = dict(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16)


def save_checkpoint(path: Path, model: StyleTransfer) -> Path:
    # What Lightning writes, reduced to what inference reads.
    torch.save({"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(tmp_path / "st.ckpt", StyleTransfer(**TINY))


class Pointwise(nn.Module):
    """A per-pixel 'generator': tiled and whole-image results must then agree exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return torch.tanh(self.scale * x + 0.1)


def test_tiles_blend_back_into_the_whole_image_result():
    image = torch.rand(1, 3, 150, 97) * 2 - 1
    generator = Pointwise()
    whole = generator(image)
    tiled = apply_tiled(generator, image, tile_size=40, overlap=8, multiple=GENERATOR_STRIDE)
    assert tiled.shape == image.shape
    assert torch.allclose(tiled, whole, atol=1e-6)


def test_tiled_stylization_with_a_real_generator_keeps_size_and_range():
    torch.manual_seed(0)
    generator = StyleTransfer(**TINY).generator.eval()
    image = torch.rand(1, 3, 100, 132) * 2 - 1
    tiled = apply_tiled(generator, image, tile_size=64, multiple=GENERATOR_STRIDE)
    assert tiled.shape == image.shape and torch.isfinite(tiled).all() and tiled.abs().max() <= 1


def test_stylize_a_non_square_image_larger_than_the_training_crop_keeps_size_and_name(tmp_path, checkpoint):
    photo = tmp_path / "in" / "holiday photo.jpg"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (75, 131, 3), dtype=np.uint8)).save(photo)
    run_cli("stylize", "--ckpt", checkpoint, "--input", photo, "--out", tmp_path / "out")
    out = tmp_path / "out" / "holiday photo.jpg"
    assert out.exists() and Image.open(out).size == (131, 75)


def test_stylize_with_tiles_gives_the_same_size(tmp_path, checkpoint):
    photo = write_rgb_images(tmp_path / "in", 1, size=(150, 90))[0]
    run_cli("stylize", "--ckpt", checkpoint, "--input", photo, "--out", tmp_path / "out", "--tile-size", "64")
    assert Image.open(tmp_path / "out" / photo.name).size == (150, 90)


def test_folder_input_keeps_names_and_subfolders_and_skips_non_images(tmp_path, checkpoint):
    write_rgb_images(tmp_path / "in", 2, size=(36, 28))
    write_rgb_images(tmp_path / "in" / "trip", 1, size=(20, 44), suffix=".jpg")
    (tmp_path / "in" / "readme.txt").write_text("not an image")
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning) as record:
        run_cli("stylize", "--ckpt", checkpoint, "--input", tmp_path / "in", "--out", tmp_path / "out")
    messages = " ".join(str(w.message) for w in record)
    assert "readme.txt" in messages and "broken.png" in messages
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == [OUTPUT_MARKER, "img000.png", "img001.png", "trip/img000.jpg"]
    assert Image.open(tmp_path / "out" / "trip" / "img000.jpg").size == (20, 44)


def test_alpha_zero_gives_back_the_original(tmp_path, checkpoint):
    photo = write_rgb_images(tmp_path / "in", 1, size=(24, 16))[0]
    run_cli("stylize", "--ckpt", checkpoint, "--input", photo, "--out", tmp_path / "out", "--alpha", "0")
    before = np.asarray(Image.open(photo), dtype=np.int16)
    after = np.asarray(Image.open(tmp_path / "out" / photo.name), dtype=np.int16)
    assert np.abs(before - after).max() <= 1


def test_blend_and_preserve_color():
    original = torch.rand(1, 3, 8, 8) * 2 - 1
    stylized = torch.rand(1, 3, 8, 8) * 2 - 1
    assert torch.allclose(blend(stylized, original, 0.25), 0.25 * stylized + 0.75 * original, atol=1e-6)
    # preserving colour: a grey (chroma-free) stylization takes the original's chroma and keeps its
    # own luminance (mild values, so that no channel is clipped)
    original = original * 0.3
    grey = (stylized.mean(dim=1, keepdim=True) * 0.3).expand(-1, 3, -1, -1)
    kept = preserve_color(grey, original)
    from kornia.color import rgb_to_ycbcr

    ycc = lambda t: rgb_to_ycbcr((t + 1) / 2)  # noqa: E731
    assert torch.allclose(ycc(kept)[:, 1:], ycc(original)[:, 1:], atol=1e-3)
    assert torch.allclose(ycc(kept)[:, :1], ycc(grey)[:, :1], atol=1e-3)
    assert torch.equal(preserve_color(grey[:, :1], original[:, :1]), grey[:, :1])  # grayscale: unchanged


def test_preserve_color_flag_runs(tmp_path, checkpoint):
    photo = write_rgb_images(tmp_path / "in", 1, size=(24, 16))[0]
    run_cli("stylize", "--ckpt", checkpoint, "--input", photo, "--out", tmp_path / "out", "--preserve-color", "--alpha", "0.5")
    assert (tmp_path / "out" / photo.name).exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--alpha", "1.5"], "--alpha 1.5"),
        (["--tile-size", "8"], "--tile-size 8"),
    ],
)
def test_bad_options_end_with_a_one_line_error(tmp_path, checkpoint, capsys, extra, message):
    photo = write_rgb_images(tmp_path / "in", 1)[0]
    with pytest.raises(SystemExit) as exit_info:
        run_cli("stylize", "--ckpt", checkpoint, "--input", photo, "--out", tmp_path / "out", *extra)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_and_checkpoints_are_clear_errors(tmp_path, checkpoint, capsys):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    cases = [
        (["--input", tmp_path / "missing.png"], "does not exist"),
        (["--input", tmp_path / "notes.txt"], "not an image"),
        (["--input", tmp_path / "empty"], "no images"),
    ]
    for args, message in cases:
        with pytest.raises(SystemExit):
            run_cli("stylize", "--ckpt", checkpoint, "--out", tmp_path / "out", *args)
        assert message in capsys.readouterr().err
    photo = write_rgb_images(tmp_path / "in", 1)[0]
    other = tmp_path / "other.ckpt"
    torch.save({"algorithm": "VanillaGAN", "hyper_parameters": {}, "state_dict": {}}, other)
    with pytest.raises(SystemExit):
        run_cli("stylize", "--ckpt", other, "--input", photo, "--out", tmp_path / "out")
    assert "StyleTransfer" in capsys.readouterr().err
