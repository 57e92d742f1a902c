"""FID and KID over images that arrive batch by batch (a validation or test loop), with the detectors,
quantization and formulas of the metric suite, so a value equals `evaluate`'s on the same images.

Plain torch: the caller says how to gather a tensor from all processes, and every process computes
the same value from everyone's features.
"""

from __future__ import annotations

import os
from typing import Literal

import torch
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation import formulas
from gan_lightning.evaluation.detectors import DETECTOR_KINDS, DetectorKind, detector_for
from gan_lightning.evaluation.extraction import Gather, detect, float32, gather_rows, single_process_gather

Side = Literal["real", "generated"]


def fid_detector(features: DetectorKind | nn.Module, weights_path: str | None = None) -> nn.Module:
    """The network behind training's FID: ``features`` as ``fid_features`` names it, Inception read
    from ``weights_path`` (training's ``fid_weights_path``) or downloaded."""
    if isinstance(features, str) and features not in DETECTOR_KINDS:
        raise UserError(f"unknown fid_features {features!r}; allowed: {', '.join(DETECTOR_KINDS)}")
    if weights_path is not None and not os.path.isfile(weights_path):
        raise UserError(f"fid_weights_path {weights_path!r} is not a file; expected torch-fidelity's Inception weights (.pth)")
    return detector_for(features, "inception", inception_path=weights_path)


def check_finite(images: Tensor) -> None:
    """Refuses images holding NaN or inf: quantized, they would pass as black pixels and give a
    finite, meaningless distance."""
    finite = torch.isfinite(images.detach()).flatten(1).all(dim=1)
    if not finite.all():
        raise UserError(
            f"FID/KID: {int((~finite).sum())} of {len(images)} images hold NaN or inf (a generator that diverged "
            "makes them); lower the learning rates or regularization weights and resume from an earlier checkpoint"
        )


class StreamedDistances:
    """Features of real and generated batches, then FID (and KID when ``kid_subset_size`` is given)
    over all processes' features. Real features are kept by ``forget_generated``, so a validation
    loop feeds the real set once. A plain object: its detector stays out of the model's checkpoints.
    """

    def __init__(self, detector: nn.Module, kid_subset_size: int | None = None) -> None:
        self.detector = detector
        self.kid_subset_size = kid_subset_size
        self.features: dict[str, list[Tensor]] = {"real": [], "generated": []}

    def count(self, side: Side) -> int:
        return sum(part.shape[0] for part in self.features[side])

    @torch.no_grad()
    def add(self, images: Tensor, side: Side) -> None:
        """A batch in [-1, 1] with 1 or 3 channels."""
        check_finite(images)
        features, _ = detect(self.detector.to(images.device), images)
        self.features[side].append(features)

    def compute(self, gather: Gather = single_process_gather) -> dict[str, float]:
        """``{"fid": ..., "kid": ...}``; collective under DDP (every process calls it, with its gather)."""
        generated, real = (gather_rows(torch.cat(self.features[side]), gather) for side in ("generated", "real"))
        with float32(torch.device("cpu")):  # the formulas compute on the CPU
            values = {"fid": formulas.frechet_distance(generated, real)}
            if self.kid_subset_size is not None:
                values["kid"] = formulas.kernel_distance(generated, real, max_subset_size=self.kid_subset_size)
        return values

    def forget_generated(self) -> None:
        self.features["generated"] = []
