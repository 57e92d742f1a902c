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
    assert "ddp_find_unused_parameters_true" in result.stderr
