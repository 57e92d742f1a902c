"""`--trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu` trains with two processes."""

from pathlib import Path

import torch

from tests.conftest import REPO, run_cli_subprocess


def test_vanilla_gan_ddp_two_cpu_processes(tmp_path: Path) -> None:
    result = run_cli_subprocess(
        "fit", "--config", REPO / "configs" / "vanilla_gan.yaml",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "2",
        "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "runs" / "vanilla_gan" / "checkpoints" / "last.ckpt", weights_only=True)
    # 3 batches of 8 on each of 2 processes.
    assert checkpoint["state_dict"]["images_seen"].item() == 3 * 8 * 2
    assert "find_unused_parameters=True" in result.stdout + result.stderr  # set by the model, said once


SCRIPT = """
import torch
from lightning.pytorch import Trainer
from gan_lightning.data import ShapesDataModule
from gan_lightning.training.models import VanillaGAN

model = VanillaGAN(resolution=32, generator=dict(z_dim=16, width=8), discriminator=dict(width=8), fid_features="shapes", fid_num_samples=8)
data = ShapesDataModule(resolution=32, num_train=64, num_val=16, batch_size=8, num_workers=0)
trainer = Trainer(strategy="ddp", devices=2, accelerator="cpu", max_epochs=1, limit_train_batches=2, limit_val_batches=1,
                  logger=False, enable_progress_bar=False, enable_checkpointing=False, default_root_dir="out")
trainer.fit(model, data)
if trainer.is_global_zero:
    print("images seen", int(model.images_seen))
"""


def test_a_script_building_its_own_trainer_gets_ddp_right(tmp_path: Path) -> None:
    """The GAN modules, not the CLI, own DDP's unused-parameter setting: plain `Trainer(strategy="ddp")` works."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "images seen 32" in result.stdout  # 2 batches of 8 on each of 2 processes
