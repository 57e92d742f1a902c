"""StyleGAN2 networks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
config F by default, written after NVlabs' stylegan2-ada-pytorch ``training/networks.py``.

Generator = MappingNetwork (z -> w, tracked w_avg for truncation) + SynthesisNetwork (learned 4x4
constant, one SynthesisBlock per resolution with modulated convolutions, noise inputs and skip
toRGB outputs). Discriminator = DiscriminatorBlocks (residual, or NVlabs' `orig`) + DiscriminatorEpilogue (minibatch std).
Channel widths are NVlabs' ``min(channel_base // resolution, channel_max)``.

``GeneratorConfig`` / ``DiscriminatorConfig`` hold every network setting and its default, once (NVlabs'
G_kwargs / D_kwargs under our names); the LightningModule, the checkpoint registry and the converters
all pass these. Verified against other code: the parameter counts at 256 px config F equal NVlabs'
and rosinality's, and rosinality generators converted to ours give the same images
(benchmarks/compare_rosinality.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least, check_positive, check_range
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.settings import as_config
from gan_lightning.core.nets.layers import (
    DEFAULT_FIR,
    Conv2dLayer,
    FullyConnectedLayer,
    MinibatchStdDev,
    NoiseInjection,
    NoiseMode,
    bias_act,
    check_noise_mode,
    fir_filter,
    modulated_conv2d,
    upsample2d,
)

MIN_RESOLUTION = 32
MAX_RESOLUTION = 1024
DISCRIMINATOR_ARCHITECTURES = ("resnet", "orig")


# --- settings --------------------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


@dataclass(frozen=True)  # frozen: one instance can safely be the default of every StyleGAN
class SharedConfig:
    """Settings both networks have (NVlabs gives G and D the same values from one preset); each
    network has its own copy, so a run can still set them apart.

    Args:
        c_dim: class-label size, 0 = unconditional (a projection discriminator otherwise).
        channel_base / channel_max: channel widths min(channel_base // res, channel_max); half of
            config F's channel_base gives half the width at high resolutions.
        num_fp16_res: run the N highest resolutions in fp16 on CUDA (on CPU too inside
            ``fp16_layers_on_cpu``), 0 = off.
        conv_clamp: clamp convolution outputs to +-X (NVlabs uses 256 with fp16), None = off.
    """

    c_dim: int = 0
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None

    def _check_shared(self, network: str) -> None:
        check_at_least(f"{network} c_dim", self.c_dim, 0)
        check_at_least(f"{network} channel_base", self.channel_base, 1)
        check_at_least(f"{network} channel_max", self.channel_max, 1)
        check_at_least(f"{network} num_fp16_res", self.num_fp16_res, 0)
        check_positive(f"{network} conv_clamp", self.conv_clamp, optional=True)  # null: no clamping


@dataclass(frozen=True)
class GeneratorConfig(SharedConfig):
    """The generator's settings (NVlabs' G_kwargs with our names): those of ``SharedConfig`` and the
    ones below. The defaults are config F at full precision, as in the StyleGAN2 paper (NVlabs' ADA
    train.py also sets num_fp16_res 4, conv_clamp 256).

    Args:
        z_dim: latent z size.
        w_dim: intermediate latent w size.
        mapping_layers: fully connected layers of the mapping network.
        mapping_lr_multiplier: learning-rate multiplier of the mapping network.
        w_avg_beta: decay of the tracked w_avg (the centre of the truncation trick).
    """

    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995

    def __post_init__(self) -> None:
        self._check_shared("generator")
        check_at_least("generator z_dim", self.z_dim, 0)
        _require(self.z_dim + self.c_dim >= 1, "generator needs z_dim >= 1 or c_dim >= 1, got both 0")
        check_at_least("generator w_dim", self.w_dim, 1)
        check_at_least("generator mapping_layers", self.mapping_layers, 1)
        check_positive("generator mapping_lr_multiplier", self.mapping_lr_multiplier)
        check_range("generator w_avg_beta", self.w_avg_beta, 0, 1)


@dataclass(frozen=True)
class DiscriminatorConfig(SharedConfig):
    """The discriminator's settings (NVlabs' D_kwargs with our names): those of ``SharedConfig`` and
    the ones below.

    Args:
        mbstd_group_size: minibatch standard deviation group size; the per-process batch size must be
            divisible by it (or smaller than it).
        mbstd_num_channels: minibatch standard deviation feature maps, 0 = no minibatch std.
        architecture: NVlabs' name of the block design: ``resnet`` (config F: a 1x1 skip beside the
            two convolutions, the sum scaled by sqrt(1/2)) or ``orig`` (the two convolutions alone,
            as the original StyleGAN; NVlabs' cifar preset). Their ``skip`` is not built.
    """

    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    architecture: str = "resnet"

    def __post_init__(self) -> None:
        self._check_shared("discriminator")
        _require(
            self.architecture in DISCRIMINATOR_ARCHITECTURES,
            f"discriminator architecture must be one of {', '.join(DISCRIMINATOR_ARCHITECTURES)}, got {self.architecture!r}",
        )
        check_at_least("discriminator mbstd_group_size", self.mbstd_group_size, 1)
        check_at_least("discriminator mbstd_num_channels", self.mbstd_num_channels, 0)


def with_classes(num_classes: int, generator: GeneratorConfig, discriminator: DiscriminatorConfig) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """Both configs with ``c_dim = num_classes`` (G embeds the label, D projects on it); with
    num_classes 0 they keep their own c_dim, which must then agree."""
    check_at_least("num_classes", num_classes, 0)
    if num_classes == 0:
        _require(
            generator.c_dim == discriminator.c_dim,
            f"generator c_dim {generator.c_dim} and discriminator c_dim {discriminator.c_dim} differ; both see the same labels",
        )
        return generator, discriminator
    for network, config in (("generator", generator), ("discriminator", discriminator)):
        _require(
            config.c_dim in (0, num_classes),
            f"{network} c_dim {config.c_dim} differs from the data's {num_classes} classes; allowed: 0 (taken from the data) or {num_classes}",
        )
    return dataclasses.replace(generator, c_dim=num_classes), dataclasses.replace(discriminator, c_dim=num_classes)


def check_resolution(resolution: int) -> int:
    if not (
        isinstance(resolution, int)
        and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
        and resolution & (resolution - 1) == 0
    ):
        raise UserError(
            f"StyleGAN2 resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {resolution!r}"
        )
    return resolution


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """NVlabs' channel width: min(channel_base // resolution, channel_max)."""
    return min(channel_base // resolution, channel_max)


def _check_widths(resolution: int, channel_base: int, channel_max: int, network: str) -> None:
    if channels_at(resolution, channel_base, channel_max) < 1:
        raise UserError(
            f"{network} channel_base {channel_base} gives no channels at {resolution} px; allowed: channel_base >= {resolution}"
        )


def normalize_2nd_moment(x: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# CPU float16 kernels are correct but several times slower than float32, so the fp16 blocks run in
# float16 on CUDA only, unless this switch asks for the CUDA arithmetic on CPU (tests, emulation).
_fp16_on_cpu = contextvars.ContextVar("fp16_on_cpu", default=False)


@contextlib.contextmanager
def fp16_layers_on_cpu(enabled: bool = True) -> Iterator[None]:
    """Inside the block, the blocks marked ``use_fp16`` (``num_fp16_res``) compute in float16 on CPU
    as they do on CUDA; forward, backward and double backward."""
    token = _fp16_on_cpu.set(enabled)
    try:
        yield
    finally:
        _fp16_on_cpu.reset(token)


def block_dtype(use_fp16: bool, device: torch.device) -> torch.dtype:
    """float16 for the blocks marked use_fp16 on CUDA (and on CPU inside ``fp16_layers_on_cpu``)."""
    fp16_here = device.type == "cuda" or (device.type == "cpu" and _fp16_on_cpu.get())
    return torch.float16 if use_fp16 and fp16_here else torch.float32


def runs_fp16_layers(network: nn.Module) -> bool:
    """Whether any block of ``network`` computes in float16 now, on the device of its parameters."""
    # any block or layer marked use_fp16 (StyleGAN3's synthesis layers too)
    blocks = [m for m in network.modules() if getattr(m, "use_fp16", False) is True]
    return any(block_dtype(True, next(block.parameters()).device) == torch.float16 for block in blocks)


def _fp16_resolution(resolution: int, num_fp16_res: int) -> int:
    # The num_fp16_res highest resolutions run in fp16 (never the 4x4 block).
    return max(2 ** (int(math.log2(resolution)) + 1 - num_fp16_res), 8)


# --- mapping network -----------------------------------------------------------------------------


class MappingNetwork(nn.Module):
    """z (and optional class c) -> w, broadcast to ``num_ws`` rows; tracks w_avg for the truncation trick."""

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_ws: int | None,
        c_dim: int,
        num_layers: int,
        lr_multiplier: float,
        w_avg_beta: float | None,
    ) -> None:
        super().__init__()
        check_at_least("mapping network num_layers", num_layers, 1)
        if z_dim <= 0 and c_dim <= 0:
            raise UserError(f"mapping network needs z_dim > 0 or c_dim > 0, got z_dim={z_dim}, c_dim={c_dim}")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        self.embed = FullyConnectedLayer(c_dim, embed_features) if c_dim > 0 else None
        features = [max(z_dim, 0) + embed_features] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            FullyConnectedLayer(features[i], features[i + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            for i in range(num_layers)
        )
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: Tensor | None,
        c: Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_w_avg: bool = True,
    ) -> Tensor:
        parts = []
        if self.z_dim > 0:
            assert z is not None and z.ndim == 2 and z.shape[1] == self.z_dim, (
                f"z must have shape (N, {self.z_dim}), got {None if z is None else tuple(z.shape)}"
            )
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"class labels c must have shape (N, {self.c_dim}), got {None if c is None else tuple(c.shape)}")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)

        if self.training and update_w_avg and self.w_avg_beta is not None:
            # w_avg <- beta * w_avg + (1 - beta) * mean(w): the centre the truncation trick pulls towards
            self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        if self.num_ws is None:
            return self._truncate(x, truncation_psi) if truncation_psi != 1.0 else x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1.0:
            if truncation_cutoff is None:
                x = self._truncate(x, truncation_psi)
            else:
                x = torch.cat([self._truncate(x[:, :truncation_cutoff], truncation_psi), x[:, truncation_cutoff:]], dim=1)
        return x

    def _truncate(self, w: Tensor, psi: float) -> Tensor:
        if self.w_avg_beta is None:
            raise UserError("truncation needs a tracked w_avg; this mapping network has w_avg_beta=None")
        # Truncation trick: w' = w_avg + psi * (w - w_avg)
        return self.w_avg.to(w.dtype).lerp(w, psi)


