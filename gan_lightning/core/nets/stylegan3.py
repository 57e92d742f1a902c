"""StyleGAN3 generator (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), configs T
(translation equivariant) and R (also rotation equivariant), in plain PyTorch.

Generator = MappingNetwork (StyleGAN2's, 2 layers) + SynthesisNetwork:

- ``SynthesisInput`` (sec. 3.2): Fourier features of a continuous signal with frequencies in a disk
  of radius f_c,0, sampled on the first layer's grid; the first w predicts a rotation and a
  translation of that signal, and the ``transform`` buffer adds a user-given one (equivariance
  measurements, videos).
- ``SynthesisLayer`` (sec. 3.2, fig. 4): modulated convolution, then the filtered non-linearity
  ``filtered_lrelu``: up-sample by m with a low-pass filter, bias + leaky ReLU + gain + clamp at the
  higher rate, down-sample back with a second low-pass filter. Each layer normalises its input by
  the running average of its squared magnitude (``magnitude_ema``).
- The layers' cutoffs f_c, stopbands f_t, sampling rates s and transition half-widths f_h follow the
  geometric schedule of appendix F (``layer_specs``); the filters are designed from them: windowed
  sinc (Kaiser window) low-pass filters, separable, or radially symmetric jinc filters for R's
  down-sampling (``lowpass_filter``, ``radial_lowpass_filter``).

The discriminator is StyleGAN2's (``stylegan2.Discriminator``). Images equal NVlabs' stylegan3 code
for converted networks (benchmarks/compare_nvlabs3.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.layers import FullyConnectedLayer, NoiseMode, check_noise_mode, upfirdn2d
from gan_lightning.core.nets.settings import StyleGAN3Config, as_config
from gan_lightning.core.nets.stylegan2 import MappingNetwork, block_dtype

MIN_RESOLUTION = 16
MAX_RESOLUTION = 1024


def check_resolution(resolution: int) -> int:
    if not (isinstance(resolution, int) and MIN_RESOLUTION <= resolution <= MAX_RESOLUTION and resolution & (resolution - 1) == 0):
        raise UserError(f"StyleGAN3 resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {resolution!r}")
    return resolution


# --- filter design ---------------------------------------------------------------------------------


def kaiser_beta(numtaps: int, width: float, fs: float) -> float:
    """Kaiser's window parameter for a filter of ``numtaps`` taps and transition band ``width`` (Hz)
    at sampling rate ``fs``: first the attenuation his formula reaches, then beta for it."""
    attenuation = 2.285 * (numtaps - 1) * math.pi * (width / (fs / 2)) + 7.95
    if attenuation > 50:
        return 0.1102 * (attenuation - 8.7)
    if attenuation > 21:
        return 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    return 0.0


def _kaiser_window(numtaps: int, beta: float) -> Tensor:
    return torch.kaiser_window(numtaps, periodic=False, beta=beta, dtype=torch.float64)


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float) -> Tensor | None:
    """Separable low-pass filter (1-D taps, used as their outer product): the ideal filter's sinc
    response, Kaiser-windowed, normalised to unit DC gain. None for a single tap (no filtering)."""
    if numtaps == 1:
        return None
    t = torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2
    f = 2 * cutoff / fs * torch.sinc(2 * cutoff / fs * t) * _kaiser_window(numtaps, kaiser_beta(numtaps, width, fs))
    return (f / f.sum()).float()


def radial_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float) -> Tensor:
    """Radially symmetric 2-D low-pass filter (config R): the ideal disk's response
    jinc = J1(2 pi f_c r) / (pi r), windowed by the outer product of the same Kaiser window."""
    t = (torch.arange(numtaps, dtype=torch.float64) - (numtaps - 1) / 2) / fs
    r = torch.hypot(t[None, :], t[:, None])
    # at r = 0 the response tends to f_c (J1(x) ~ x / 2)
    f = torch.where(r > 0, torch.special.bessel_j1(2 * math.pi * cutoff * r) / (math.pi * r.clamp_min(1e-30)), torch.full_like(r, cutoff))
    window = _kaiser_window(numtaps, kaiser_beta(numtaps, width, fs))
    f = f * torch.outer(window, window)
    return (f / f.sum()).float()


# --- the layers' frequency schedule ----------------------------------------------------------------


@dataclass(frozen=True)
class LayerSpec:
    """One layer's signal: cutoff f_c, sampling rate s, transition half-width f_h, side in pixels, channels."""

    cutoff: float
    sampling_rate: int
    half_width: float
    size: int
    channels: int


