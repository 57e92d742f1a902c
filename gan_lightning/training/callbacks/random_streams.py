"""The random streams a resumed run needs to continue exactly as an uninterrupted one.

Lightning checkpoints the model, optimizers and loop counters, not the global RNGs that draw
latents, noise, ADA's augmentations and mixing. ``RandomStreams`` saves torch's (CPU and CUDA),
numpy's and Python's states in each checkpoint and sets them again just before the first batch a
resumed run trains. Validation never changes what is trained next: the streams as the last
training batch left them are set again when it ends, which also undoes what was drawn while its
loader was built or its workers started (a resumed run builds them at its first validation, an
uninterrupted one at the sanity check), and a checkpoint written during validation holds them. (The data order and per-item augmentations are the DataModule's:
``gan_lightning.data.resumable``.) Exact on one process; under DDP the streams are not restored.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer


def collect_random_streams() -> dict[str, Any]:
    """The global RNG states, as tensors and plain numbers (readable by ``torch.load(weights_only=True)``)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
        "python": [version, list(python_state), gauss],
    }


def set_random_streams(streams: dict[str, Any]) -> None:
    torch.set_rng_state(streams["torch"])
    if streams["cuda"] and torch.cuda.is_available():
        # the GPUs present now, which may be fewer or more than when it was saved (another node):
        # each one that was there gets its stream back, a new one keeps its own seeding
        for device, state in enumerate(streams["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(state, device)
    kind, keys, position, has_gauss, cached = streams["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, python_state, gauss = streams["python"]
    random.setstate((version, tuple(python_state), gauss))


class RandomStreams(Callback):
    """Checkpoints the global RNG states and restores them at the first batch after a resume; runs
    validation on the streams of the last training batch's end, set again when it ends."""

    def __init__(self) -> None:
        self._to_restore: dict[str, Any] | None = None
        self._after_batch: dict[str, Any] | None = None  # as the last training batch left them
        self._before_validation: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        # during validation (SIGTERM there, a best-FID save): the streams training continues from
        return {"streams": self._before_validation or collect_random_streams()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._to_restore = state_dict.get("streams")

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        # Under DDP the file holds rank 0's streams only: every rank would then draw the same latents,
        # so there each rank keeps the per-rank seeding it starts with (the resume is not exact).
        if self._to_restore is not None and trainer.world_size == 1:
            set_random_streams(self._to_restore)
        self._to_restore = None

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx: int) -> None:
        # Lightning builds the validation loader and its iterator (a draw for the workers' base seed)
        # before any validation hook runs, so the streams are taken here, the last hook before that.
        self._after_batch = collect_random_streams()

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "fit":
            # the sanity check, or a validation a resumed run finishes first, follows no batch of this process
            after_batch = self._after_batch if not trainer.sanity_checking else None
            self._before_validation = after_batch or collect_random_streams()

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._before_validation is not None:
            set_random_streams(self._before_validation)
            self._before_validation = None
