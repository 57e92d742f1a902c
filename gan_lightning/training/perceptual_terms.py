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
from gan_lightning.core.nets.perceptual import LAYER_NAMES, FeatureNetwork, PerceptualConfig

StyleStatistics = Literal["gram", "mean_std"]
STYLE_STATISTICS: tuple[str, ...] = get_args(StyleStatistics)
# "absolute": the papers' squared distances, whose size follows the feature network's scale (the
# loss weights are tuned per network). "relative": each Gram layer's squared distance divided by the
# style Gram's squared norm and the content distance by the content features' (layers weigh alike,
# whatever the size of their activations). With random_wide features, "relative" losses made the
# texture probe's generator draw the style's strokes (benchmarks/results/style_texture_probe.md).
PerceptualNormalisation = Literal["absolute", "relative"]
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
        if normalisation == "relative" and statistics != "gram":
            raise UserError(f"perceptual_normalisation 'relative' is invalid with style_statistics {statistics!r}; allowed: 'absolute', or style_statistics 'gram'")
        if content_layer not in LAYER_NAMES:
            raise UserError(f"content_layer {content_layer!r} is invalid; allowed: {', '.join(LAYER_NAMES)}")
        self.network = network.build()
        self.statistics = statistics
        self.content_index = LAYER_NAMES.index(content_layer)
        self.relative = normalisation == "relative"

    def __call__(self, content: Tensor, style: Tensor, stylized: Tensor) -> tuple[Tensor, Tensor]:
        network = self.network.to(stylized.device)
        with torch.no_grad():
            content_features = network(content)[self.content_index]
        output_features = network(stylized)
        style_loss = self._style_loss(network, style, output_features)
        return style_loss, feature_content_loss(output_features[self.content_index], content_features, relative=self.relative)

    def style_term(self, style: Tensor, stylized: Tensor) -> Tensor:
        """The style loss alone (a second feature network's style term, without its content pass)."""
        network = self.network.to(stylized.device)
        return self._style_loss(network, style, network(stylized))

    def _style_loss(self, network: FeatureNetwork, style: Tensor, output_features: list[Tensor]) -> Tensor:
        with torch.no_grad():
            style_features = network(style)
        if self.statistics == "gram":
            # One target for the whole batch: the style images' mean Gram matrix, so unpaired batches
            # (and crops of one style image) all pull towards the same texture statistics.
            targets = [gram_matrix(f).mean(0, keepdim=True) for f in style_features]
            return gram_style_loss(output_features, targets, relative=self.relative)
        return mean_std_style_loss(output_features, style_features)  # each output against its paired style image
