"""ResNet encoder–decoder generator of CUT (Park et al. 2020), after Johnson et al. 2016 / CycleGAN.

c7s1-ngf, d(2ngf), d(4ngf), n_blocks x R(4ngf), u(2ngf), u(ngf), c7s1-out, tanh; reflect padding and
instance normalisation without affine parameters throughout. With ``antialias=True`` (CUT's default)
every stride-2 step becomes a stride-1 conv followed by a fixed blur-and-subsample (Zhang 2019),
and every transposed conv becomes a fixed blur upsampling followed by a 3x3 conv.

The encoder is one flat ``nn.Sequential`` because PatchNCE taps it by layer index; the paper's
layers (RGB pixels, the two downsampling convolutions, residual blocks 1 and 5) are
``ResnetGenerator.paper_nce_layers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least, check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import tanh_argument
from gan_lightning.core.nets.cut_blocks import BlurDownsample, BlurUpsample, init_xavier_, instance_norm

# Overall stride of the generator: 2 downsampling stages of factor 2.
GENERATOR_STRIDE = 4


class ResnetBlock(nn.Module):
    """R(c): x + [pad, conv3x3, IN, ReLU, pad, conv3x3, IN](x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3, bias=True),
            instance_norm(channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, kernel_size=3, bias=True),
            instance_norm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        assert x.ndim == 4 and x.shape[1] == self.channels, (tuple(x.shape), self.channels)
        return x + self.conv_block(x)


