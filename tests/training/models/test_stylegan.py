"""StyleGAN trains (all four phases, bf16), keeps its lazy-regularization schedule, resumes with ADA p
and EMA restored, improves sample quality on the bundled shapes, and trains with 2 DDP processes."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from gan_lightning.checkpoints.reading import load_generator
from gan_lightning.data import ShapesDataModule
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.shapes_quality import shapes_quality
from gan_lightning.core.losses import path_length_penalty, r1_penalty
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, Generator, GeneratorConfig
from tests.conftest import REPO, run_cli_subprocess

TINY_G = GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
TINY_D = DiscriminatorConfig(channel_base=256, channel_max=16)
TINY = dict(resolution=32, channels=3, fid_features="shapes", fid_num_samples=16, num_fixed_samples=4)


def tiny_model(generator: dict | None = None, discriminator: dict | None = None, **kwargs) -> StyleGAN:
    """The tiny StyleGAN; ``generator``/``discriminator`` override fields of the tiny network settings."""
    networks = dict(
        generator=dataclasses.replace(TINY_G, **(generator or {})),
        discriminator=dataclasses.replace(TINY_D, **(discriminator or {})),
    )
    return StyleGAN(**{**TINY, **networks, **kwargs})


def tiny_data(**kwargs) -> ShapesDataModule:
    return ShapesDataModule(**{"resolution": 32, "num_train": 32, "num_val": 16, "batch_size": 8, "num_workers": 0, **kwargs})


def trainer(tmp_path: Path, **kwargs) -> Trainer:
    defaults = dict(
        default_root_dir=tmp_path, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, max_epochs=1, limit_train_batches=2, limit_val_batches=0, num_sanity_val_steps=0,
        accelerator="cpu",
    )  # fmt: skip
    return Trainer(**{**defaults, **kwargs})


def adam_steps(optimizer: torch.optim.Optimizer) -> int:
    return int(next(iter(optimizer.state.values()))["step"])


def test_training_runs_every_phase_and_logs(tmp_path: Path) -> None:
    model = tiny_model(augment_p=0.5, ada_interval=1)
    g_before = [p.detach().clone() for p in model.generator.parameters()]
    d_before = [p.detach().clone() for p in model.discriminator.parameters()]
    run = trainer(tmp_path, limit_val_batches=1)
    run.fit(model, tiny_data())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters()))
    metrics = run.callback_metrics
    for key in ("train/d_loss", "train/g_loss", "train/r1_penalty", "train/pl_penalty", "train/pl_mean",
                "train/augment_p", "train/ada_rt", "train/ema_beta", "val/fid"):  # fmt: skip
        assert torch.isfinite(metrics[key]), key
    assert model.images_seen.item() == 16 and model.batches_done.item() == 2
    assert model.pl_mean.item() > 0
    samples = model.fixed_samples()
    assert set(samples) == {"samples", "samples_psi0.7"} and samples["samples"].shape == (4, 3, 32, 32)


def test_lazy_regularization_schedule_and_adam_correction(tmp_path: Path) -> None:
    model = tiny_model(r1_interval=4, pl_interval=2, lr=0.002, betas=(0.0, 0.99))
    run = trainer(tmp_path, limit_train_batches=5)
    run.fit(model, tiny_data(num_train=40))
    opt_g, opt_d = run.optimizers
    # 5 batches: R1 at batches 0 and 4, path length at 0, 2 and 4, each an extra optimizer step
    assert adam_steps(opt_d) == 5 + 2
    assert adam_steps(opt_g) == 5 + 3
    # lr and betas scaled by interval / (interval + 1), as NVlabs' training loop does (mb_ratio)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(0.002 * 4 / 5)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.002 * 2 / 3)
    assert opt_d.param_groups[0]["betas"][1] == pytest.approx(0.99 ** (4 / 5))


def test_regularizers_can_be_switched_off(tmp_path: Path) -> None:
    model = tiny_model(r1_gamma=0.0, pl_weight=0.0, style_mixing_prob=0.0, ema_kimg=None, ada=False)
    run = trainer(tmp_path)
    run.fit(model, tiny_data())
    opt_g, opt_d = run.optimizers
    assert adam_steps(opt_g) == adam_steps(opt_d) == 2
    # NVlabs keeps the lazy lr/beta scaling with a weight of 0 (their cifar preset: pl_weight 0)
    assert opt_g.param_groups[0]["lr"] == pytest.approx(0.002 * 4 / 5)
    assert not hasattr(model, "generator_ema") and float(model.augment.p) == 0.0


def test_ema_half_life_in_kimg_with_ramp_up() -> None:
    model = tiny_model(ema_kimg=10.0, ema_rampup=0.05)
    assert model.ema_beta(32) == 0.0  # no images yet: the EMA copies the generator
    model.images_seen.fill_(1000)  # ramp-up: half-life min(10k, 1000 * 0.05) = 50 images
    assert model.ema_beta(32) == pytest.approx(0.5 ** (32 / 50))
    model.images_seen.fill_(10_000_000)
    assert model.ema_beta(32) == pytest.approx(0.5 ** (32 / 10_000))


@pytest.mark.parametrize("real_sign", [1.0, -1.0])
def test_ada_p_follows_the_sign_of_real_logits(tmp_path: Path, real_sign: float) -> None:
    # The real images are flat (they stay flat through every augmentation), generated ones are not.
    # A hook on D pushes the logits of flat images to real_sign * 100 and all others to the opposite
    # sign, so r_t = E[sign(D(real))] = real_sign, and only the real logits' signs give it. With
    # r_t = 1 > target (D overfits) p must rise; with r_t = -1 it must fall. The training step's own
    # sign collection, interval and update run; nothing is called by hand.
    model = tiny_model(augment_p=0.5, ada_interval=1, ada_kimg=0.1, ada_target=0.6)

    def forced_logits(module, inputs, logits):
        flat = inputs[0].flatten(1).std(dim=1) < 1e-3
        return logits + 100.0 * torch.where(flat, real_sign, -real_sign)[:, None]

    model.discriminator.register_forward_hook(forced_logits)
    reals = DataLoader(TensorDataset(torch.full((24, 3, 32, 32), 0.2)), batch_size=8)
    run = trainer(tmp_path, limit_train_batches=3)
    run.fit(model, reals)
    assert run.callback_metrics["train/ada_rt"].item() == real_sign
    # 3 updates of 8 images each, p moving 8 / (ada_kimg * 1000) = 0.08 per update toward the target
    assert float(model.augment.p) == pytest.approx(0.5 + real_sign * 3 * 0.08, abs=1e-6)


def test_r1_penalty_on_a_linear_discriminator_is_the_squared_weight_norm() -> None:
    # D(x) = <w, x>: grad_x D = w for every sample, so R1 = ||w||^2
    w = torch.randn(1, 3, 4, 4, requires_grad=True)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    penalty = r1_penalty((x * w).sum(dim=[1, 2, 3]), x)
    assert penalty.item() == pytest.approx(w.square().sum().item(), rel=1e-5)
    penalty.backward()  # differentiable w.r.t. D's parameters, as the lazy R1 step needs: d/dw ||w||^2 = 2w
    torch.testing.assert_close(w.grad, 2 * w.detach())


def test_path_length_on_a_linear_synthesis_is_its_jacobian_norm() -> None:
    # g(ws) = reshape(ws.sum(1) @ A): J^T y = A y for every layer, |J_w^T y| over rows -> sqrt(mean_l |A y|^2)
    torch.manual_seed(0)
    a = torch.randn(6, 3 * 4 * 4)
    ws = torch.randn(2, 3, 6, requires_grad=True)
    images = (ws.sum(dim=1) @ a).reshape(2, 3, 4, 4)
    torch.manual_seed(1)
    penalty, lengths, new_mean = path_length_penalty(images, ws, torch.tensor(0.0), decay=0.5)
    torch.manual_seed(1)
    y = torch.randn(2, 3, 4, 4) / 4.0  # noise / sqrt(H * W)
    expected = (a @ y.reshape(2, -1, 1)).squeeze(-1).norm(dim=1)
    torch.testing.assert_close(lengths, expected, rtol=1e-5, atol=1e-6)
    assert new_mean.item() == pytest.approx(0.5 * expected.mean().item(), rel=1e-5)
    assert penalty.item() == pytest.approx((expected - new_mean).square().mean().item(), rel=1e-4)


def test_bf16_mixed_on_cpu(tmp_path: Path) -> None:
    model = tiny_model(augment_p=0.3)
    run = trainer(tmp_path, precision="bf16-mixed")
    run.fit(model, tiny_data())
    for key in ("train/d_loss", "train/g_loss", "train/r1_penalty", "train/pl_penalty"):
        assert torch.isfinite(run.callback_metrics[key]), key
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="16-mixed with a GradScaler and fp16 layers need a CUDA GPU")
def test_16_mixed_with_fp16_layers_on_gpu(tmp_path: Path) -> None:
    fp16 = dict(num_fp16_res=2, conv_clamp=256.0)
    model = tiny_model(generator=fp16, discriminator=fp16)
    run = trainer(tmp_path, precision="16-mixed", accelerator="gpu", devices=1, limit_train_batches=4)
    run.fit(model, tiny_data())
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_resume_restores_ada_p_ema_and_path_length_mean(tmp_path: Path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    # one ADA update (at the 2nd batch): p cannot move away and back to 0.2 within the run
    first = tiny_model(ada_interval=2, ada_kimg=0.05, augment_p=0.2, ema_kimg=0.01)
    trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoints]).fit(first, tiny_data())
    last = tmp_path / "ckpt" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["algorithm"] == "StyleGAN"
    assert float(saved["state_dict"]["augment.p"]) == pytest.approx(float(first.augment.p))
    assert float(first.augment.p) != pytest.approx(0.2)  # ADA moved it

    captured = {}

    class Capture(Callback):
        def on_train_start(self, trainer, pl_module):
            captured["p"] = float(pl_module.augment.p)
            captured["pl_mean"] = pl_module.pl_mean.item()
            captured["batches_done"] = pl_module.batches_done.item()
            captured["ema"] = [p.detach().clone() for p in pl_module.generator_ema.parameters()]
            captured["w_avg"] = pl_module.generator_ema.mapping.w_avg.clone()

    resumed = tiny_model(ada_interval=2, ada_kimg=0.05, augment_p=0.2, ema_kimg=0.01)
    trainer(tmp_path, max_epochs=2, callbacks=[Capture()]).fit(resumed, tiny_data(), ckpt_path=str(last))
    assert captured["p"] == pytest.approx(float(first.augment.p))
    assert captured["pl_mean"] == pytest.approx(first.pl_mean.item())
    assert captured["batches_done"] == 2
    for restored, original in zip(captured["ema"], first.generator_ema.parameters()):
        torch.testing.assert_close(restored, original)
    torch.testing.assert_close(captured["w_avg"], first.generator_ema.mapping.w_avg)
    assert resumed.images_seen.item() == 32


def test_checkpoint_loads_as_an_inference_generator(tmp_path: Path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_last=True)
    model = tiny_model()
    trainer(tmp_path, enable_checkpointing=True, callbacks=[checkpoints]).fit(model, tiny_data())
    generator, checkpoint = load_generator(tmp_path / "ckpt" / "last.ckpt")
    assert isinstance(generator, Generator) and checkpoint["algorithm"] == "StyleGAN"
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(generator(z, noise_mode="const"), model.generator_ema.eval()(z, noise_mode="const"))


def test_generate_is_reproducible_per_seed_with_truncation() -> None:
    model = tiny_model()
    a = model.generate(4, seed=10, truncation_psi=0.7)
    torch.testing.assert_close(a[2:], model.generate(2, seed=12, truncation_psi=0.7))
    assert a.shape == (4, 3, 32, 32)


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(UserError, match="power of two from 32 to 1024, got 48"):
        tiny_model(resolution=48)
    with pytest.raises(UserError, match="r1_interval must be at least 1, got 0"):
        tiny_model(r1_interval=0)
    with pytest.raises(UserError, match="style_mixing_prob must be in"):
        tiny_model(style_mixing_prob=1.5)
    with pytest.raises(UserError, match="unknown GeneratorConfig field.* latent_dim"):
        StyleGAN(**TINY, generator={"latent_dim": 16})


def test_network_settings_are_typed_groups_saved_as_plain_dicts(tmp_path: Path) -> None:
    # A checkpoint stores the groups as dicts (weights_only loading); they build the same model again.
    model = tiny_model()
    assert model.hparams.generator == dataclasses.asdict(TINY_G)
    assert model.hparams.discriminator == dataclasses.asdict(TINY_D)
    assert model.generator.config == TINY_G and model.discriminator.config == TINY_D
    rebuilt = StyleGAN(**dict(model.hparams))
    assert rebuilt.generator.config == TINY_G and rebuilt.discriminator.config == TINY_D


@pytest.mark.slow
def test_short_training_makes_samples_look_like_the_shapes(tmp_path: Path) -> None:
    seed_everything(0)
    model = StyleGAN(
        resolution=32, channels=3,
        generator=GeneratorConfig(z_dim=128, w_dim=128, mapping_layers=4, channel_base=2048, channel_max=64),
        discriminator=DiscriminatorConfig(channel_base=2048, channel_max=64),
        r1_gamma=0.05, ema_kimg=5.0, ada_kimg=100, fid_features="shapes",
    )  # fmt: skip
    before = shapes_quality(model.generate(512, seed=1000))
    data = ShapesDataModule(resolution=32, num_train=16 * 500, num_val=16, batch_size=16, num_workers=0)
    trainer(tmp_path, limit_train_batches=None).fit(model, data)
    after = shapes_quality(model.generate(512, seed=1000))
    print(f"untrained {before}\ntrained   {after}")
    # Untrained: blobs at chance confidence (about 0.16). After 8 kimg: shapes the classifier mostly recognises.
    assert after["confidence"] > before["confidence"] + 0.2
    assert after["confident"] > before["confident"]
    assert torch.isfinite(model.generate(4)).all()


def test_ddp_two_cpu_processes_through_the_cli(tmp_path: Path) -> None:
    result = run_cli_subprocess(
        "fit", "--config", REPO / "configs" / "stylegan.yaml",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--model.init_args.generator.channel_base", "256", "--model.init_args.generator.channel_max", "16",
        "--model.init_args.discriminator.channel_base", "256", "--model.init_args.discriminator.channel_max", "16",
        "--model.init_args.generator.z_dim", "16", "--model.init_args.generator.w_dim", "16",
        "--model.init_args.ada_interval", "2", "--model.init_args.augment_p", "0.5", "--model.init_args.ada_kimg", "0.1",
        "--model.init_args.fid_num_samples", "16",
        "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8", "--data.init_args.num_val", "16",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "runs" / "stylegan" / "checkpoints" / "last.ckpt", weights_only=True)
    state = checkpoint["state_dict"]
    assert state["images_seen"].item() == 2 * 8 * 2  # 2 batches of 8 on each of 2 processes
    assert state["batches_done"].item() == 2
    # One ADA update after the 2 batches (ada_interval 2), over both batches of both processes: p moves
    # by 2 * 8 * 2 images / (ada_kimg 0.1 * 1000) = 0.32 up or down. Without the update p stays 0.5;
    # statistics of one batch or of one process would move it by 0.16.
    assert abs(float(state["augment.p"]) - 0.5) == pytest.approx(0.32, abs=1e-6)


DDP_SCRIPT = '''
import torch
from lightning.pytorch import Callback, Trainer
from gan_lightning.data import ShapesDataModule
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.core.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig


class Report(Callback):
    def on_train_end(self, trainer, model):
        g = sum(p.double().sum().item() for p in model.generator.parameters())
        d = sum(p.double().sum().item() for p in model.discriminator.parameters())
        print(f"RANK {trainer.global_rank} {g:.12e} {d:.12e} {float(model.augment.p):.6f} {model.pl_mean.item():.8e}", flush=True)


if __name__ == "__main__":
    torch.manual_seed(0)
    model = StyleGAN(resolution=32, channels=3,
                     generator=GeneratorConfig(z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16),
                     discriminator=DiscriminatorConfig(channel_base=256, channel_max=16),
                     r1_interval=2, pl_interval=2, ada_interval=1, ada_kimg=0.1, augment_p=0.3, fid_features="shapes")
    data = ShapesDataModule(resolution=32, num_train=64, num_val=8, batch_size=8, num_workers=0)
    Trainer(strategy="ddp_find_unused_parameters_true", devices=2, accelerator="cpu", max_epochs=1, limit_train_batches=4,
            limit_val_batches=0, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, callbacks=[Report()]).fit(model, data)
'''


def test_ddp_processes_stay_identical_through_r1_path_length_and_ada(tmp_path: Path) -> None:
    # Each process draws its own latents and augmentations; gradients of every phase (the lazy R1 and
    # path length steps included), the path length mean and the ADA statistics are reduced, so after
    # training both processes must hold the same weights, p and running mean.
    import subprocess
    import sys

    script = tmp_path / "ddp_stylegan.py"
    script.write_text(DDP_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # Both processes write to one pipe: a report may start mid-line, even right after the other's
    # report, so each field matches a number only and cannot swallow the next "RANK".
    number = r"([-+]?\d+\.\d+(?:e[-+]\d+)?)"
    reports = sorted(re.findall(rf"RANK (\d) {number} {number} {number} {number}", result.stdout))
    assert [r[0] for r in reports] == ["0", "1"], result.stdout[-3000:]
    assert reports[0][1:] == reports[1][1:]
