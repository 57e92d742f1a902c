"""PatchGAN discriminator (Isola et al. 2017), the style network of CUT.

C64 - C128 - C256 - C512 - 1 for ``n_layers=3`` (4x4 convs, LeakyReLU 0.2, instance norm from the
second layer on): each output logit judges one 70x70 patch of the input (with stride-2 convs), so
the network learns the style's local texture rather than the image layout. With ``antialias=True``
(CUT's default) each stride-2 conv is a stride-1 conv followed by a fixed blur-and-subsample.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least
from gan_lightning.core.nets.cut_blocks import BlurDownsample, init_xavier_, instance_norm

# Channel multiplier cap: ndf * 8 = 512 channels at most, as in the paper.
MAX_CHANNEL_MULT = 8


@dataclass(frozen=True)
class PatchGANConfig:
    """The size of a ``PatchGANDiscriminator`` (CUT's ndf and n_layers_D).

    Args:
        width: channels of its first layer (doubled per layer up to 8x).
        layers: downsampling layers (3: 70x70 patches).
    """

    width: int = 64
    layers: int = 3


class PatchGANDiscriminator(nn.Module):
    """``forward(images) -> logits`` of shape (N, 1, h, w), one logit per overlapping patch."""

    def __init__(
        self,
        *,
        in_channels: int = 3,
        ndf: int = 64,
        n_layers: int = 3,
        antialias: bool = True,
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("ndf", ndf), ("n_layers", n_layers)):
            check_at_least(name, value, 1)
        self.in_channels = in_channels

        def downsampling_conv(c_in: int, c_out: int) -> list[nn.Module]:
            if antialias:
                return [nn.Conv2d(c_in, c_out, kernel_size=4, stride=1, padding=1, bias=True)]
            return [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=True)]

        def blur(c: int) -> list[nn.Module]:
            return [BlurDownsample(c)] if antialias else []

        # First layer: no normalisation (it would erase the input's colour statistics).
        layers: list[nn.Module] = [*downsampling_conv(in_channels, ndf), nn.LeakyReLU(0.2, inplace=True), *blur(ndf)]
        c = ndf
        for n in range(1, n_layers):
            c_out = ndf * min(2**n, MAX_CHANNEL_MULT)
            layers += [*downsampling_conv(c, c_out), instance_norm(c_out), nn.LeakyReLU(0.2, inplace=True), *blur(c_out)]
            c = c_out
        c_out = ndf * min(2**n_layers, MAX_CHANNEL_MULT)
        layers += [
            nn.Conv2d(c, c_out, kernel_size=4, stride=1, padding=1, bias=True),
            instance_norm(c_out),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c_out, 1, kernel_size=4, stride=1, padding=1, bias=True),  # patch logits
        ]
        self.model = nn.Sequential(*layers)
        init_xavier_(self, init_gain)

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"input shape {tuple(images.shape)} is invalid; allowed: (N, {self.in_channels}, H, W)")
        logits = self.model(images)
        assert logits.shape[:2] == (images.shape[0], 1), tuple(logits.shape)
        return logits
