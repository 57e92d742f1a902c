"""Perceptual style and content terms for a translation generator (Johnson et al. 2016): the
stylized image's features in a frozen network should have the style images' statistics (Gram
matrices, Gatys et al. 2016, or channel means/stds, Huang & Belongie 2017) and the content image's
features at one layer."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import feature_content_loss, gram_matrix, gram_style_loss, mean_std_style_loss
from gan_lightning.core.nets.perceptual import LAYER_NAMES, PerceptualConfig

StyleStatistics = Literal["gram", "mean_std"]
STYLE_STATISTICS: tuple[str, ...] = get_args(StyleStatistics)
# "absolute": the papers' squared distances, whose size follows the feature network's scale (the
# loss weights are tuned per network). "relative": each Gram layer's squared distance divided by the
# style Gram's squared norm and the content distance by the content features' (layers weigh alike,
# whatever the size of their activations). With random_wide features, "relative" losses made the
# texture probe's generator draw the style's strokes (benchmarks/results/style_texture_probe.md).
# "photo_relative": each Gram layer's squared distance divided by the content photo's own (the share
# of the photo-to-style distance left: 1 at the photo, 0 at the style), content as "relative". The
# style Gram's norm in "relative" is small for smooth, low-texture styles (a micrograph, a night sky),
# so there the style term is tens to thousands of times larger than on a textured one and drowns the
# content and identity terms: the generator then flattens the photo into blobs
# (benchmarks/results/style_collapse.md). Relative to the photo, the term starts at 1 on every pair.
PerceptualNormalisation = Literal["absolute", "relative", "photo_relative"]
PERCEPTUAL_NORMALISATIONS: tuple[str, ...] = get_args(PerceptualNormalisation)


class PerceptualTerms:
    """Computes (style loss, content loss) of stylized images against their content and style batches.

    A plain object, not an ``nn.Module`` attribute of the LightningModule: the frozen network stays
    out of checkpoints and optimizers (like the FID network), and is rebuilt from its name.
    """

    def __init__(
        self,
        network: PerceptualConfig,
        statistics: StyleStatistics,
        content_layer: str,
        normalisation: PerceptualNormalisation = "absolute",
    ) -> None:
        if statistics not in STYLE_STATISTICS:
            raise UserError(f"style_statistics {statistics!r} is invalid; allowed: {', '.join(STYLE_STATISTICS)}")
        if normalisation not in PERCEPTUAL_NORMALISATIONS:
            raise UserError(f"perceptual_normalisation {normalisation!r} is invalid; allowed: {', '.join(PERCEPTUAL_NORMALISATIONS)}")
        if normalisation != "absolute" and statistics != "gram":
            raise UserError(f"perceptual_normalisation {normalisation!r} is invalid with style_statistics {statistics!r}; allowed: 'absolute', or style_statistics 'gram'")
        if content_layer not in LAYER_NAMES:
            raise UserError(f"content_layer {content_layer!r} is invalid; allowed: {', '.join(LAYER_NAMES)}")
        self.network = network.build()
        self.statistics = statistics
        self.content_index = LAYER_NAMES.index(content_layer)
        self.normalisation = normalisation
        self.relative = normalisation != "absolute"  # scale-free losses, whatever the network

    def __call__(self, content: Tensor, style: Tensor, stylized: Tensor) -> tuple[Tensor, Tensor]:
        network = self.network.to(stylized.device)
        with torch.no_grad():
            photo_features = network(content)
            style_features = network(style)
        output_features = network(stylized)
        if self.statistics == "gram":
            # One target for the whole batch: the style images' mean Gram matrix, so unpaired batches
            # (and crops of one style image) all pull towards the same texture statistics.
            targets = [gram_matrix(f).mean(0, keepdim=True) for f in style_features]
            if self.normalisation == "photo_relative":
                style_loss = photo_relative_gram_loss(output_features, photo_features, targets)
            else:
                style_loss = gram_style_loss(output_features, targets, relative=self.relative)
        else:
            style_loss = mean_std_style_loss(output_features, style_features)  # each output against its paired style image
        return style_loss, feature_content_loss(output_features[self.content_index], photo_features[self.content_index], relative=self.relative)


def photo_relative_gram_loss(output_features: list[Tensor], photo_features: list[Tensor], style_grams: list[Tensor]) -> Tensor:
    """Mean over layers of mean_n ||G_l(y_n) - G_l(s)||^2 / mean_n ||G_l(x_n) - G_l(s)||^2: the share
    of the photos' Gram distance to the style s that the outputs y = G(x) have left: 1 for unchanged
    photos and 0 at the style's statistics, on every pair. Batch means, not per image: a crop that
    happens to be close to the style (a plain area of its colour) must not weigh thousands of times more."""
    total = output_features[0].new_zeros((), dtype=torch.float32)
    for output, photo, target in zip(output_features, photo_features, style_grams, strict=True):
        target = target.float()
        distance = (gram_matrix(output) - target).square().sum(dim=(1, 2))
        reference = (gram_matrix(photo.detach()) - target).square().sum(dim=(1, 2))
        total = total + distance.mean() / reference.mean().clamp_min(1e-12)
    return total / len(output_features)
