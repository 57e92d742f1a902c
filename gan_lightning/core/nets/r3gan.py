"""R3GAN networks (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern Baseline GAN"),
config E: a ConvNeXt-style residual generator and its mirror image as discriminator.

Each stage works at one resolution: the generator's first stage turns the latent into a 4x4 feature
map (the generative basis), every later one doubles the resolution (transition layer: 1x1 convolution
where the width changes, then interpolative 2x upsampling) and refines it with residual blocks. The
discriminator runs the stages backwards: residual blocks, then a transition (2x downsampling, then a
1x1 convolution) or, at 4x4, the discriminative basis (a depthwise 4x4 convolution and a linear layer)
that gives the logit. A residual block is an inverted bottleneck: 1x1 expansion, grouped KxK
convolution, 1x1 compression, each of the first two followed by a bias and leaky ReLU; there is no
normalisation layer anywhere. Training stays stable from the initialisation instead: weights are drawn
with variance gain^2 / fan_in (MSR), each block's expansion and grouped convolution scaled by
L^(-1/4) for L blocks in the network and its compression zero (the block starts as the identity).
Class conditioning: the class embedding is appended to the latent (generator) or projected onto the
discriminator's last features.

Settings list one value per stage from 4x4 up, for both networks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.layers import (
    LRELU_SLOPE,
    downsample2d,
    fir_filter,
    upsample2d,
)

# Gain of a leaky ReLU of slope 0.2 (He et al. 2015): keeps the second moment of its output.
LRELU_GAIN = math.sqrt(2 / (1 + LRELU_SLOPE**2))


# --- settings --------------------------------------------------------------------------------------


@dataclass(frozen=True)  # frozen: one instance can safely be the default of every R3GAN
class R3GANNetworkConfig:
    """Settings both networks have, one value per stage from 4x4 up (defaults: the official CIFAR10
    preset's networks, unconditional).

    Args:
        widths: channels of each stage.
        cardinalities: groups of each stage's grouped convolutions.
        blocks: residual blocks of each stage.
        expansion: inverted-bottleneck expansion factor (channels inside a block / outside).
        kernel_size: side of the grouped convolutions.
        resampling_filter: taps of the interpolation filter, convolved with [1, 1] for the 2x
            resampling (their construction: [1, 2, 1] gives the separable [1, 3, 3, 1] / 8).
        c_dim: class-label size, 0 = unconditional.
        embedding_dim: class embedding size (the generator appends it to z; the discriminator's last
            features have this size when conditional).
        bf16_stages: run this many of the highest-resolution stages in bfloat16 (the official presets:
            3 or 4), 0 = all in float32.
    """

    widths: tuple[int, ...] = (768, 768, 768, 768)
    cardinalities: tuple[int, ...] = (96, 96, 96, 96)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    expansion: int = 2
    kernel_size: int = 3
    resampling_filter: tuple[int, ...] = (1, 2, 1)
    c_dim: int = 0
    embedding_dim: int = 0
    bf16_stages: int = 0

    def _check(self, network: str) -> None:
        for name in ("widths", "cardinalities", "blocks", "resampling_filter"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # a list from YAML or a checkpoint
        if not (len(self.widths) == len(self.cardinalities) == len(self.blocks) >= 1):
            raise UserError(
                f"{network} widths, cardinalities and blocks must have one value per stage each, got "
                f"{len(self.widths)}, {len(self.cardinalities)} and {len(self.blocks)}"
            )
        for width, groups in zip(self.widths, self.cardinalities):
            check_at_least(f"{network} cardinality", groups, 1)
            if width * self.expansion % groups:
                raise UserError(f"{network} width {width} x expansion {self.expansion} must be a multiple of its cardinality {groups}")
        check_at_least(f"{network} blocks", min(self.blocks), 0)
        check_at_least(f"{network} expansion", self.expansion, 1)
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise UserError(f"{network} kernel_size must be odd and at least 1, got {self.kernel_size}")
        check_at_least(f"{network} c_dim", self.c_dim, 0)
        check_at_least(f"{network} embedding_dim", self.embedding_dim, 1 if self.c_dim else 0)
        check_at_least(f"{network} bf16_stages", self.bf16_stages, 0)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.widths) - 1)

    @property
    def num_blocks(self) -> int:
        return sum(self.blocks)


@dataclass(frozen=True)
class R3GANGeneratorConfig(R3GANNetworkConfig):
    """The generator's settings: those of ``R3GANNetworkConfig`` and the latent size z_dim."""

    z_dim: int = 64

    def __post_init__(self) -> None:
        self._check("generator")
        check_at_least("generator z_dim", self.z_dim, 1)


@dataclass(frozen=True)
class R3GANDiscriminatorConfig(R3GANNetworkConfig):
    """The discriminator's settings, those of ``R3GANNetworkConfig`` (still listed from 4x4 up)."""

    def __post_init__(self) -> None:
        self._check("discriminator")


def check_resolution(config: R3GANNetworkConfig, resolution: int) -> None:
    if config.resolution != resolution:
        raise UserError(
            f"{len(config.widths)} stages from 4x4 make {config.resolution} px images, but the resolution is {resolution}; "
            "allowed: one stage per resolution from 4x4 up to it"
        )


# --- layers ----------------------------------------------------------------------------------------


def msr_init(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Conv2d | nn.Linear:
    """Weights ~ N(0, gain^2 / fan_in) (He et al. 2015), fan_in = input channels per group x kernel area."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    return layer


def convolution(in_channels: int, out_channels: int, kernel_size: int, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """A bias-free "same" convolution; ``Stage`` casts its weight to the stage's dtype."""
    return msr_init(nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2, groups=groups, bias=False), gain)


def conv(layer: nn.Conv2d, x: Tensor) -> Tensor:
    return F.conv2d(x, layer.weight.to(x.dtype), padding=layer.padding, groups=layer.groups)


class BiasedActivation(nn.Module):
    """A per-channel bias (zero at first), then leaky ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), LRELU_SLOPE)


class ResidualBlock(nn.Module):
    """x + compress(act(grouped(act(expand(x))))): the inverted bottleneck, identity at initialisation."""

    LINEAR_LAYERS = 3  # m of the variance scaling L^(-1 / (2m - 2))

    def __init__(self, channels: int, cardinality: int, expansion: int, kernel_size: int, num_blocks: int) -> None:
        super().__init__()
        expanded = channels * expansion
        gain = LRELU_GAIN * num_blocks ** (-1 / (2 * self.LINEAR_LAYERS - 2))
        self.expand = convolution(channels, expanded, 1, gain=gain)
        self.act1 = BiasedActivation(expanded)
        self.grouped = convolution(expanded, expanded, kernel_size, groups=cardinality, gain=gain)
        self.act2 = BiasedActivation(expanded)
        self.compress = convolution(expanded, channels, 1, gain=0.0)

    def forward(self, x: Tensor) -> Tensor:
        y = conv(self.expand, x)
        y = conv(self.grouped, self.act1(y))
        y = conv(self.compress, self.act2(y))
        return x + y


def interpolation_taps(resampling_filter: Sequence[int]) -> Tensor:
    """The separable 2x resampling filter: ``resampling_filter`` convolved with [1, 1], summing to 1."""
    taps = [float(v) for v in resampling_filter]
    return fir_filter([a + b for a, b in zip([0.0, *taps], [*taps, 0.0])])


class UpsampleTransition(nn.Module):
    """Generator transition: 1x1 convolution where the width changes, then 2x interpolative upsampling."""

    def __init__(self, in_channels: int, out_channels: int, resampling_filter: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("taps", interpolation_taps(resampling_filter), persistent=False)
        self.linear = convolution(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        if self.linear is not None:
            x = conv(self.linear, x)
        return upsample2d(x, self.taps)


class DownsampleTransition(nn.Module):
    """Discriminator transition: 2x interpolative downsampling, then a 1x1 convolution where the width changes."""

    def __init__(self, in_channels: int, out_channels: int, resampling_filter: Sequence[int]) -> None:
        super().__init__()
        self.register_buffer("taps", interpolation_taps(resampling_filter), persistent=False)
        self.linear = convolution(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: Tensor) -> Tensor:
        x = downsample2d(x, self.taps)
        return conv(self.linear, x) if self.linear is not None else x


class GenerativeBasis(nn.Module):
    """The 4x4 start: a learned basis (C, 4, 4), each channel scaled by a linear map of the input."""

    def __init__(self, in_features: int, channels: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(channels, 4, 4))
        self.linear = msr_init(nn.Linear(in_features, channels, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        coefficients = F.linear(x, self.linear.weight.to(x.dtype))
        return self.basis.to(x.dtype)[None] * coefficients[:, :, None, None]


class DiscriminativeBasis(nn.Module):
    """The 4x4 end: a depthwise 4x4 convolution (one vector per channel), then a linear map."""

    def __init__(self, channels: int, out_features: int) -> None:
        super().__init__()
        self.basis = msr_init(nn.Conv2d(channels, channels, 4, groups=channels, bias=False))
        self.linear = msr_init(nn.Linear(channels, out_features, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape[2:] == (4, 4), f"the discriminative basis takes 4x4 features, got {tuple(x.shape)}"
        features = F.conv2d(x, self.basis.weight.to(x.dtype), groups=self.basis.groups).flatten(1)
        return F.linear(features, self.linear.weight.to(x.dtype))


class Stage(nn.Module):
    """Layers at one resolution in one dtype (float32, or bfloat16 for the high-resolution stages)."""

    def __init__(self, layers: list[nn.Module], dtype: torch.dtype) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        x = x.to(self.dtype)
        for layer in self.layers:
            x = layer(x)
        return x


def stage_dtypes(config: R3GANNetworkConfig) -> list[torch.dtype]:
    """Per stage from 4x4 up: bfloat16 for the ``bf16_stages`` highest resolutions."""
    num = len(config.widths)
    return [torch.bfloat16 if index >= num - config.bf16_stages else torch.float32 for index in range(num)]


# --- networks --------------------------------------------------------------------------------------


class R3GANGenerator(nn.Module):
    """z (N, z_dim) and, when conditional, one-hot c (N, c_dim) -> images (N, 3, R, R), float32."""

    def __init__(self, config: R3GANGeneratorConfig = R3GANGeneratorConfig(), channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.z_dim, self.c_dim, self.resolution = config.z_dim, config.c_dim, config.resolution
        widths, dtypes, total = config.widths, stage_dtypes(config), config.num_blocks

        def blocks(index: int) -> list[nn.Module]:
            return [ResidualBlock(widths[index], config.cardinalities[index], config.expansion, config.kernel_size, total) for _ in range(config.blocks[index])]

        self.embedding = msr_init(nn.Linear(config.c_dim, config.embedding_dim, bias=False)) if config.c_dim else None
        in_features = config.z_dim + (config.embedding_dim if config.c_dim else 0)
        stages = [Stage([GenerativeBasis(in_features, widths[0]), *blocks(0)], dtypes[0])]
        for index in range(1, len(widths)):
            transition = UpsampleTransition(widths[index - 1], widths[index], config.resampling_filter)
            stages.append(Stage([transition, *blocks(index)], dtypes[index]))
        self.stages = nn.ModuleList(stages)
        self.to_rgb = convolution(widths[-1], channels, 1)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        assert z.ndim == 2 and z.shape[1] == self.z_dim, f"z of shape (N, {self.z_dim}) expected, got {tuple(z.shape)}"
        if self.embedding is not None:
            if c is None:
                raise UserError(f"this generator is class-conditional ({self.c_dim} classes): give class labels")
            z = torch.cat([z, F.linear(c.to(z.dtype), self.embedding.weight)], dim=1)
        x = z
        for stage in self.stages:
            x = stage(x)
        images = conv(self.to_rgb, x).float()
        assert images.shape[2] == self.resolution, f"{self.resolution} px expected, got {tuple(images.shape)}"
        return images


class R3GANDiscriminator(nn.Module):
    """images (N, 3, R, R) and, when conditional, one-hot c -> logits (N,), float32."""

    def __init__(self, config: R3GANDiscriminatorConfig = R3GANDiscriminatorConfig(), channels: int = 3) -> None:
        super().__init__()
        self.config = config
        self.c_dim, self.resolution = config.c_dim, config.resolution
        widths, dtypes, total = config.widths, stage_dtypes(config), config.num_blocks
        self.from_rgb = convolution(channels, widths[-1], 1)
        stages = []
        for index in reversed(range(len(widths))):  # from the image's resolution down to 4x4
            blocks = [ResidualBlock(widths[index], config.cardinalities[index], config.expansion, config.kernel_size, total) for _ in range(config.blocks[index])]
            if index > 0:
                transition: nn.Module = DownsampleTransition(widths[index], widths[index - 1], config.resampling_filter)
            else:
                transition = DiscriminativeBasis(widths[0], config.embedding_dim if config.c_dim else 1)
            stages.append(Stage([*blocks, transition], dtypes[index]))
        self.stages = nn.ModuleList(stages)
        # 1 / sqrt(embedding_dim): the projection <features, embedding> starts at the scale of one feature
        self.embedding = msr_init(nn.Linear(config.c_dim, config.embedding_dim, bias=False), 1 / math.sqrt(config.embedding_dim)) if config.c_dim else None

    def forward(self, images: Tensor, c: Tensor | None = None) -> Tensor:
        assert images.shape[2:] == (self.resolution, self.resolution), f"{self.resolution} px images expected, got {tuple(images.shape)}"
        x = conv(self.from_rgb, images.to(self.stages[0].dtype))
        for stage in self.stages:
            x = stage(x)
        if self.embedding is not None:
            if c is None:
                raise UserError(f"this discriminator is class-conditional ({self.c_dim} classes): give class labels")
            x = (x * F.linear(c.to(x.dtype), self.embedding.weight.to(x.dtype))).sum(dim=1, keepdim=True)
        return x.float().view(x.shape[0])
