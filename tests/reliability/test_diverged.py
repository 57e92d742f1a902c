"""A run diverges (a learning rate far too high): it stops at the step with one line naming the
step and the phase, and no checkpoint with NaN or inf weights is ever written over a good one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.reliability import load, run_fit, tiny_fit_args


def test_diverged_run_stops_with_one_line_naming_step_and_phase(tmp_path: Path) -> None:
    args = tiny_fit_args(tmp_path / "run", "--trainer.max_epochs", "2", "--trainer.limit_val_batches", "0",
                         "--model.init_args.discriminator_lr", "1e30", "--model.init_args.generator_lr", "1e30")  # fmt: skip
    result = run_fit(args, cwd=tmp_path)

    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: training diverged at step"), line
    assert "phase" in line or "weights" in line, line
    for path in (tmp_path / "run").rglob("*.ckpt"):
        for name, value in load(path)["state_dict"].items():
            assert not value.is_floating_point() or bool(torch.isfinite(value).all()), f"{path.name}: {name}"


def test_non_finite_weights_are_never_written_over_a_good_checkpoint(tmp_path: Path) -> None:
    from gan_lightning.training.callbacks.checkpoint_writing import AtomicCheckpointIO
    from gan_lightning.common.errors import UserError

    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, target)
    with pytest.raises(UserError, match="NaN or inf"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("nan"), 0.0])}}, target)
    assert torch.equal(load(target)["state_dict"]["w"], torch.ones(3))


def test_diverged_run_rolls_back_to_the_last_good_checkpoint_when_asked(tmp_path: Path) -> None:
    """The guard skips the bad step and reloads last.ckpt; with too many rollbacks it stops."""
    from lightning.pytorch import Trainer

    from gan_lightning.training.callbacks.checkpoint_writing import AtomicCheckpointIO, LastCheckpoint
    from gan_lightning.data import ShapesDataModule
    from gan_lightning.training.callbacks.divergence import NonFiniteGuard
    from gan_lightning.common.errors import UserError
    from gan_lightning.training.models import VanillaGAN

    class PoisonAt(NonFiniteGuard):  # a NaN in the discriminator's gradients at batches 3 and later
        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            if trainer.fit_loop.total_batch_idx >= 3 and optimizer is trainer.optimizers[1]:
                next(iter(pl_module.discriminator.parameters())).grad.fill_(float("nan"))
            super().on_before_optimizer_step(trainer, pl_module, optimizer)

    guard = PoisonAt(on_non_finite="rollback", max_rollbacks=2)
    model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), fid_features="shapes")
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      default_root_dir=tmp_path, plugins=[AtomicCheckpointIO()],
                      callbacks=[guard, LastCheckpoint(dirpath=str(tmp_path / "ck"), every_kimg=0.008, every_minutes=None)])  # fmt: skip
    with pytest.raises(UserError, match="2 rollbacks already"):
        trainer.fit(model, ShapesDataModule(resolution=32, num_train=64, batch_size=8, num_workers=0))
    assert guard.rollbacks == 2
    assert load(tmp_path / "ck" / "last.ckpt")["global_step"] == 6  # batches 0-2 saved; nothing after
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_stop_reads_its_checks_back_on_logging_steps_and_names_the_first_step_that_failed(tmp_path: Path) -> None:
    """The default ``stop`` keeps its checks on the device between logging steps (no GPU wait per
    batch); when it reads them back it names the batch whose gradients first went NaN, not the
    batch it read them on."""
    from lightning.pytorch import Callback, Trainer

    from gan_lightning.common.errors import UserError
    from gan_lightning.data import ShapesDataModule
    from gan_lightning.training.callbacks.divergence import NonFiniteGuard
    from gan_lightning.training.models import VanillaGAN

    class PoisonAt(NonFiniteGuard):  # a NaN in the discriminator's gradients at batch 3
        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            if trainer.fit_loop.total_batch_idx == 3 and optimizer is trainer.optimizers[1]:
                next(iter(pl_module.discriminator.parameters())).grad.fill_(float("nan"))
            super().on_before_optimizer_step(trainer, pl_module, optimizer)

    batches_seen = []

    class Count(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
            batches_seen.append(batch_idx)

    model = VanillaGAN(resolution=32, channels=3, generator=dict(z_dim=8, width=8), discriminator=dict(width=8), fid_features="shapes")
    trainer = Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      enable_checkpointing=False, default_root_dir=tmp_path, log_every_n_steps=5, callbacks=[PoisonAt(), Count()])  # fmt: skip
    with pytest.raises(UserError, match=r"diverged at step \d+ \(batch 3, epoch 0\): non-finite gradients in the discriminator phase"):
        trainer.fit(model, ShapesDataModule(resolution=32, num_train=64, batch_size=8, num_workers=0))
    assert batches_seen == [0, 1, 2, 3, 4, 5]  # read back at the logging step, batch 5
