"""FID and KID from torchmetrics with a feature network that can live offline.

- ``"inception"``: the paper-standard 2048-d pool features of torch-fidelity's Inception-v3. Its weights
  are downloaded on first use, or read from ``weights_path`` on clusters without internet.
- ``"shapes"``: 128-d features of the small classifier shipped for the bundled shapes dataset: a
  Fréchet distance that works offline out of the box (like LeNet features for MNIST). Only
  meaningful on the bundled shapes data.
- any ``nn.Module`` with a ``num_features`` attribute, taking images in [0, 1] (``features.py``
  has the bundled ones; tests use small ones).

The feature network is frozen, and the model keeps the metric outside its module tree so the
Inception weights never enter a checkpoint.
"""

from __future__ import annotations

import os
from typing import Literal, Union

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.features import ShapesFeatures
from gan_lightning.evaluation.shapes_classifier import load_shapes_classifier
from gan_lightning.common.images import to_unit

FIDFeatures = Literal["inception", "shapes"]
INCEPTION_WEIGHTS_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"


def _inception_feature_error(error: Exception) -> UserError:
    return UserError(
        f"could not get the Inception weights for FID ({type(error).__name__}: {error}). Offline? Download "
        f"{INCEPTION_WEIGHTS_URL} on a machine with internet and pass its path as "
        "--model.init_args.fid_weights_path PATH (or set fid_features: shapes on the bundled data)"
    )


def build_fid(features: Union[FIDFeatures, nn.Module] = "inception", weights_path: str | None = None) -> FrechetInceptionDistance:
    """A torchmetrics FID that takes images in [0, 1]; real features are kept across ``reset()``
    so validation feeds the real set once."""
    if isinstance(features, nn.Module):
        extractor: Union[int, nn.Module] = features
    elif features == "shapes":
        extractor = ShapesFeatures(load_shapes_classifier())
    elif features == "inception":
        extractor = 2048
        if weights_path is not None and not os.path.isfile(weights_path):
            raise UserError(f"fid_weights_path {weights_path!r} is not a file; expected torch-fidelity's Inception weights (.pth)")
    else:
        raise UserError(f"unknown fid_features {features!r}; allowed: inception, shapes")
    try:
        metric = FrechetInceptionDistance(
            feature=extractor,
            normalize=True,
            reset_real_features=False,
            feature_extractor_weights_path=weights_path,
        )
    except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad file is a RuntimeError/UnpicklingError
        raise _inception_feature_error(error) from None
    metric.inception.requires_grad_(False).eval()
    return metric


def to_unit_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1] with 1 or 3 channels -> float32 RGB in [0, 1], the metric's input. Images
    holding NaN or inf are refused: their statistics crash the matrix square root of FID."""
    finite = torch.isfinite(images.detach()).flatten(1).all(dim=1)
    if not finite.all():
        raise UserError(
            f"FID/KID: {int((~finite).sum())} of {len(images)} images hold NaN or inf (a generator that diverged "
            "makes them); lower the learning rates or regularization weights and resume from an earlier checkpoint"
        )
    images = to_unit(images)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


class _Uint8Input(nn.Module):
    """torch-fidelity's Inception takes uint8 images; a metric hands custom feature modules its [0, 1] floats."""

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        self.inception = inception

    def forward(self, images: Tensor) -> Tensor:
        return self.inception((images * 255).byte())


def build_kid(fid: FrechetInceptionDistance, subset_size: int = 1000) -> KernelInceptionDistance:
    """KID (Binkowski et al. 2018) over the feature network ``fid`` already loaded (no second download
    or copy of Inception). It keeps every feature, so it costs memory in proportion to the samples."""
    features = fid.inception if fid.used_custom_model else _Uint8Input(fid.inception)
    return KernelInceptionDistance(feature=features, subset_size=subset_size, normalize=True, reset_real_features=False)
