"""Training hyper-parameters as functions of the images seen, so that a schedule does not depend on
the batch size or the number of processes and resumes exactly from the checkpointed image count."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gan_lightning.common.checks import check_positive


@dataclass(frozen=True)
class Ramp:
    """A value that moves from ``start`` to ``end`` along a half cosine and stays at ``end``.

    Args:
        start: the value before any image.
        end: the value from ``over_kimg`` thousand images on (``R3GAN``'s ``ramp_kimg``).
    """

    start: float
    end: float

    def at(self, images_seen: float, over_kimg: float) -> float:
        check_positive("ramp_kimg", over_kimg)
        # Huang et al. 2024 (their cosine_decay_with_warmup, no warm-up):
        # v(n) = start + (1 - (1 + cos(pi n / N)) / 2) (end - start) for n <= N, else end
        progress = images_seen / (over_kimg * 1000.0)
        if progress > 1:
            return self.end
        return self.start + (1 - 0.5 * (1 + math.cos(math.pi * progress))) * (self.end - self.start)
