"""Training StyleGAN3 with the StyleGAN LightningModule (``stylegan3`` settings), as NVlabs' stylegan3
loop does: Gmain and Dmain (+ lazy R1), no G regularization phase and so no rescaled G Adam settings,
w_avg and the magnitude EMAs moved in Dmain only, D's input blurred by a fading Gaussian (config R);
a trained or converted StyleGAN3 checkpoint serves generate and init_from."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch
from lightning.pytorch import Callback
from lightning.pytorch.plugins import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.cli.main import main
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.layers import upfirdn2d
from gan_lightning.core.nets.settings import StyleGAN3Config
from tests.conftest import ASSETS
from tests.training.models.test_stylegan import tiny_model, trainer
from tests.training.models.test_stylegan_step import StepRecorder

TINY_SG3 = StyleGAN3Config(z_dim=8, w_dim=8, channel_base=64, channel_max=8, num_layers=4, num_fp16_res=0)


def sg3_model(radial: bool = False, **kwargs):
    """The tiny StyleGAN3 (config T, or R's 1x1 convolutions and radial filters), ADA off unless asked."""
    network = dataclasses.replace(TINY_SG3, conv_kernel=1, use_radial_filters=True) if radial else TINY_SG3
    settings = {"lr": 0.0025, "d_lr": 0.002, "pl_weight": 0.0, "style_mixing_prob": 0.0, "ada": False, "augment_p": 0.0}
    return tiny_model(stylegan3=network, **{**settings, **kwargs})


def test_a_batch_runs_gmain_dmain_dreg_with_unscaled_g_adam_and_emas_moved_in_dmain(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = sg3_model(r1_interval=1)
    assert isinstance(model.generator, stylegan3.Generator) and isinstance(model.generator_ema, stylegan3.Generator)
    recorder = StepRecorder()
    reals = torch.rand(8, 3, 32, 32) * 2 - 1
    trainer(tmp_path, limit_train_batches=1, callbacks=[recorder]).fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    assert [name for name, _, _ in recorder.steps] == ["G", "D", "D"]  # no Greg
    opt_g, opt_d = model.optimizers()
    assert opt_g.param_groups[0]["lr"] == 0.0025 and opt_g.param_groups[0]["betas"] == (0.0, 0.99)
    assert math.isclose(opt_d.param_groups[0]["lr"], 0.002 * 1 / 2)  # lazy R1 every batch: ratio 1/2
    assert all(float(layer.magnitude_ema) != 1.0 for layer in model.generator.synthesis.layers)
    assert model.generator.mapping.w_avg.abs().sum() > 0


def test_emas_do_not_move_in_gmain(tmp_path: Path) -> None:
    model = sg3_model().train()
    model.generator.synthesis(model.mapped_latents(torch.randn(4, 8), update_w_avg=False))
    assert model.generator.mapping.w_avg.abs().sum() == 0
    assert all(float(layer.magnitude_ema) == 1.0 for layer in model.generator.synthesis.layers)


def test_discriminator_input_blur_fades_out_over_blur_fade_kimg() -> None:
    model = sg3_model(blur_init_sigma=2.0, blur_fade_kimg=0.1)
    images = torch.randn(2, 3, 32, 32)
    sigma = 2.0 * (1 - 25 / 100)
    model.images_seen.fill_(25)
    taps = torch.exp2(-(torch.arange(-4, 5, dtype=torch.float32) / sigma).square())
    assert torch.allclose(model.discriminator_input(images), upfirdn2d(images, taps / taps.sum(), padding=4), atol=1e-6)
    model.images_seen.fill_(100)
    assert torch.equal(model.discriminator_input(images), images)


def test_init_from_a_converted_stylegan3_checkpoint_and_generate_from_the_result(tmp_path: Path) -> None:
    converted = tmp_path / "sg3t.ckpt"
    main(["convert", "--from", "nvlabs", str(ASSETS / "nvlabs_stylegan3_t32.pkl"), "--out", str(converted)])
    hp = torch.load(converted, weights_only=True)["hyper_parameters"]
    model = tiny_model(stylegan3=hp["stylegan3"], discriminator=hp["discriminator"], init_from=str(converted), ada=False, augment_p=0.0, pl_weight=0.0)
    reals = torch.rand(8, 3, 32, 32) * 2 - 1
    fit = trainer(tmp_path, limit_train_batches=0, enable_checkpointing=False)
    fit.fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    state = torch.load(converted, weights_only=True)["state_dict"]
    assert torch.equal(model.generator_ema.synthesis.layers[1].weight, state["generator_ema.synthesis.layers.1.weight"])
    assert torch.equal(model.discriminator.epilogue.out.weight, state["discriminator.epilogue.out.weight"])
    fit.save_checkpoint(tmp_path / "trained.ckpt")
    main(["generate", "--ckpt", str(tmp_path / "trained.ckpt"), "--num", "2", "--out", str(tmp_path / "g.png")])
    assert (tmp_path / "g.png").is_file()


def test_float16_autocast_training_keeps_weights_finite(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = sg3_model(r1_interval=1)
    precision = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))  # CUDA's float16 autocast, emulated
    reals = torch.rand(16, 3, 32, 32) * 2 - 1
    trainer(tmp_path, limit_train_batches=2, plugins=[precision]).fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    assert all(p.isfinite().all() for p in [*model.generator.parameters(), *model.discriminator.parameters()])
    assert int(model.batches_done) == 2


def test_class_conditional_stylegan3_embeds_the_labels_and_trains(tmp_path: Path) -> None:
    model = sg3_model(num_classes=3)
    assert model.generator.c_dim == 3 and model.discriminator.config.c_dim == 3 and model.generator.mapping.embed is not None
    assert model.hparams.stylegan3["c_dim"] == 3  # what a checkpoint rebuilds
    data = TensorDataset(torch.rand(8, 3, 32, 32) * 2 - 1, torch.randint(0, 3, (8,)))
    trainer(tmp_path, limit_train_batches=1).fit(model, DataLoader(data, batch_size=8))
    assert int(model.batches_done) == 1


class AugmentP(Callback):
    def __init__(self) -> None:
        self.p: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.p.append(float(module.augment.p))


def test_ada_moves_p_by_the_images_of_each_interval(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = sg3_model(ada=True, augment_p=0.2, ada_interval=1, ada_kimg=0.1, blur_init_sigma=1.0)
    recorded = AugmentP()
    reals = torch.rand(16, 3, 32, 32) * 2 - 1
    trainer(tmp_path, limit_train_batches=2, callbacks=[recorded]).fit(model, DataLoader(TensorDataset(reals), batch_size=8))
    for before, after in zip([0.2, *recorded.p], recorded.p):
        assert math.isclose(abs(after - before), 8 / 100, abs_tol=1e-6)  # batch 8 / (ada_kimg 0.1 * 1000)


def test_config_r_blurs_what_d_sees_before_augmenting_it() -> None:
    model = sg3_model(radial=True, augment_p=1.0, blur_init_sigma=1.0)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    taps = torch.exp2(-(torch.arange(-3, 4, dtype=torch.float32) / 1.0).square())
    blurred = upfirdn2d(images, taps / taps.sum(), padding=3)
    torch.manual_seed(0)
    seen = model.discriminator_input(images)
    torch.manual_seed(0)
    assert torch.equal(seen, model.augment(blurred))
    torch.manual_seed(0)
    assert not torch.allclose(seen, upfirdn2d(model.augment(images), taps / taps.sum(), padding=3), atol=1e-3)