def layer_specs(resolution: int, channels: int, config: StyleGAN3Config) -> list[LayerSpec]:
    """The Fourier input's spec and those of the N layers after it (appendix F): f_c and f_t grow
    geometrically from (first_cutoff, first_stopband) to (resolution / 2, resolution / 2 *
    last_stopband_rel) over the first N - num_critical layers and stay there; s is the smallest
    power of two above 2 f_t (at most the resolution); f_h = max(f_t, s / 2) - f_c; each layer has a
    margin around the image but the last two; channels fall as 1 / f_c; the last is the image."""
    n = config.num_layers
    last_cutoff = resolution / 2
    last_stopband = last_cutoff * config.last_stopband_rel
    specs = []
    for i in range(n + 1):
        e = min(i / (n - config.num_critical), 1.0)
        cutoff = config.first_cutoff * (last_cutoff / config.first_cutoff) ** e
        stopband = config.first_stopband * (last_stopband / config.first_stopband) ** e
        sampling_rate = int(2 ** math.ceil(math.log2(min(stopband * 2, resolution))))
        half_width = max(stopband, sampling_rate / 2) - cutoff
        size = resolution if i >= n - 1 else sampling_rate + 2 * config.margin_size
        width = channels if i == n else int(round(min(config.channel_base / 2 / cutoff, config.channel_max)))
        specs.append(LayerSpec(cutoff, sampling_rate, half_width, size, width))
    return specs


# --- Fourier input ---------------------------------------------------------------------------------


