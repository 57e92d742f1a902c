"""Training progress in images seen (kimg), summed over all processes as NVlabs counts it, so the
schedules, the stop condition and the logged progress do not depend on the batch size or the number
of GPUs; and which batches the loggers record."""

from __future__ import annotations

from torch import Tensor

from gan_lightning.common.torch_utils import host_scalar, set_scalar


class ImageProgress:
    """Part of ``GANModule``, which registers ``images_seen`` (an int64 buffer: checkpointed, so the
    kimg schedules survive a resume) and sets ``max_kimg``."""

    images_seen: Tensor
    max_kimg: float | None

    @property
    def kimg(self) -> float:
        return host_scalar(self.images_seen) / 1000.0  # counted on the host: no wait for the GPU per batch

    def count_images(self, batch_size: int) -> None:
        """Adds one global batch (this process's batch times the number of processes)."""
        set_scalar(self.images_seen, host_scalar(self.images_seen) + batch_size * self.trainer.world_size)
        # a device tensor: the loggers read it on logging steps only (a Python number is copied to the GPU every batch)
        self.log("progress/kimg", self.images_seen.double() / 1000.0, on_step=True, on_epoch=False, rank_zero_only=True)

    def stop_at_max_kimg(self) -> None:
        """Ends fit once ``max_kimg`` thousand images are seen (None: the Trainer's limits decide)."""
        if self.max_kimg is not None and self.kimg >= self.max_kimg:
            self.trainer.should_stop = True

    def logging_step(self, batch_idx: int) -> bool:
        """True on the batches whose metrics the loggers record (every trainer.log_every_n_steps):
        diagnostics such as gradient norms are only computed then."""
        return batch_idx % max(1, self.trainer.log_every_n_steps) == 0

    def log_progress(self, values: dict[str, Tensor], log_now: bool) -> None:
        """Progress-bar values, updated on logging steps only, as CPU copies: Lightning turns every
        progress-bar value it holds into a Python number after each batch, and reading a GPU tensor
        waits for all queued work."""
        if log_now:
            self.log_dict({name: value.detach().cpu() for name, value in values.items()}, prog_bar=True, logger=False)
