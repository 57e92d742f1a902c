"""`--trainer.strategy ddp --trainer.devices 2 --trainer.accelerator cpu` trains with two processes."""

from pathlib import Path

import pytest
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
import pytest
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


def test_plain_ddp_broadcasts_rank_0s_buffers_but_not_each_processs_ada_statistics(tmp_path: Path) -> None:
    """DistributedDataParallel sends rank 0's buffers to every process before each forward; StyleGAN's
    ADA statistics are each process's own share (summed over the processes when p is updated), so
    they stay out of that broadcast, while w_avg (used identically everywhere) stays in it."""
    import torch.distributed
    from lightning.pytorch import Trainer
    from torch.nn.parallel import DistributedDataParallel

    from gan_lightning.training.data_parallel import allow_unused_parameters
    from tests.training.models import test_stylegan

    model = test_stylegan.tiny_model(augment_p=0.2)
    trainer = Trainer(strategy="ddp", devices=2, accelerator="cpu", logger=False)
    trainer.strategy.connect(model)
    allow_unused_parameters(trainer)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        wrapped = DistributedDataParallel(model, find_unused_parameters=True)
        broadcast = {id(b) for b in wrapped.modules_buffers}
    finally:
        torch.distributed.destroy_process_group()
    assert id(model.ada_stats) not in broadcast
    assert id(model.generator.mapping.w_avg) in broadcast


@pytest.mark.parametrize(
    ("strategy", "accelerator", "devices", "num_nodes", "chosen"),
    [
        ("auto", "cpu", 2, 1, "gan_ddp"),
        ("auto", "gpu", "0,1", 1, "gan_ddp"),
        ("auto", "gpu", [0, 1], 1, "gan_ddp"),
        ("auto", "gpu", 1, 2, "gan_ddp"),
        ("auto", "cpu", 1, 1, "auto"),
        ("auto", "cpu", "auto", 1, "auto"),
        ("ddp", "cpu", 2, 1, "ddp"),  # a strategy the user names is kept
    ],
)
def test_strategy_auto_on_several_devices_is_gan_ddp(strategy, accelerator, devices, num_nodes, chosen) -> None:
    from gan_lightning.training.distributed import default_strategy

    assert default_strategy(strategy, accelerator, devices, num_nodes) == chosen


def test_fit_on_two_devices_with_strategy_auto_builds_gan_ddp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from lightning.pytorch import Trainer

    from gan_lightning.training.distributed import GANDDPStrategy
    from tests.conftest import run_cli

    class Built(Exception):
        pass

    def fit(trainer, *args, **kwargs):
        raise Built(type(trainer.strategy))

    monkeypatch.setattr(Trainer, "fit", fit)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Built) as built:
        run_cli("fit", "--config", REPO / "configs" / "vanilla_gan.yaml", "--trainer.devices", "2", "--trainer.accelerator", "cpu", "--trainer.logger", "false")
    assert built.value.args[0] is GANDDPStrategy
    assert "strategy auto on several devices: gan_ddp" in capsys.readouterr().err
