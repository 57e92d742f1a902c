"""The relativistic loss with zero-centred R1 and R2 (the R3GAN objective) in VanillaGAN and StyleGAN:
both train with it, with EMA and ADA, and a checkpoint resumes with the same objective."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch import seed_everything
from lightning.pytorch.callbacks import ModelCheckpoint

from gan_lightning.common.errors import UserError
from gan_lightning.training.models import VanillaGAN
from gan_lightning.training.models.stylegan import StyleGAN
from tests.training.models import test_stylegan as stylegan_tests
from tests.training.models import test_vanilla_gan as vanilla_tests

pytestmark = pytest.mark.usefixtures("one_thread")

R3GAN_OBJECTIVE = dict(gan_loss="relativistic", lambda_r1=1.0, lambda_r2=1.0)


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_vanilla_gan_trains_with_the_relativistic_loss_and_r1_r2(tmp_path: Path) -> None:
    seed_everything(0)
    model = vanilla_tests.tiny_model(discriminator=dict(width=8, norm="none"), ema_decay=0.9, **R3GAN_OBJECTIVE)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    run = vanilla_tests.trainer(tmp_path, log_every_n_steps=1)
    run.fit(model, vanilla_tests.tiny_data())
    assert changed(g_before, model.generator) and changed(d_before, model.discriminator)
    metrics = run.callback_metrics
    for key in ("train/d_loss", "train/g_loss", "train/r1_penalty", "train/r2_penalty", "val/fid"):
        assert torch.isfinite(metrics[key]), key
    assert float(metrics["train/r1_penalty"]) > 0 and float(metrics["train/r2_penalty"]) > 0


def test_stylegan_trains_with_the_relativistic_loss_r1_r2_ada_and_ema(tmp_path: Path) -> None:
    seed_everything(0)
    model = stylegan_tests.tiny_model(r1_gamma=0.0, augment_p=0.3, ada_interval=1, **R3GAN_OBJECTIVE)
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    ema_before = [p.detach().clone() for p in model.generator_ema.parameters()]
    run = stylegan_tests.trainer(tmp_path)
    run.fit(model, stylegan_tests.tiny_data())
    assert changed(d_before, model.discriminator) and changed(ema_before, model.generator_ema)
    metrics = run.callback_metrics
    for key in ("train/d_loss", "train/g_loss", "train/r1_penalty", "train/r2_penalty", "train/ada_rt"):
        assert torch.isfinite(metrics[key]), key
    assert "train/pl_penalty" in metrics  # the other regularizers keep their schedule
    assert float(model.augment.p) != pytest.approx(0.3)  # ADA moved p


def test_the_generator_phase_compares_with_the_reals(tmp_path: Path) -> None:
    # each D forward of one batch, recorded as (D frozen, its input is the batch's real images)
    seed_everything(0)
    model = stylegan_tests.tiny_model(r1_gamma=0.0, pl_weight=0.0, ada=False, **R3GAN_OBJECTIVE)
    batches: list[torch.Tensor] = []
    calls: list[tuple[bool, bool]] = []
    train_batch = model.train_batch

    def remember_batch(batch, batch_idx: int) -> None:
        batches.append(batch[0])
        train_batch(batch, batch_idx)

    def record(module: torch.nn.Module, args: tuple) -> None:
        calls.append((not any(p.requires_grad for p in module.parameters()), torch.equal(args[0], batches[-1])))

    model.train_batch = remember_batch
    model.discriminator.register_forward_pre_hook(record)
    stylegan_tests.trainer(tmp_path, limit_train_batches=1).fit(model, stylegan_tests.tiny_data())
    # Gmain: fakes, then reals, D frozen; Dmain: fakes, then reals, D trained
    assert calls == [(True, False), (True, True), (False, False), (False, True)]


def test_a_relativistic_checkpoint_resumes_with_its_objective(tmp_path: Path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    first = stylegan_tests.tiny_model(r1_gamma=0.0, **R3GAN_OBJECTIVE)
    stylegan_tests.trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoints]).fit(first, stylegan_tests.tiny_data())
    last = tmp_path / "ckpt" / "last.ckpt"
    hparams = torch.load(last, weights_only=True)["hyper_parameters"]
    assert (hparams["gan_loss"], hparams["lambda_r1"], hparams["lambda_r2"]) == ("relativistic", 1.0, 1.0)
    restored = StyleGAN.load_from_checkpoint(last, map_location="cpu")
    assert (restored.hparams.gan_loss, restored.hparams.lambda_r2) == ("relativistic", 1.0)
    resumed = stylegan_tests.tiny_model(r1_gamma=0.0, **R3GAN_OBJECTIVE)
    run = stylegan_tests.trainer(tmp_path, max_epochs=2)
    run.fit(resumed, stylegan_tests.tiny_data(), ckpt_path=str(last))
    assert resumed.images_seen.item() == 32 and torch.isfinite(run.callback_metrics["train/r2_penalty"])


def test_bad_objective_options_are_one_line_errors() -> None:
    with pytest.raises(UserError, match=r"lambda_r1=-1.0 is invalid; allowed: >= 0"):
        vanilla_tests.tiny_model(gan_loss="relativistic", lambda_r1=-1.0)
    with pytest.raises(UserError, match="lambda_r1 / lambda_r2 > 0 need discriminator.norm 'layer' or 'none'"):
        vanilla_tests.tiny_model(lambda_r2=1.0)  # the default batch norm mixes the samples
    with pytest.raises(UserError, match=r"lambda_r1=1.0 and r1_gamma=10.0 both weigh R1"):
        stylegan_tests.tiny_model(lambda_r1=1.0)
    with pytest.raises(UserError, match=r"gan_loss 'wgan_gp' is invalid; allowed: non_saturating, hinge, least_squares, relativistic"):
        stylegan_tests.tiny_model(gan_loss="wgan_gp")
    assert isinstance(vanilla_tests.tiny_model(gan_loss="relativistic"), VanillaGAN)
