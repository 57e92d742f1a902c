"""DCGAN generator and discriminator (Radford et al. 2016) for 32, 64 and 128 px images."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError

DCGAN_RESOLUTIONS: tuple[int, ...] = (32, 64, 128)
DiscriminatorNorm = Literal["batch", "layer", "none"]


def check_resolution(resolution: int) -> int:
    if resolution not in DCGAN_RESOLUTIONS:
        allowed = ", ".join(map(str, DCGAN_RESOLUTIONS))
        raise UserError(f"DCGAN resolution must be one of {allowed}, got {resolution}")
    return resolution


def _num_stages(resolution: int) -> int:
    """Stride-2 stages between 4x4 and the image."""
    return int(math.log2(check_resolution(resolution))) - 2


def dcgan_init_(module: nn.Module) -> None:
    """The paper's initialisation: conv weights N(0, 0.02); norm scales N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


@dataclass(frozen=True)
class DCGANGeneratorConfig:
    """The DCGAN generator's settings.

    Args:
        z_dim: size of the latent z.
        width: channels of its last hidden layer (doubled per stage toward 4x4).
    """

    z_dim: int = 100
    width: int = 64

    def __post_init__(self) -> None:
        check_at_least("generator.z_dim", self.z_dim, 1)
        check_at_least("generator.width", self.width, 1)


@dataclass(frozen=True)
class DCGANDiscriminatorConfig:
    """The DCGAN discriminator's settings.

    Args:
        width: channels of its first layer (doubled per stage).
        norm: "batch" (the paper's), "layer" or "none"; WGAN-GP needs layer or none.
    """

    width: int = 64
    norm: DiscriminatorNorm = "batch"

    def __post_init__(self) -> None:
        check_at_least("discriminator.width", self.width, 1)


class DCGANGenerator(nn.Module):
    """z (N, z_dim) -> image (N, channels, resolution, resolution) in [-1, 1].

    Project z to 4x4 with a transposed convolution, then halve the width and double the size at
    each stage (transposed conv 4x4 stride 2, BatchNorm, ReLU); the last stage outputs tanh.
    """

    def __init__(self, resolution: int = 64, z_dim: int = 100, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        self.resolution = resolution
        self.z_dim = z_dim
        stages = _num_stages(resolution)
        widths = [width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 64 px: 512, 256, 128, 64
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, z: Tensor) -> Tensor:
        assert z.ndim == 2 and z.shape[1] == self.z_dim, f"expected z of shape (N, {self.z_dim}), got {tuple(z.shape)}"
        return self.main(z[:, :, None, None])


def _norm(kind: DiscriminatorNorm, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)  # per-sample normalisation: safe with gradient penalties
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown discriminator norm {kind!r}; allowed: batch, layer, none")


class DCGANDiscriminator(nn.Module):
    """image -> one logit per image (N,).

    Strided 4x4 convolutions with LeakyReLU 0.2 down to 4x4 (no norm on the first layer), then a
    4x4 convolution to one logit. ``norm="batch"`` is the paper's; WGAN-GP needs "layer" or "none"
    because its penalty is per sample.
    """

    def __init__(self, resolution: int = 64, width: int = 64, channels: int = 3, norm: DiscriminatorNorm = "batch") -> None:
        super().__init__()
        self.resolution = resolution
        self.channels = channels
        stages = _num_stages(resolution)
        widths = [width * 2**i for i in range(stages)]  # e.g. 64 px: 64, 128, 256, 512
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), _norm(norm, c_out), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)

    def forward(self, images: Tensor) -> Tensor:
        expected = (self.channels, self.resolution, self.resolution)
        assert tuple(images.shape[1:]) == expected, f"expected images of shape (N, {expected}), got {tuple(images.shape)}"
        return self.main(images).flatten()