# --- synthesis network ---------------------------------------------------------------------------


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) -> noise -> bias -> leaky ReLU (gain sqrt 2)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        resample_filter: Sequence[float] = DEFAULT_FIR,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.padding = kernel_size // 2
        self.conv_clamp = conv_clamp
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer("resample_filter", fir_filter(resample_filter), persistent=False)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)  # "A": w -> styles s
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.noise = NoiseInjection(resolution) if use_noise else None
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self, x: Tensor, w: Tensor, noise_mode: NoiseMode = "random", fused_modconv: bool = True, gain: float = 1.0
    ) -> Tensor:
        in_resolution = self.resolution // self.up
        assert x.shape[1:] == (self.in_channels, in_resolution, in_resolution), (
            f"SynthesisLayer expects (N, {self.in_channels}, {in_resolution}, {in_resolution}), got {tuple(x.shape)}"
        )
        styles = self.affine(w)
        x = modulated_conv2d(
            x,
            self.weight * self.weight_gain,
            styles,
            demodulate=True,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            fused=fused_modconv,
        )
        if self.noise is not None:
            x = self.noise(x, noise_mode)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, "lrelu", gain=math.sqrt(2.0) * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to image channels, no demodulation, plus bias."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: Tensor, w: Tensor, fused_modconv: bool = True) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [learned const | 2x up conv] -> conv -> toRGB added to upsampled image."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        use_fp16: bool,
        conv_clamp: float | None,
        resample_filter: Sequence[float] = DEFAULT_FIR,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels  # 0 = first block (starts from the learned constant)
        self.out_channels = out_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", fir_filter(resample_filter), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim, resolution, up=2, resample_filter=resample_filter, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self,
        x: Tensor | None,
        img: Tensor | None,
        ws: Tensor,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool | None = None,
    ) -> tuple[Tensor, Tensor]:
        assert ws.shape[1:] == (self.num_conv + self.num_torgb, self.w_dim), (
            f"block {self.resolution}: ws shape {tuple(ws.shape)}"
        )
        dtype = block_dtype(self.use_fp16, ws.device)
        if fused_modconv is None:
            # One grouped conv is fastest for inference; in training the unfused form has the cheaper backward.
            fused_modconv = not self.training and (dtype == torch.float32 or ws.shape[0] == 1)

        if self.conv0 is None:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode=noise_mode, fused_modconv=fused_modconv)
        else:
            half = self.resolution // 2
            assert x is not None and x.shape[1:] == (self.in_channels, half, half), (
                f"block {self.resolution}: x shape {None if x is None else tuple(x.shape)}"
            )
            x = x.to(dtype)
            x = self.conv0(x, ws[:, 0], noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, ws[:, 1], noise_mode=noise_mode, fused_modconv=fused_modconv)

        y = self.torgb(x, ws[:, -1], fused_modconv=fused_modconv).float()
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> image (N, img_channels, resolution, resolution)."""

    def __init__(
        self,
        w_dim: int,
        resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        num_fp16_res: int,
        conv_clamp: float | None,
        resample_filter: Sequence[float] = DEFAULT_FIR,
    ) -> None:
        super().__init__()
        check_resolution(resolution)
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(resolution)) + 1)]
        fp16_resolution = _fp16_resolution(resolution, num_fp16_res)
        self.blocks = nn.ModuleDict()
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                in_channels=channels_at(res // 2, channel_base, channel_max) if res > 4 else 0,
                out_channels=channels_at(res, channel_base, channel_max),
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                use_fp16=num_fp16_res > 0 and res >= fp16_resolution,
                conv_clamp=conv_clamp,
                resample_filter=resample_filter,
            )
            self.blocks[f"{res}x{res}"] = block
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last toRGB; every other toRGB shares its w with the next block's first conv

    def forward(self, ws: Tensor, noise_mode: NoiseMode = "random", fused_modconv: bool | None = None) -> Tensor:
        check_noise_mode(noise_mode)
        assert ws.ndim == 3 and ws.shape[1:] == (self.num_ws, self.w_dim), (
            f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}"
        )
        ws = ws.float()
        x = img = None
        w_idx = 0
        for block in self.blocks.values():
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
            w_idx += block.num_conv
        return img

    def noise_buffers(self) -> list[Tensor]:
        """The per-layer ``noise_const`` buffers in synthesis order (used by conversion and projection)."""
        return [m.noise_const for m in self.modules() if isinstance(m, NoiseInjection)]


class Generator(nn.Module):
    """StyleGAN2 generator: ``G(z, c)`` = synthesis(mapping(z, c)); images NCHW, roughly in [-1, 1].

    Args:
        resolution: image side, a power of two from 32 to 1024.
        channels: image channels.
        config: the network settings; None = ``GeneratorConfig()`` (config F).
    """

    def __init__(self, resolution: int = 256, channels: int = 3, config: GeneratorConfig | None = None) -> None:
        super().__init__()
        check_resolution(resolution)
        config = GeneratorConfig() if config is None else as_config(GeneratorConfig, config)
        _check_widths(resolution, config.channel_base, config.channel_max, "generator")
        self.config = config
        self.resolution = resolution
        self.channels = channels
        self.z_dim = config.z_dim
        self.w_dim = config.w_dim
        self.c_dim = config.c_dim
        self.synthesis = SynthesisNetwork(
            w_dim=config.w_dim,
            resolution=resolution,
            img_channels=channels,
            channel_base=config.channel_base,
            channel_max=config.channel_max,
            num_fp16_res=config.num_fp16_res,
            conv_clamp=config.conv_clamp,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim,
            w_dim=config.w_dim,
            num_ws=self.num_ws,
            c_dim=config.c_dim,
            num_layers=config.mapping_layers,
            lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.w_avg_beta,
        )

    def forward(
        self,
        z: Tensor,
        c: Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "random",
        fused_modconv: bool | None = None,
    ) -> Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)


# --- discriminator -------------------------------------------------------------------------------


class DiscriminatorBlock(nn.Module):
    """(fromRGB) -> conv 3x3 -> conv 3x3 with 2x down; ``resnet``: plus a 1x1 down skip, sum scaled by sqrt(1/2)."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        use_fp16: bool,
        conv_clamp: float | None,
        resample_filter: Sequence[float] = DEFAULT_FIR,
        architecture: str = "resnet",
    ) -> None:
        super().__init__()
        self.architecture = architecture
        self.in_channels = in_channels  # 0 = first block (reads the image)
        self.tmp_channels = tmp_channels
        self.resolution = resolution
        self.img_channels = img_channels
        self.use_fp16 = use_fp16
        self.fromrgb = (
            Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp) if in_channels == 0 else None
        )
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, 3, activation="lrelu", down=2, resample_filter=resample_filter, conv_clamp=conv_clamp
        )
        self.skip = (
            Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)
            if architecture == "resnet"
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        dtype = block_dtype(self.use_fp16, x.device)
        expected = self.img_channels if self.fromrgb is not None else self.tmp_channels
        assert x.shape[1:] == (expected, self.resolution, self.resolution), (
            f"DiscriminatorBlock {self.resolution}: expects (N, {expected}, {self.resolution}, {self.resolution}), got {tuple(x.shape)}"
        )
        x = x.to(dtype)
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        if self.skip is None:  # orig
            return self.conv1(self.conv0(x))
        gain = math.sqrt(0.5)  # keeps the variance of skip + residual
        y = self.skip(x, gain=gain)
        x = self.conv1(self.conv0(x), gain=gain)
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: minibatch std -> conv 3x3 -> fully connected -> output (projected on cmap if conditional)."""

    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        mbstd_group_size: int,
        mbstd_num_channels: int,
        conv_clamp: float | None,
        resolution: int = 4,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.cmap_dim = cmap_dim
        self.resolution = resolution
        self.mbstd = MinibatchStdDev(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, cmap_dim if cmap_dim > 0 else 1)

    def forward(self, x: Tensor, cmap: Tensor | None = None) -> Tensor:
        assert x.shape[1:] == (self.in_channels, self.resolution, self.resolution), (
            f"DiscriminatorEpilogue expects (N, {self.in_channels}, {self.resolution}, {self.resolution}), got {tuple(x.shape)}"
        )
        x = x.float()
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            # Projection discriminator (Miyato & Koyama 2018): <D features, embedded label> / sqrt(dim)
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


class Discriminator(nn.Module):
    """StyleGAN2 discriminator (residual, or NVlabs' ``orig`` blocks): image (N, C, R, R) (and labels c) -> logits (N, 1).

    Args:
        resolution: image side, a power of two from 32 to 1024.
        channels: image channels.
        config: the network settings; None = ``DiscriminatorConfig()`` (config F).
    """

    def __init__(self, resolution: int = 256, channels: int = 3, config: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        check_resolution(resolution)
        config = DiscriminatorConfig() if config is None else as_config(DiscriminatorConfig, config)
        _check_widths(resolution, config.channel_base, config.channel_max, "discriminator")
        self.config = config
        self.resolution = resolution
        self.channels = channels
        self.c_dim = config.c_dim

        def width(res: int) -> int:
            return channels_at(res, config.channel_base, config.channel_max)

        fp16_resolution = _fp16_resolution(resolution, config.num_fp16_res)
        self.blocks = nn.ModuleDict()
        for res in [2**i for i in range(int(math.log2(resolution)), 2, -1)]:
            self.blocks[f"{res}x{res}"] = DiscriminatorBlock(
                in_channels=0 if res == resolution else width(res),
                tmp_channels=width(res),
                out_channels=width(res // 2),
                resolution=res,
                img_channels=channels,
                use_fp16=config.num_fp16_res > 0 and res >= fp16_resolution,
                conv_clamp=config.conv_clamp,
                architecture=config.architecture,
            )
        cmap_dim = width(4) if config.c_dim > 0 else 0
        # Labels are embedded by a mapping network of NVlabs' MappingNetwork defaults, which are our
        # generator's default depth and lr multiplier.
        self.mapping = (
            MappingNetwork(
                z_dim=0,
                w_dim=cmap_dim,
                num_ws=None,
                c_dim=config.c_dim,
                num_layers=GeneratorConfig.mapping_layers,
                lr_multiplier=GeneratorConfig.mapping_lr_multiplier,
                w_avg_beta=None,
            )
            if config.c_dim > 0
            else None
        )
        self.epilogue = DiscriminatorEpilogue(
            width(4),
            cmap_dim=cmap_dim,
            mbstd_group_size=config.mbstd_group_size,
            mbstd_num_channels=config.mbstd_num_channels,
            conv_clamp=config.conv_clamp,
        )

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        assert img.ndim == 4 and img.shape[1:] == (self.channels, self.resolution, self.resolution), (
            f"Discriminator expects (N, {self.channels}, {self.resolution}, {self.resolution}), got {tuple(img.shape)}"
        )
        x = img
        for block in self.blocks.values():
            x = block(x)
        cmap = self.mapping(None, c) if self.mapping is not None else None
        return self.epilogue(x, cmap)
