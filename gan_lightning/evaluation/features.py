"""An offline feature network for FID on the bundled style example, given as ``fid_features``.

It takes images in [0, 1] (``detectors.FeatureModuleDetector`` hands it the quantized images), has a
``num_features`` attribute, and needs no download. It is only meaningful on the data it was made for.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.evaluation.looks import look_statistics
from gan_lightning.common.images import from_unit


class LookFeatures(nn.Module):
    """A fixed, offline feature network for FID on the bundled style example: the look descriptors of
    :func:`~gan_lightning.evaluation.looks.look_statistics` plus a 3x3 colour thumbnail (coarse
    layout), 33 numbers per image.

    The shapes classifier's features are blind to the light-paper style look, so FID between stylized
    images and the style set uses these instead.
    """

    num_features = 6 + 27

    def forward(self, images: Tensor) -> Tensor:
        images = from_unit(images.float())
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        thumbnail = F.adaptive_avg_pool2d(images, 3).flatten(1)
        return torch.cat([look_statistics(images), thumbnail], dim=1)
