"""What the reliability tests share: a tiny `fit` on the bundled data or an image folder, run as a
real process, and callbacks that mark or end a run at a chosen batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback

from tests.conftest import REPO, run_cli

CONFIG = REPO / "configs" / "vanilla_gan.yaml"


BUNDLED_DATA = ["--data.init_args.num_train", "64", "--data.init_args.num_val", "16"]


def tiny_fit_args(root: Path, *extra: str, data: list[str] = BUNDLED_DATA) -> list[str]:
    """A VanillaGAN small enough for a fraction of a second per batch: by default 64 bundled images
    in batches of 8."""
    return [
        "fit", "--config", str(CONFIG),
        "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.num_sanity_val_steps", "0",
        "--trainer.default_root_dir", str(root),
        "--data.init_args.num_workers", "0",
        "--data.init_args.batch_size", "8",
        *data,
        "--model.init_args.generator.width", "8",
        "--model.init_args.discriminator.width", "8",
        "--model.init_args.fid_num_samples", "16",
        *extra,
    ]  # fmt: skip


def fit_process(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "gan_lightning", *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_fit(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    process = fit_process(args, cwd)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def one_line_error(capsys: pytest.CaptureFixture, *args: object) -> str:
    """The one `error:` line `python -m gan_lightning ARGS` prints before exiting with status 2."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("error:")]
    assert len(err) == 1, err
    return err[0]


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True, map_location="cpu")


class MarkBatch(Callback):
    """Writes ``marker`` when batch ``at_batch`` (counted over the whole run) starts, so a test knows
    the run is training."""

    def __init__(self, marker: str, at_batch: int = 2) -> None:
        self.marker = marker
        self.at_batch = at_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.fit_loop.total_batch_idx == self.at_batch:
            Path(self.marker).write_text(str(os.getpid()))


class KillAtBatch(Callback):
    """SIGKILLs its own process when batch ``at_batch`` starts: no handler, no cleanup, as the OOM
    killer or a pulled plug would."""

    def __init__(self, at_batch: int) -> None:
        self.at_batch = at_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.fit_loop.total_batch_idx == self.at_batch:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordFirstBatch(Callback):
    """Writes the run-wide index of the first batch this process trains (0 for a fresh start)."""

    def __init__(self, record: str) -> None:
        self.record = record

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not Path(self.record).exists():
            Path(self.record).write_text(str(trainer.fit_loop.total_batch_idx))


class SignalAtBatch(Callback):
    """Sends its own process ``signal_name`` (SIGTERM, as a scheduler would; SIGINT, as Ctrl-C does)
    when batch ``at_batch`` (counted over the whole run) starts, or, with ``in_validation``, when the
    first validation batch after it starts."""

    def __init__(self, at_batch: int, in_validation: bool = False, signal_name: str = "SIGTERM") -> None:
        self.at_batch = at_batch
        self.in_validation = in_validation
        self.signal_number = signal.Signals[signal_name]
        self._sent = False

    def _send(self) -> None:
        if not self._sent:
            self._sent = True
            os.kill(os.getpid(), self.signal_number)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not self.in_validation and trainer.fit_loop.total_batch_idx == self.at_batch:
            self._send()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if self.in_validation and not trainer.sanity_checking and trainer.fit_loop.total_batch_idx >= self.at_batch:
            self._send()
