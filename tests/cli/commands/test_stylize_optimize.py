"""`stylize --method optimize --style S`: no checkpoint, photos written at --size, progress on
stderr, and one line for each bad option."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_cli, write_rgb_images
from tests.helpers.reliability import one_line_error

FAST = ["--device", "cpu", "--steps", "4", "--features", "random_wide"]


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    photos = write_rgb_images(tmp_path / "photos", 2, size=(60, 40))
    style = write_rgb_images(tmp_path / "styles", 1, size=(32, 32), seed=1)[0]
    return photos[0].parent, style


def test_optimize_needs_no_checkpoint_and_writes_each_photo_at_the_optimised_size(tmp_path, pair, capsys):
    photos, style = pair
    run_cli("stylize", "--method", "optimize", "--style", style, "--style-size", "32", "--input", photos, "--out", tmp_path / "out", "--size", "30", *FAST)
    written = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in written] == ["img000.png", "img001.png"]
    assert all(Image.open(p).size == (30, 20) for p in written)
    captured = capsys.readouterr()
    assert "img000.png: optimised and written at 30x20 (--size 30; the photo is 60x40)" in captured.err
    assert "img001.png: step 4/4" in captured.err
    assert "stylized 2 image(s)" in captured.out


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--ckpt", "model.ckpt"], "--ckpt is not used by --method optimize"),
        (["--steps", "0"], "--steps 0 is invalid; allowed: >= 1"),
        (["--size", "-2"], "--size -2 is invalid"),
        (["--optimizer", "sgd"], "--optimizer 'sgd' is invalid; allowed: lbfgs, adam"),
        (["--content-layer", "relu5_1"], "--content-layer 'relu5_1' is invalid; allowed: relu1_1"),
        (["--features", "resnet"], "--features 'resnet' is invalid; allowed: random, random_wide, random_spatial, vgg19, vgg16, auto"),
        (["--style-weight", "-1"], "--style-weight -1.0 is invalid; allowed: >= 0"),
        (["--lr", "0"], "--lr 0.0 is invalid; allowed: > 0"),
    ],
)
def test_bad_optimize_option_is_one_line_and_writes_nothing(tmp_path, pair, capsys, options, words):
    photos, style = pair
    error = one_line_error(capsys, "stylize", "--method", "optimize", "--style", style, "--input", photos, "--out", tmp_path / "out", *FAST, *options)
    assert words in error, error
    assert not (tmp_path / "out").exists()


def test_optimize_without_a_style_and_generator_without_a_checkpoint_say_what_to_add(tmp_path, pair, capsys):
    photos, _ = pair
    error = one_line_error(capsys, "stylize", "--method", "optimize", "--input", photos, "--out", tmp_path / "out")
    assert "--method optimize needs --style IMAGE" in error
    error = one_line_error(capsys, "stylize", "--input", photos, "--out", tmp_path / "out")
    assert "--ckpt is required with --method generator" in error
    assert not (tmp_path / "out").exists()


def test_optimize_and_the_presets_use_vgg19_when_its_weights_are_given(tmp_path, pair, capsys, monkeypatch):
    import torch

    from gan_lightning.core.nets import perceptual
    from gan_lightning.training.models.style_transfer import StyleTransfer

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr("torch.hub._hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr("torch.hub.download_url_to_file", no_download)
    perceptual._say_auto_choice.cache_clear()
    weights = tmp_path / "vgg19.pth"  # an un-initialised torchvision vgg19 cut at relu4_1: shapes only
    torch.save({f"features.{k}": v for k, v in perceptual.FeatureNetwork("vgg19", load_weights=False).layers.state_dict().items()}, weights)
    photos, style = pair
    run_cli("stylize", "--method", "optimize", "--style", style, "--input", photos / "img000.png", "--out", tmp_path / "out",
            "--size", "32", "--device", "cpu", "--steps", "2", "--features", "auto", "--weights-path", weights)  # fmt: skip
    assert Image.open(tmp_path / "out" / "img000.png").size == (32, 21)
    captured = capsys.readouterr()
    assert "'auto': vgg19 (weights from" in captured.err and "vgg19 features" in captured.out
    # A preset with perceptual.network auto: the model records the network auto picked.
    model = StyleTransfer(resolution=32, generator={"width": 8, "blocks": 1}, style_network={"width": 8}, num_patches=16,
                          lambda_style=1.0, perceptual={"network": "auto", "weights_path": str(weights)})  # fmt: skip
    assert model.hparams.perceptual["network"] == "vgg19" and model.perceptual.network.name == "vgg19"
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    style_term, content_term = model.perceptual(images, images.flip(0), images.roll(3, -1))
    assert torch.isfinite(style_term) and torch.isfinite(content_term) and style_term > 0
    perceptual._say_auto_choice.cache_clear()
