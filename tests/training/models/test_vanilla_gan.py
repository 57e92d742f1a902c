"""VanillaGAN trains with every loss and precision, resumes, stops at max_kimg and predicts."""

from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from gan_lightning.training.callbacks.samples import ImageWriter
from gan_lightning.data import ShapesDataModule
from gan_lightning.training.models import VanillaGAN


def tiny_data(**kwargs) -> ShapesDataModule:
    return ShapesDataModule(**{"resolution": 32, "num_train": 32, "num_val": 16, "batch_size": 8, "num_workers": 0, **kwargs})


def tiny_model(**kwargs) -> VanillaGAN:
    defaults = dict(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), fid_features="shapes", fid_num_samples=16)
    return VanillaGAN(**{**defaults, **kwargs})


def trainer(tmp_path: Path, **kwargs) -> Trainer:
    defaults = dict(
        default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=1, limit_train_batches=2, limit_val_batches=2, num_sanity_val_steps=0,
        accelerator="cpu",
    )  # fmt: skip
    return Trainer(**{**defaults, **kwargs})


@pytest.mark.parametrize(
    "loss,norm", [("non_saturating", "batch"), ("hinge", "batch"), ("least_squares", "batch"), ("wgan_gp", "layer")]
)
def test_each_loss_updates_both_networks(tmp_path: Path, loss: str, norm: str) -> None:
    model = tiny_model(gan_loss=loss, discriminator=dict(width=8, norm=norm))
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    run = trainer(tmp_path)
    run.fit(model, tiny_data())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    metrics = run.callback_metrics
    for key in ("train/d_loss", "train/g_loss", "train/d_grad_norm", "train/g_grad_norm", "val/fid"):
        assert torch.isfinite(metrics[key]), key
    assert model.images_seen.item() == 16
    # global_step counts optimizer steps: two per batch with manual optimization.
    assert run.global_step == 4


def test_wgan_gp_refuses_batch_norm() -> None:
    with pytest.raises(ValueError, match="gan_loss wgan_gp needs discriminator.norm 'layer' or 'none'"):
        tiny_model(gan_loss="wgan_gp", discriminator=dict(width=8, norm="batch"))


def test_bf16_mixed_on_cpu(tmp_path: Path) -> None:
    model = tiny_model(gan_loss="wgan_gp", discriminator=dict(width=8, norm="layer"))
    run = trainer(tmp_path, precision="bf16-mixed")
    run.fit(model, tiny_data())
    assert torch.isfinite(run.callback_metrics["train/d_loss"])
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="16-mixed with a GradScaler needs a CUDA GPU")
def test_16_mixed_with_grad_scaler(tmp_path: Path) -> None:
    model = tiny_model(gan_loss="wgan_gp", discriminator=dict(width=8, norm="layer"))
    run = trainer(tmp_path, precision="16-mixed", accelerator="gpu", devices=1)
    run.fit(model, tiny_data())
    assert run.precision_plugin.scaler is not None
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_max_kimg_stops_training(tmp_path: Path) -> None:
    model = tiny_model(max_kimg=0.016)  # 16 images = 2 batches of 8
    trainer(tmp_path, max_epochs=10, limit_train_batches=4, limit_val_batches=0).fit(model, tiny_data())
    assert model.images_seen.item() == 16


def test_resume_restores_ema_optimizers_and_progress(tmp_path: Path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    first = tiny_model(ema_decay=0.9)
    trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoints]).fit(first, tiny_data())
    last = tmp_path / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["algorithm"] == "VanillaGAN"
    assert not any("inception" in k or k.startswith("_eval") for k in saved["state_dict"])

    resumed = tiny_model(ema_decay=0.9)
    captured = {}

    class Capture(ModelCheckpoint):
        def on_train_start(self, trainer, pl_module):
            captured["images_seen"] = pl_module.images_seen.item()
            captured["ema"] = [p.detach().clone() for p in pl_module.generator_ema.parameters()]
            captured["adam_steps"] = [s["step"].item() for opt in trainer.optimizers for s in opt.state.values()]

    run = trainer(tmp_path, max_epochs=2, callbacks=[Capture(dirpath=tmp_path / "ckpt2")], enable_checkpointing=True)
    run.fit(resumed, tiny_data(), ckpt_path=str(last))
    assert captured["images_seen"] == 16
    for restored, original in zip(captured["ema"], first.generator_ema.parameters()):
        torch.testing.assert_close(restored, original)
    assert captured["adam_steps"] and set(captured["adam_steps"]) == {2.0}  # both optimizers stepped twice
    assert resumed.images_seen.item() == 32


def test_generate_is_reproducible_per_seed() -> None:
    model = tiny_model()
    a = model.generate(4, seed=10)
    b = model.generate(2, seed=12)
    torch.testing.assert_close(a[2:], b)
    assert a.shape == (4, 3, 32, 32)


def test_predict_writes_one_png_per_seed(tmp_path: Path) -> None:
    out = tmp_path / "predictions"
    run = trainer(tmp_path, callbacks=[ImageWriter(str(out))])
    run.predict(tiny_model(), datamodule=tiny_data(predict_num_samples=5), return_predictions=False)
    assert sorted(p.name for p in out.iterdir()) == [f"seed{i:06d}.png" for i in range(5)]


def test_validate_and_test_report_fid(tmp_path: Path) -> None:
    model, data = tiny_model(), tiny_data()
    run = trainer(tmp_path)
    assert torch.isfinite(torch.tensor(run.validate(model, data)[0]["val/fid"]))
    assert torch.isfinite(torch.tensor(run.test(model, data)[0]["test/fid"]))


def test_kid_beside_fid_on_the_same_features(tmp_path: Path) -> None:
    model, data = tiny_model(kid=True, kid_subset_size=1000), tiny_data()
    run = trainer(tmp_path)
    run.fit(model, data)
    metrics = run.callback_metrics
    assert torch.isfinite(metrics["val/fid"]) and torch.isfinite(metrics["val/kid"])  # subset size lowered to 16
    assert torch.isfinite(torch.tensor(run.test(model, data)[0]["test/kid"]))
    assert model._eval["val"].detector is model._eval["test"].detector  # one feature network, FID and KID on its features
