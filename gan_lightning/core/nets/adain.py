"""Arbitrary style transfer with adaptive instance normalisation (AdaIN, Huang & Belongie 2017).

The encoder f is a frozen ``FeatureNetwork`` (VGG, or fixed random filters offline), cut at relu4_1.
AdaIN gives the content features the style features' channel means and standard deviations; a
trained decoder g maps them back to an image. A style never seen in training works at inference,
since only its feature statistics are used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.core.losses import mean_std
from gan_lightning.core.nets.perceptual import FeatureNetwork, FeatureNetworkName


def adaptive_instance_norm(content: Tensor, style_mean: Tensor, style_std: Tensor) -> Tensor:
    # Huang & Belongie 2017, eq. 8: AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y)
    mu, sigma = mean_std(content)
    return (style_std * (content.float() - mu) / sigma + style_mean).to(content.dtype)


class AdaINDecoder(nn.Module):
    """The decoder g: the encoder mirrored from relu4_1 back to pixels (nearest upsampling, reflection
    padding, no normalisation, as in the paper), with tanh to [-1, 1]."""

    def __init__(self, encoder_channels: tuple[int, ...], out_channels: int = 3) -> None:
        super().__init__()

        def conv(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect"), nn.ReLU(inplace=True)]

        layers: list[nn.Module] = []
        channels = list(encoder_channels)
        for deeper, shallower in zip(channels[::-1], channels[-2::-1]):
            layers += conv(deeper, shallower) + [nn.Upsample(scale_factor=2, mode="nearest")] + conv(shallower, shallower)
        layers += [nn.Conv2d(channels[0], out_channels, 3, padding=1, padding_mode="reflect"), nn.Tanh()]
        self.layers = nn.Sequential(*layers)
        self.in_channels = encoder_channels[-1]

    def forward(self, features: Tensor) -> Tensor:
        assert features.ndim == 4 and features.shape[1] == self.in_channels, tuple(features.shape)
        return self.layers(features)


class AdaINStylizer(nn.Module):
    """Encoder (frozen, stored with the decoder so a checkpoint is self-contained) + AdaIN + decoder.

    Args:
        features: the encoder: "random", "random_wide", "random_spatial", "vgg19" or "vgg16".
        feature_width: first-scale channels of the random encoder.
        weights_path: a local torchvision VGG state dict; None: torchvision's download.
        load_weights: False builds the encoder's shape only (inference: weights come from the checkpoint).
        channels: image channels (3: the encoders read RGB).
    """

    def __init__(
        self,
        features: FeatureNetworkName = "random",
        feature_width: int = 32,
        weights_path: str | None = None,
        load_weights: bool = True,
        channels: int = 3,
    ) -> None:
        super().__init__()
        self.encoder = FeatureNetwork(features, weights_path, load_weights, width=feature_width)
        self.decoder = AdaINDecoder(self.encoder.channels, channels)

    @property
    def stride(self) -> int:
        """Image sides must be multiples of this (the encoder's downsampling)."""
        return self.encoder.downsampling

    def style_statistics(self, style: Tensor) -> tuple[Tensor, Tensor]:
        """Channel mean and std of the style image's relu4_1 features, each (N, C, 1, 1)."""
        return mean_std(self.encoder(style)[-1])

    def forward(self, content: Tensor, style_mean: Tensor, style_std: Tensor, alpha: float = 1.0) -> Tensor:
        """Content images in [-1, 1] -> stylized images; ``alpha`` trades content (0) for style (1)."""
        # Any size: padded (reflected) to a multiple of the encoder's stride, cropped back after.
        height, width = content.shape[-2:]
        pad_h, pad_w = -height % self.stride, -width % self.stride
        if pad_h or pad_w:
            content = F.pad(content, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > max(pad_h, pad_w) else "replicate")
        # Huang & Belongie 2017, eq. 14: T(c, s, alpha) = g((1 - alpha) f(c) + alpha AdaIN(f(c), f(s)))
        encoded = self.encoder(content)[-1]
        target = adaptive_instance_norm(encoded, style_mean, style_std)
        return self.decoder(torch.lerp(encoded, target, alpha))[..., :height, :width]


class FixedStyle(nn.Module):
    """An ``AdaINStylizer`` bound to one style's statistics and alpha: content image -> stylized image,
    the one-argument network that tiled inference applies."""

    def __init__(self, stylizer: AdaINStylizer, style: Tensor, alpha: float = 1.0) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.alpha = alpha
        with torch.no_grad():
            style_mean, style_std = stylizer.style_statistics(style)
        self.register_buffer("style_mean", style_mean, persistent=False)
        self.register_buffer("style_std", style_std, persistent=False)

    def forward(self, content: Tensor) -> Tensor:
        return self.stylizer(content, self.style_mean, self.style_std, self.alpha)
