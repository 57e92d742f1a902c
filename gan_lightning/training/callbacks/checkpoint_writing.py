"""Writing checkpoints so that a kill never costs more than the last interval, and finding the one
``--ckpt_path last`` means.

- ``AtomicCheckpointIO``: each file is written to a temporary file beside it, synced, then renamed
  over the target (a rename within one folder is atomic; Lightning's own save writes the target in
  place). A file holding non-finite weights is never written over a good one.
- ``LastCheckpoint``: ``last.ckpt`` every ``every_kimg`` thousand images and every ``every_minutes``,
  whether or not validation ran, at the end of training, and when the process is sent SIGTERM or
  Ctrl-C (SIGINT);
  SLURM's requeue signal is acted on at the next batch end, so hpc_ckpt_N.ckpt is a whole step too.
- ``newest_resumable``: the newest complete state among ``last*.ckpt`` and the ``hpc_ckpt_N.ckpt``
  that Lightning writes on SLURM's requeue signal.
"""

from __future__ import annotations

import math
import os
import re
import signal
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from lightning.fabric.utilities.cloud_io import _is_local_file_protocol
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from gan_lightning.common.checks import check_range
from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import host_scalar

PARTIAL_SUFFIX = ".partial"  # temporary files are ".<name>.<pid>.partial" beside their target
_PARTIAL = re.compile(r"^\..+\.(\d+)\.partial$")
_HPC = re.compile(r"^hpc_ckpt_(\d+)\.ckpt$")
_LAST = re.compile(r"^last(-v\d+)?\.ckpt$")