class UpsampleBlock(nn.Module):
    """u(c): x2 upsampling to ``out_channels`` (blur + conv3x3, or a learned transposed conv), IN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, antialias: bool) -> None:
        super().__init__()
        if antialias:
            self.upsample = nn.Sequential(
                BlurUpsample(in_channels), nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=True)
            )
        else:
            self.upsample = nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size=3, stride=2, padding=1, output_padding=1, bias=True
            )
        self.norm = instance_norm(out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.norm(self.upsample(x)))


class ChannelNoise(nn.Module):
    """``h + s * n``: one fresh standard normal value per pixel, added to every channel with that
    channel's learned strength ``s`` (Karras et al. 2019, StyleGAN's noise inputs with their per-channel
    scaling factors "B"). Any image size, and no stored draw: unlike ``layers.NoiseInjection``,
    StyleGAN2's one strength per layer at a fixed resolution.

    Where the photo is flat the decoder's features are flat too, and a deterministic decoder can only
    fill the area with one colour or a pattern that repeats with its stride; the noise gives it
    something to draw irregular texture from."""

    def __init__(self, channels: int, strength: float) -> None:
        super().__init__()
        self.strength = nn.Parameter(torch.full((1, channels, 1, 1), strength))

    def forward(self, h: Tensor, field: Tensor | None = None) -> Tensor:
        """``field`` (N, 1, H, W): the standard normal values to add, instead of a fresh draw."""
        return h + self.strength * (torch.randn_like(h[:, :1]) if field is None else field)


@dataclass(frozen=True)
class ResnetGeneratorConfig:
    """The size of a ``ResnetGenerator`` (CUT's ngf and n_blocks).

    Args:
        width: channels of its first layer (doubled by each of the two downsampling stages).
        blocks: residual blocks at the lowest resolution (9 in the paper at 256 px).
        residual: the output is the input changed by the network (``tanh(atanh(x) + f(x))``, ``f``'s
            last convolution starting at zero): training starts from the photo itself instead of
            first learning to redraw it (not in the papers; the fast neural preset's choice).
        init_gain: gain of the Xavier-normal initial weights. CUT's 0.02 makes every weight so small
            that Adam's first steps (about lr in size) are large against it: with the instance
            normalisations undoing the scale, a short perceptual-only training then stays noisy
            (the fast neural preset's 1.0, docs/style_transfer.md).
        contrast_gate: with ``residual``, the most a per-pixel gate ``g`` may scale the photo's
            contrast by, down or up: ``tanh(contrast_gate ** tanh(g(x)) * atanh(x) + f(x))``, ``g``
            starting at zero; 1: no gate. ``f`` sees the photo through instance norms, blind to its
            contrast, so alone it can lower a photo's contrast to the style's only by pushing areas
            into tanh's flat ends, where the style loss no longer reaches them. Unbounded (``exp(g)``),
            the gate faded the photo out (docs/style_transfer.md).
        noise: the initial strength of ``ChannelNoise`` before each of the decoder's three stages
            (at a quarter, half and the full resolution); 0: none, the output a function of the photo
            alone. With noise each call draws new values from PyTorch's random generator (seed it
            for the same output twice), or takes them as ``forward``'s ``noise``. Not in CUT or
            Johnson et al.; measured on the fast neural preset (docs/style_transfer.md).
    """

    width: int = 64
    blocks: int = 9
    residual: bool = False
    init_gain: float = 0.02
    contrast_gate: float = 1.0
    noise: float = 0.0


class ResnetGenerator(nn.Module):
    """Image-to-image generator: ``forward(x)`` maps images in [-1, 1] to images in [-1, 1] of the same size.

    Inputs whose sides are not multiples of 4 are reflect-padded and the output cropped back.
    ``encode(x, layers)`` returns the encoder features that PatchNCE compares. With
    ``noise`` > 0, ``forward(x, noise)`` may be given the values its noise inputs add, as a
    standard normal field (N, ``NOISE_STAGES``, H, W) the size of ``x`` (stage k reads channel k
    every 4 / 2 / 1 pixels): a graph exported with that input gives what PyTorch gives.
    """

    NOISE_STAGES = 3  # one ChannelNoise before each of the decoder's stages

    def __init__(
        self,
        *,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        antialias: bool = True,
        init_gain: float = 0.02,
        residual: bool = False,
        contrast_gate: float = 1.0,
        noise: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("ngf", ngf)):
            check_at_least(name, value, 1)
        check_at_least("n_blocks", n_blocks, 0)
        check_positive("generator.init_gain", init_gain)
        if residual and in_channels != out_channels:
            raise UserError(f"generator.residual with {in_channels} input and {out_channels} output channels is invalid; allowed: equal channels")
        check_at_least("generator.contrast_gate", contrast_gate, 1.0)
        check_at_least("generator.noise", noise, 0.0)
        gated = contrast_gate != 1  # the decoder's last convolution gives the gate as one more channel
        if gated and not residual:
            raise UserError(f"generator.contrast_gate {contrast_gate} with generator.residual false is invalid; allowed: 1 (no gate), or a residual generator")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.ngf = ngf
        self.n_blocks = n_blocks
        self.antialias = antialias
        self.residual = residual
        self.contrast_gate = contrast_gate
        self.gated = gated
        self.noise = noise

        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),  # 0: the RGB pixels (padded), PatchNCE's first layer
            nn.Conv2d(in_channels, ngf, kernel_size=7, bias=True),
            instance_norm(ngf),
            nn.ReLU(),  # not in-place anywhere in the encoder: a tapped layer's output must stay intact
        ]
        channels = [in_channels, ngf, ngf, ngf]
        down_convs: list[int] = []
        c = ngf
        for _ in range(2):  # d(2c): the two downsampling stages
            down_convs.append(len(layers))
            if antialias:
                layers += [
                    nn.Conv2d(c, 2 * c, kernel_size=3, padding=1, bias=True),
                    instance_norm(2 * c),
                    nn.ReLU(),
                    BlurDownsample(2 * c),
                ]
                channels += [2 * c] * 4
            else:
                layers += [
                    nn.Conv2d(c, 2 * c, kernel_size=3, stride=2, padding=1, bias=True),
                    instance_norm(2 * c),
                    nn.ReLU(),
                ]
                channels += [2 * c] * 3
            c *= 2
        first_block = len(layers)
        layers += [ResnetBlock(c) for _ in range(n_blocks)]
        channels += [c] * n_blocks

        self.encoder = nn.Sequential(*layers)
        self._layer_channels = tuple(channels)
        # Paper (sec. 3.2 / appendix): RGB pixels, the 2 downsampling convs, residual blocks 1 and 5
        # (block 5 only when there are at least 5 blocks, as in small test-sized generators).
        blocks = [first_block + i for i in (0, 4) if i < n_blocks]
        self.paper_nce_layers: tuple[int, ...] = (0, *down_convs, *blocks)

        def noise_before(channels: int) -> list[nn.Module]:
            return [ChannelNoise(channels, noise)] if noise > 0 else []

        self.decoder = nn.Sequential(
            *noise_before(c),
            UpsampleBlock(c, c // 2, antialias),
            *noise_before(c // 2),
            UpsampleBlock(c // 2, c // 4, antialias),
            *noise_before(c // 4),
            nn.ReflectionPad2d(3),
            nn.Conv2d(c // 4, out_channels + int(gated), kernel_size=7, bias=True),  # + the gate g
            *([] if residual else [nn.Tanh()]),  # residual: tanh after the input is added (forward)
        )
        init_xavier_(self, init_gain)  # convolutions only: the noise strengths keep their start, ``noise``
        if residual:
            nn.init.zeros_(self.decoder[-1].weight)  # starts as the identity: G(x) = x
            nn.init.zeros_(self.decoder[-1].bias)

    def feature_channels(self, layers: Sequence[int]) -> list[int]:
        """Channel count of the encoder output at each index in ``layers`` (to build PatchNCE heads eagerly)."""
        self._check_layers(layers)
        return [self._layer_channels[i] for i in layers]

    def _check_layers(self, layers: Sequence[int]) -> None:
        if len(layers) == 0:
            raise UserError("nce layers=[] is invalid; allowed: at least one encoder layer index")
        for i in layers:
            if not 0 <= i < len(self.encoder):
                raise UserError(f"encoder layer index {i} is invalid; allowed: 0..{len(self.encoder) - 1}")

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"input shape {tuple(x.shape)} is invalid; allowed: (N, {self.in_channels}, H, W)")
        if min(x.shape[2:]) < 4:
            raise ValueError(f"input size {tuple(x.shape[2:])} is invalid; allowed: sides of at least 4 pixels")

    def encode(self, x: Tensor, layers: Sequence[int]) -> list[Tensor]:
        """Encoder outputs at the given layer indices (in the given order); stops after the deepest one."""
        self._check_input(x)
        self._check_layers(layers)
        wanted = set(layers)
        last = max(layers)
        found: dict[int, Tensor] = {}
        h = x
        for index, layer in enumerate(self.encoder):
            h = layer(h)
            if index in wanted:
                found[index] = h
            if index == last:
                break
        return [found[i] for i in layers]

    def _check_noise(self, x: Tensor, noise: Tensor) -> None:
        if self.noise == 0:
            raise ValueError("noise given to a generator without noise inputs (generator.noise 0); allowed: None")
        expected = (x.shape[0], self.NOISE_STAGES, *x.shape[2:])
        if tuple(noise.shape) != expected:
            raise ValueError(f"noise shape {tuple(noise.shape)} is invalid; allowed: {expected} (N, stages, H, W of the input)")

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        self._check_input(x)
        if noise is not None:
            self._check_noise(x, noise)
        height, width = x.shape[2:]
        pad_h, pad_w = -height % GENERATOR_STRIDE, -width % GENERATOR_STRIDE
        if pad_h or pad_w:
            # Reflect needs pad < side; sides >= 4 make that hold for pads <= 3.
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            noise = None if noise is None else F.pad(noise, (0, pad_w, 0, pad_h), mode="reflect")
        y = self.transform(x, noise)
        assert y.shape[2:] == x.shape[2:] and y.shape[1] == self.out_channels, (tuple(y.shape), tuple(x.shape))
        return y[:, :, :height, :width]

    def transform(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """The generator on an input whose sides are multiples of ``GENERATOR_STRIDE`` (``forward``
        pads to that; an exported graph pads its own way), ``noise`` padded alike."""
        y = self.decode(self.encoder(x), noise)
        if self.residual:
            # The change acts in tanh's argument, so the output stays in (-1, 1).
            photo = tanh_argument(x)
            if self.gated:
                y, gate = y[:, : self.out_channels], y[:, self.out_channels :]
                photo = photo * self.contrast_gate ** torch.tanh(gate)
            y = torch.tanh(photo + y)
        return y

    def decode(self, h: Tensor, noise: Tensor | None = None) -> Tensor:
        """The decoder; its noise inputs draw their own values where ``noise`` is None."""
        stage = 0
        for layer in self.decoder:
            if isinstance(layer, ChannelNoise):
                step = GENERATOR_STRIDE >> stage  # the stages run at a quarter, half and the full size
                h = layer(h, None if noise is None else noise[:, stage : stage + 1, ::step, ::step])
                stage += 1
            else:
                h = layer(h)
        return h
