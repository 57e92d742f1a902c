"""Training at the scale you stylize: the scale of the photos in training is recorded in the
checkpoint, and `stylize` resizes photos to it (and back), saying so in one line."""

import argparse

import pytest
import torch
from lightning.pytorch import Trainer
from PIL import Image
from torch import nn

from gan_lightning.cli.commands.stylize import photo_size, stylize_batch
from gan_lightning.common.errors import UserError
from gan_lightning.data.single_image import SingleImagePairDataModule
from gan_lightning.training.models.style_transfer import StyleTransfer
from tests.conftest import run_cli, write_rgb_images

TINY = dict(resolution=32, generator=dict(width=8, blocks=1), style_network=dict(width=8), num_patches=16, fid_num_samples=4)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_fit_records_the_photos_training_scale_in_the_checkpoint(tmp_path):
    data = SingleImagePairDataModule(example_photo="chelsea", example_style="grass_ink", resolution=32, load_size=48, style_load_size=40, crops_per_epoch=2, batch_size=2, num_workers=0)
    model = StyleTransfer(**TINY)
    assert model.hparams.stylize_size is None
    trainer = Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, max_steps=1, limit_val_batches=0, default_root_dir=tmp_path)
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    assert torch.load(tmp_path / "m.ckpt", weights_only=False)["hyper_parameters"]["stylize_size"] == 48


def test_the_style_image_has_its_own_scale_in_single_image_training():
    data = SingleImagePairDataModule(example_photo="chelsea", example_style="grass_ink", resolution=32, load_size=96, style_load_size=32, max_zoom=1.0, crops_per_epoch=2, batch_size=2, num_workers=0)
    data.setup("fit")
    content, style = data.val_set[0]
    # grass_ink is square: at a 32 px short side the 32 px crop is the whole style image, the
    # same as the style resized to 32 px; the content crop is a part of the 96 px photo.
    whole_style = data.val_set[1][1]
    assert torch.equal(style, whole_style) and not torch.equal(content, data.val_set[1][0])


class ShapeRecorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))  # the tiler reads the device from a parameter
        self.seen: list[tuple[int, int]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        return x * self.scale


def options(**kwargs) -> argparse.Namespace:
    return argparse.Namespace(**{"photo_size": None, "tile_size": 1024, "tile_overlap": None, "preserve_color": False, **kwargs})


def test_stylize_runs_the_generator_at_the_training_scale_and_returns_the_photos_size():
    network = ShapeRecorder()
    photo = torch.rand(1, 3, 120, 200) * 2 - 1
    result = stylize_batch(network, photo, 1024, None, False, 4, 1.0, photo_size=48)
    assert network.seen == [(48, 80)] and result.shape == photo.shape


def test_stylize_at_size_zero_keeps_the_photo_as_it_is():
    network = ShapeRecorder()
    photo = torch.rand(1, 3, 120, 200) * 2 - 1
    result = stylize_batch(network, photo, 1024, None, False, 4, 1.0, photo_size=0)
    assert network.seen == [(120, 200)] and torch.allclose(result, photo * 0.5)


def test_the_scale_comes_from_the_checkpoint_in_one_line_unless_given(capsys):
    assert photo_size(options(), {"stylize_size": 256}) == 256
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "256 px" in lines[0] and "--photo-size 0" in lines[0]
    assert photo_size(options(photo_size=0), {"stylize_size": 256}) == 0
    assert photo_size(options(), {}) == 0  # checkpoints from before the scale was recorded: as they are
    assert capsys.readouterr().out == ""
    with pytest.raises(UserError, match="--photo-size -1 is invalid"):
        photo_size(options(photo_size=-1), {})


def test_stylize_command_on_a_large_photo_keeps_its_size(tmp_path, capsys):
    torch.manual_seed(0)
    model = StyleTransfer(**TINY, stylize_size=32)
    ckpt = tmp_path / "st.ckpt"
    torch.save({"algorithm": "StyleTransfer", "hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, ckpt)
    photo = write_rgb_images(tmp_path / "in", 1, size=(150, 90))[0]
    run_cli("stylize", "--ckpt", ckpt, "--input", photo, "--out", tmp_path / "out")
    assert Image.open(tmp_path / "out" / photo.name).size == (150, 90)
    assert "short side of 32 px" in capsys.readouterr().out