def non_finite_entry(tensors: dict[str, Any]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, else None. One pass and one
    device sync per device (``aminmax`` propagates NaN and, unlike a sum, cannot overflow)."""
    by_device: dict[torch.device, list[tuple[str, torch.Tensor]]] = {}
    for name, value in tensors.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
            by_device.setdefault(value.device, []).append((name, value.detach()))
    for named in by_device.values():
        finite = torch.stack([torch.isfinite(torch.stack(torch.aminmax(value))).all() for _, value in named])
        if not bool(finite.all()):
            return named[int((~finite).nonzero()[0])][0]
    return None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(folder: str | Path) -> int:
    """Deletes the temporary files of saves that were killed (their process is gone); returns the
    bytes freed."""
    freed = 0
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        match = _PARTIAL.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _process_alive(int(match.group(1))):
            freed += path.stat().st_size
            path.unlink(missing_ok=True)
    return freed


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to ``.<name>.<pid>.partial`` in the target's folder, fsync, rename over the
    target: the target is always either the previous complete file or the new complete file.
    Remote paths (s3://, ...) keep Lightning's own writer."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        bad = non_finite_entry(checkpoint.get("state_dict", {}))
        if bad is not None:
            raise UserError(
                f"not saving {path}: the weights hold NaN or inf ({bad}); the previous checkpoint is kept "
                "(training diverged: lower the learning rates or regularization weights)"
            )
        if not _is_local_file_protocol(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}{PARTIAL_SUFFIX}")
        try:
            with open(partial, "wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # the rename itself survives a power loss
        finally:
            os.close(folder)


def check_writable_folder(folder: str | Path) -> None:
    """Writes and removes a file in ``folder``, or in its nearest existing parent when it is not there
    yet (nothing is left behind): a folder that cannot take checkpoints is found at start, not at
    the first save after training."""
    existing = Path(folder).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    probe = existing / f".write_check.{os.getpid()}{PARTIAL_SUFFIX}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(
            f"checkpoint folder {str(folder)!r} cannot be written ({error.strerror}); allowed: a folder you can write "
            "(set --trainer.default_root_dir or the checkpoint callbacks' dirpath)"
        ) from None


def is_readable_checkpoint(path: str | Path) -> bool:
    """A complete torch zip file (its central directory, written last, is there and lists data)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def resumable_checkpoints(checkpoint_dirs: list[str | Path], hpc_dir: str | Path | None) -> list[Path]:
    """``last*.ckpt`` in the checkpoint folders and ``hpc_ckpt_N.ckpt`` in the run folder, newest
    first (by modification time: each was renamed into place complete)."""
    found: list[Path] = []
    for folder in checkpoint_dirs:
        if Path(folder).is_dir():
            found += [path for path in Path(folder).iterdir() if _LAST.match(path.name)]
    if hpc_dir is not None and Path(hpc_dir).is_dir():
        found += [path for path in Path(hpc_dir).iterdir() if _HPC.match(path.name)]
    return sorted(found, key=lambda path: path.stat().st_mtime_ns, reverse=True)


def newest_resumable(checkpoint_dirs: list[str | Path], hpc_dir: str | Path | None) -> Path | None:
    """What ``--ckpt_path last`` resumes from: the newest of last.ckpt and SLURM's hpc_ckpt_N.ckpt.
    None when there is none (a first run starts fresh). An unreadable newest file is reported with
    the newest readable one, never skipped silently."""
    candidates = resumable_checkpoints(checkpoint_dirs, hpc_dir)
    if not candidates:
        return None
    newest = candidates[0]
    if is_readable_checkpoint(newest):
        return newest
    readable = next((path for path in candidates[1:] if is_readable_checkpoint(path)), None)
    hint = f"resume from the newest readable one: --ckpt_path {readable}" if readable else "no readable checkpoint is left there"
    raise UserError(f"--ckpt_path last: {newest} is not a readable checkpoint (truncated or corrupt); {hint}")


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` on a schedule of its own, independent of validation: every ``every_kimg``
    thousand training images and every ``every_minutes`` of training (whichever comes first; None
    turns one off), at the end of training, and on SIGTERM (then the process exits with 143) or
    Ctrl-C (130): both stop at the next batch boundary, where the state is whole; a second Ctrl-C
    stops at once. The exception that ends training carries the signal as ``stop_signal``.
    Temporary files of saves killed earlier are removed when training starts.

    Args:
        dirpath: the checkpoint folder (``--ckpt_path last`` looks here).
        every_kimg: interval in thousands of training images (all processes together).
        every_minutes: interval in minutes of wall time.
    """

    def __init__(self, dirpath: str | None = None, every_kimg: float | None = 10.0, every_minutes: float | None = 10.0) -> None:
        super().__init__(dirpath=dirpath, monitor=None, save_top_k=0, save_last=True)
        for name, value in (("every_kimg", every_kimg), ("every_minutes", every_minutes)):
            check_range(f"LastCheckpoint {name}", value, 0, math.inf, low_open=True, high_open=True, optional=True)
        self.every_kimg = every_kimg
        self.every_minutes = every_minutes
        self._saved_at_images = 0
        self._saved_at_time = time.monotonic()
        self._requeue_handler: Callable[[int, Any], Any] | None = None
        self._requeue_signal: int = signal.SIGUSR1
        self._requeue_received = False
        self._due_at_epoch_end = False
        self._interrupted = False  # Ctrl-C pressed
        self._sigint_before: Any = None

    @property
    def state_key(self) -> str:
        return self._generate_state_key(dirpath=self.dirpath, every_kimg=self.every_kimg, every_minutes=self.every_minutes)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and stage == "fit" and self.dirpath and _is_local_file_protocol(self.dirpath):
            check_writable_folder(self.dirpath)
        if trainer.is_global_zero and stage == "fit":
            freed = sum(remove_stale_partials(folder) for folder in {self.dirpath, trainer.default_root_dir} if folder)
            if freed:
                rank_zero_info(f"removed {freed / 1e6:.1f} MB of temporary files left by interrupted saves")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._saved_at_images = self._images_seen(pl_module)
        self._saved_at_time = time.monotonic()
        self._defer_requeue_signal(trainer)
        self._stop_on_interrupt(trainer)

    def _stop_on_interrupt(self, trainer: Trainer) -> None:
        """Lightning turns Ctrl-C's KeyboardInterrupt, raised wherever it lands (often between two
        optimizer steps), into exit 1 without a save. The first Ctrl-C is made a stop request, as
        SIGTERM's, acted on by Lightning between batches."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._interrupted = False
        self._sigint_before = signal.getsignal(signal.SIGINT)

        def interrupt(signum: int, frame: Any) -> None:
            if self._interrupted:
                raise KeyboardInterrupt  # the second Ctrl-C: now
            self._interrupted = True
            trainer._signal_connector.received_sigterm = True  # Lightning's own stop request (no public setter)

        signal.signal(signal.SIGINT, interrupt)

    def _restore_interrupt(self) -> None:
        if self._sigint_before is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._sigint_before)
            self._sigint_before = None

    def _defer_requeue_signal(self, trainer: Trainer) -> None:
        """Lightning saves hpc_ckpt_N.ckpt inside its SLURM requeue-signal handler, i.e. wherever the
        signal lands, often between the discriminator's and the generator's step. Its handler
        (registered when fit starts) is kept, but run at the next batch end: a whole state."""
        if threading.current_thread() is not threading.main_thread():
            return
        environment = trainer._accelerator_connector.cluster_environment
        self._requeue_signal = environment.requeue_signal if isinstance(environment, SLURMEnvironment) else signal.SIGUSR1
        handler = signal.getsignal(self._requeue_signal)
        if not callable(handler):
            return
        self._requeue_handler = handler

        def defer(signum: int, frame: Any) -> None:
            self._requeue_received = True

        signal.signal(self._requeue_signal, defer)

    @staticmethod
    def _images_seen(pl_module: LightningModule) -> int:
        images_seen = getattr(pl_module, "images_seen", None)
        return host_scalar(images_seen) if images_seen is not None else 0  # no GPU wait per batch

    def _due(self, pl_module: LightningModule) -> bool:
        by_images = self.every_kimg is not None and self._images_seen(pl_module) - self._saved_at_images >= self.every_kimg * 1000
        by_time = self.every_minutes is not None and time.monotonic() - self._saved_at_time >= self.every_minutes * 60
        return by_images or by_time

    def write_last(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._saved_at_images = self._images_seen(pl_module)
        self._saved_at_time = time.monotonic()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        # every rank decides alike (rank 0's clock and signals), since saving is collective under DDP
        due, requeue = trainer.strategy.broadcast((self._due(pl_module), self._requeue_received))
        if due and self._last_batch_of_epoch(trainer):
            self._due_at_epoch_end = True
        elif due:
            self.write_last(trainer, pl_module)
        if requeue and self._requeue_handler is not None:
            self._requeue_received = False
            self._requeue_handler(self._requeue_signal, None)  # writes hpc_ckpt_N.ckpt, then requeues

    @staticmethod
    def _last_batch_of_epoch(trainer: Trainer) -> bool:
        progress = trainer.fit_loop.epoch_loop.batch_progress
        return progress.is_last_batch or progress.current.ready >= trainer.num_training_batches

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # A save due at an epoch's last batch waits until here: Lightning resumes a state saved at
        # the last batch's end with its epoch counters one short, so a second resume from a later
        # save of that run would train an epoch more.
        if self._due_at_epoch_end:
            self._due_at_epoch_end = False
            self.write_last(trainer, pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pass  # nor validation

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._restore_interrupt()
        if self._last_global_step_saved != trainer.global_step:
            self.write_last(trainer, pl_module)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore_interrupt()
        # SIGTERM and Ctrl-C are acted on between batches (Lightning raises it there), so the state is whole.
        if not isinstance(exception, SIGTERMException):
            return
        exception.stop_signal = signal.SIGINT if self._interrupted else signal.SIGTERM  # type: ignore[attr-defined]
        name = "Ctrl-C" if self._interrupted else "SIGTERM"
        if self._last_global_step_saved != trainer.global_step:
            self.write_last(trainer, pl_module)
            rank_zero_info(f"{name}: saved {self.last_model_path} at step {trainer.global_step}")
        else:  # the scheduled save of this very batch came first
            rank_zero_info(f"{name}: {self.last_model_path} already holds step {trainer.global_step}")
