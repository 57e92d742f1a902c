"""Without W&B credentials a run never stops at a login prompt: it logs offline and says how to sync."""

from pathlib import Path

from tests.conftest import REPO, run_cli_subprocess


def test_wandb_logs_offline_without_credentials(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a W&B key
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    result = run_cli_subprocess(
        "fit", "--config", REPO / "configs" / "vanilla_gan.yaml",
        "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--data.init_args.num_workers", "0", "--data.init_args.batch_size", "8",
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "logging offline" in result.stderr and "wandb sync" in result.stderr
    assert list((tmp_path / "runs" / "vanilla_gan" / "wandb").glob("offline-run-*"))
    assert list((tmp_path / "runs" / "vanilla_gan").glob("version_*/events.out.tfevents.*"))  # TensorBoard too