class SynthesisInput(nn.Module):
    """Fourier features sin(2 pi (<f_c, x> + phi_c)) on a ``size`` grid of ``sampling_rate`` samples
    per unit, frequencies in a disk of radius ``bandwidth``, mixed by a learned channels x channels
    matrix. The first w predicts (r_c, r_s, t_x, t_y): a rotation and translation of the input."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, size, float(sampling_rate), float(bandwidth)
        # frequencies uniform in the disk |f| <= bandwidth, phases uniform in one period
        radius, angle = bandwidth * torch.rand(channels).sqrt(), 2 * math.pi * torch.rand(channels)
        self.register_buffer("freqs", torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1))
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.register_buffer("transform", torch.eye(3))  # a user transform of the output (x, y, 1)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.affine = FullyConnectedLayer(w_dim, 4, bias_init=0.0)
        with torch.no_grad():  # identity at the start: no rotation, no translation
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def learned_transform(self, w: Tensor) -> Tensor:
        """(N, 3, 3): rotate, then translate the output, then ``transform``, all as inverse maps of
        the sample coordinates."""
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)  # (r_c, r_s) on the unit circle: a pure rotation
        n = w.shape[0]
        rotation = torch.eye(3, device=w.device, dtype=self.transform.dtype).repeat(n, 1, 1)
        rotation[:, 0, 0], rotation[:, 0, 1], rotation[:, 1, 0], rotation[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        translation = torch.eye(3, device=w.device, dtype=self.transform.dtype).repeat(n, 1, 1)
        translation[:, 0, 2], translation[:, 1, 2] = -t[:, 2], -t[:, 3]
        return rotation @ translation @ self.transform.unsqueeze(0)

    def forward(self, w: Tensor) -> Tensor:
        transforms = self.learned_transform(w)
        # a transform of the signal is a transform of its frequencies and phases
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transforms[:, :2, :2]
        # frequencies a user transform pushes past the band fade out before they alias
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        # sample centres, one per 1 / sampling_rate, symmetric about 0
        coords = (torch.arange(self.size, device=w.device, dtype=self.freqs.dtype) + 0.5 - self.size / 2) / self.sampling_rate
        grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)  # (H, W, [x, y])
        x = grid.reshape(1, -1, 2) @ freqs.transpose(1, 2)  # (N, H*W, C)
        x = torch.sin((x + phases.unsqueeze(1)) * (2 * math.pi)) * amplitudes.unsqueeze(1)
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        x = x.transpose(1, 2).reshape(w.shape[0], self.channels, self.size, self.size)
        return x

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}, sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"


# --- filtered non-linearity ------------------------------------------------------------------------


def filtered_lrelu(
    x: Tensor,
    up_filter: Tensor | None,
    down_filter: Tensor | None,
    bias: Tensor,
    up: int,
    down: int,
    padding: list[int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> Tensor:
    """The alias-free non-linearity (sec. 3.2): bias, up-sample by ``up`` with ``up_filter`` (zero
    insertion, gain up^2 keeps the DC level), leaky ReLU x gain clamped to +-clamp at the higher
    rate, low-pass with ``down_filter`` and keep every ``down``-th sample. ``padding`` (x0, x1, y0, y1)
    is in up-sampled pixels (negative crops). A filter is None only where its factor is 1.
    Reference form: plain tensor ops, differentiable twice."""
    assert (up_filter is not None or up == 1) and (down_filter is not None or down == 1)
    x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    x = F.pad(x, padding) if up_filter is None else upfirdn2d(x, up_filter, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x if down_filter is None else upfirdn2d(x, down_filter, down=down)


def modulated_conv(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool, input_gain: Tensor, fused: bool = True) -> Tensor:
    """StyleGAN2's modulated convolution (w' = s_i w_ijk, demodulated to unit variance when asked),
    times the layer's input gain; padded by k - 1 so the output keeps the margin's full support.
    fused=True: one grouped convolution with per-sample weights; fused=False: the activations are
    scaled before and after one shared-weight convolution (same result; its group count does not
    depend on the batch, which exported graphs need)."""
    n, in_channels = styles.shape
    out_channels, _, kh, kw = weight.shape
    if demodulate:
        # scale-free under demodulation; keeps fp16 products in range
        weight = weight * weight.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_channels, 1, 1)
    dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt() if demodulate else None  # (N, out)
    if not fused:
        x = x * (styles * input_gain).to(x.dtype).reshape(n, in_channels, 1, 1)
        x = F.conv2d(x, weight.to(x.dtype), padding=kh - 1)
        return x if dcoefs is None else x * dcoefs.to(x.dtype).reshape(n, out_channels, 1, 1)
    if dcoefs is not None:
        w = w * dcoefs.reshape(n, out_channels, 1, 1, 1)
    w = w * input_gain
    x = x.reshape(1, n * in_channels, *x.shape[2:])
    x = F.conv2d(x, w.reshape(n * out_channels, in_channels, kh, kw).to(x.dtype), padding=kh - 1, groups=n)
    return x.reshape(n, out_channels, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """One alias-free layer: input magnitude normalisation, modulated convolution, filtered leaky
    ReLU from the ``input`` spec's signal to the ``output`` spec's. The last layer (``is_torgb``) is a
    1x1 modulated convolution without demodulation, bias and clamp only."""

    def __init__(
        self,
        w_dim: int,
        input: LayerSpec,
        output: LayerSpec,
        *,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        config: StyleGAN3Config,
    ) -> None:
        super().__init__()
        self.is_torgb, self.use_fp16 = is_torgb, use_fp16
        self.in_channels, self.out_channels = input.channels, output.channels
        self.in_size, self.out_size = input.size, output.size
        self.conv_kernel = 1 if is_torgb else config.conv_kernel
        self.conv_clamp = config.conv_clamp
        self.magnitude_ema_beta = config.magnitude_ema_beta
        self.affine = FullyConnectedLayer(w_dim, self.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(self.out_channels, self.in_channels, self.conv_kernel, self.conv_kernel))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # The non-linearity runs at lrelu_upsampling x the higher of the two rates (the toRGB layer is linear).
        rate = max(input.sampling_rate, output.sampling_rate) * (1 if is_torgb else config.lrelu_upsampling)
        self.up, self.down = rate // input.sampling_rate, rate // output.sampling_rate
        if self.up * input.sampling_rate != rate or self.down * output.sampling_rate != rate:
            raise UserError(f"StyleGAN3 layer rates {input.sampling_rate} -> {output.sampling_rate} are not integer factors of {rate}")
        up_taps = config.filter_size * self.up if self.up > 1 and not is_torgb else 1
        down_taps = config.filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.down_radial = config.use_radial_filters and not is_critically_sampled
        # designed from the specs: recomputed, never stored in checkpoints
        up_filter = lowpass_filter(up_taps, input.cutoff, input.half_width * 2, rate)
        if self.down_radial and down_taps > 1:
            down_filter = radial_lowpass_filter(down_taps, output.cutoff, output.half_width * 2, rate)
        else:
            down_filter = lowpass_filter(down_taps, output.cutoff, output.half_width * 2, rate)
        self.register_buffer("up_filter", up_filter, persistent=False)
        self.register_buffer("down_filter", down_filter, persistent=False)

        # Padding so that the down-sampled result has exactly out_size samples, the sample points of
        # input and output centred on each other (the symmetric convention of appendix C.3).
        total = (output.size - 1) * self.down + 1 - (input.size + self.conv_kernel - 1) * self.up + up_taps + down_taps - 2
        low = (total + self.up) // 2
        self.padding = [low, total - low, low, total - low]

    def forward(self, x: Tensor, w: Tensor, update_emas: bool = False, fused_modconv: bool = True) -> Tensor:
        assert x.shape[1:] == (self.in_channels, self.in_size, self.in_size), f"expected (N, {self.in_channels}, {self.in_size}, {self.in_size}), got {tuple(x.shape)}"
        if update_emas:
            with torch.no_grad():
                self.magnitude_ema.copy_(x.detach().float().square().mean().lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles / math.sqrt(self.in_channels * self.conv_kernel**2)
        dtype = block_dtype(self.use_fp16, x.device)
        x = modulated_conv(x.to(dtype), self.weight, styles, demodulate=not self.is_torgb, input_gain=input_gain, fused=fused_modconv)
        x = filtered_lrelu(
            x, self.up_filter, self.down_filter, self.bias, self.up, self.down, self.padding,
            gain=1.0 if self.is_torgb else math.sqrt(2), slope=1.0 if self.is_torgb else 0.2, clamp=self.conv_clamp,
        )  # fmt: skip
        assert x.shape[1:] == (self.out_channels, self.out_size, self.out_size)
        return x

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, {self.in_size} -> {self.out_size} px, up={self.up}, down={self.down}, radial={self.down_radial}"


class SynthesisNetwork(nn.Module):
    """Fourier input, ``num_layers`` alias-free layers and the toRGB layer; one w per layer plus one
    for the input (``num_ws = num_layers + 2``); the output is scaled by ``output_scale``."""

    def __init__(self, w_dim: int, resolution: int, img_channels: int, config: StyleGAN3Config) -> None:
        super().__init__()
        specs = layer_specs(resolution, img_channels, config)
        n = config.num_layers
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.num_ws = n + 2
        self.output_scale = config.output_scale
        self.input = SynthesisInput(w_dim, specs[0].channels, specs[0].size, specs[0].sampling_rate, specs[0].cutoff)
        self.layers = nn.ModuleList(
            SynthesisLayer(
                w_dim, specs[max(i - 1, 0)], specs[i],
                is_torgb=i == n, is_critically_sampled=i >= n - config.num_critical,
                use_fp16=specs[i].sampling_rate * 2**config.num_fp16_res > resolution, config=config,
            )  # fmt: skip
            for i in range(n + 1)
        )

    def forward(self, ws: Tensor, noise_mode: NoiseMode = "const", fused_modconv: bool | None = None, update_emas: bool = False) -> Tensor:
        """``noise_mode`` is accepted for the tools' common call and ignored: StyleGAN3 has no noise
        inputs. ``fused_modconv`` None: fused for inference, unfused (cheaper backward) in training."""
        check_noise_mode(noise_mode)
        fused = not self.training if fused_modconv is None else fused_modconv
        assert ws.shape[1:] == (self.num_ws, self.w_dim), f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}"
        ws = ws.float().unbind(dim=1)
        x = self.input(ws[0])
        for layer, w in zip(self.layers, ws[1:]):
            x = layer(x, w, update_emas=update_emas, fused_modconv=fused)
        return (x * self.output_scale).float()


class Generator(nn.Module):
    """StyleGAN3 generator: ``G(z, c)`` = synthesis(mapping(z, c)); images NCHW, roughly in [-1, 1].

    Args:
        resolution: image side, a power of two from 16 to 1024.
        channels: image channels.
        config: the network settings; None = ``StyleGAN3Config()`` (config T).
    """

    def __init__(self, resolution: int = 256, channels: int = 3, config: StyleGAN3Config | None = None) -> None:
        super().__init__()
        check_resolution(resolution)
        config = StyleGAN3Config() if config is None else as_config(StyleGAN3Config, config)
        self.config, self.resolution, self.channels = config, resolution, channels
        self.z_dim, self.w_dim, self.c_dim = config.z_dim, config.w_dim, config.c_dim
        self.synthesis = SynthesisNetwork(config.w_dim, resolution, channels, config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=config.z_dim, w_dim=config.w_dim, num_ws=self.num_ws, c_dim=config.c_dim,
            num_layers=config.mapping_layers, lr_multiplier=config.mapping_lr_multiplier, w_avg_beta=config.w_avg_beta,
        )  # fmt: skip

    def forward(
        self,
        z: Tensor,
        c: Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "const",
        fused_modconv: bool | None = None,
        update_emas: bool = False,
    ) -> Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_w_avg=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv, update_emas=update_emas)
