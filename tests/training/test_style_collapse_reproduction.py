"""The collapse of issue 21, reproduced small: CUT on one pair (configs/style_transfer_single_cut.yaml,
the single-image preset of that time) on a portrait (astronaut) with a stained-tissue micrograph
(cells) as the style, seed 0, 64 px crops of the photo at 128 px, 100 steps. With that preset's
earlier style weight (lambda_style 10) the outputs turn into soft blobs and the detector names it; at
its weight 1 they keep the portrait's outlines and the style image. The single-image preset shipped
now (the fast neural generator and losses on the pair) keeps the portrait on the same pair and seed.
Minutes on a CPU: slow (python -m pytest -m slow tests/training/test_style_collapse_reproduction.py)."""

import pytest
from lightning.pytorch import Trainer, seed_everything

from gan_lightning.data.single_image import SingleImagePairDataModule
from gan_lightning.training.callbacks.style_collapse import STRUCTURE_BOUND
from gan_lightning.training.models.style_transfer import StyleTransfer
from tests.conftest import fit_one_epoch, preset_model_options

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


SINGLE_CUT = "style_transfer_single_cut.yaml"
SINGLE = "style_transfer_single.yaml"


def train(tmp_path, preset: str, **overrides) -> tuple[StyleTransfer, Trainer]:
    seed_everything(0)
    data = SingleImagePairDataModule(example_photo="astronaut", example_style="cells", resolution=64, load_size=128, max_zoom=1.5, crops_per_epoch=400, batch_size=4, num_workers=0)
    model = StyleTransfer(resolution=64, **{**preset_model_options(preset), **overrides})
    return model, fit_one_epoch(model, data, tmp_path)


def test_the_earlier_style_weight_collapses_and_the_detector_names_it(tmp_path, capsys):
    model, trainer = train(tmp_path, SINGLE_CUT, lambda_style=10.0)
    assert trainer.callback_metrics["val/structure"] < STRUCTURE_BOUND
    lines = [line for line in capsys.readouterr().err.splitlines() if "collapsed" in line]
    assert len(lines) == 1 and "lower --model.init_args.lambda_style (now 10.0" in lines[0]


def test_cut_on_one_pair_at_its_style_weight_keeps_the_portrait_and_the_style_image(tmp_path, capsys):
    model, trainer = train(tmp_path, SINGLE_CUT)
    assert model.hparams.lambda_style == 1.0 and model.hparams.lambda_identity == 1.0
    measures = model.collapse_measures()
    assert measures.identity_l1 is not None and not measures.collapsed(), measures
    assert "collapsed" not in capsys.readouterr().err


def test_the_shipped_single_image_preset_keeps_the_portrait(tmp_path, capsys):
    model, trainer = train(tmp_path, SINGLE)
    assert model.hparams.lambda_gan == 0.0 and model.hparams.generator["residual"]  # the fast neural generator and losses
    measures = model.collapse_measures()
    assert not measures.collapsed(), measures
    assert "collapsed" not in capsys.readouterr().err
