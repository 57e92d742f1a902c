"""StyleGAN2 building blocks in plain PyTorch (no custom CUDA build).

Equalized learning rate (Karras et al. 2018): weights are stored as N(0, 1) / lr_multiplier and scaled
by ``lr_multiplier / sqrt(fan_in)`` at run time, so Adam sees every layer at the same scale.
FIR resampling (``upfirdn2d``) follows "upsample by zero insertion, pad, filter, keep every
``down``-th pixel"; it runs as depthwise (transposed) convolutions, so no custom kernel is needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Iterator, Literal, Sequence, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.errors import UserError

Activation = Literal["linear", "lrelu"]
# Noise inputs: a fresh draw per call, the stored draw (reproducible images), or no noise.
NoiseMode = Literal["random", "const", "none"]
NOISE_MODES: tuple[str, ...] = get_args(NoiseMode)  # for argparse choices and error messages

LRELU_SLOPE = 0.2
# Gain that keeps the activations' second moment after the nonlinearity (He et al. 2015).
ACTIVATION_GAINS: dict[str, float] = {"linear": 1.0, "lrelu": math.sqrt(2.0)}
DEFAULT_FIR: tuple[int, ...] = (1, 3, 3, 1)


def check_noise_mode(noise_mode: str) -> str:
    if noise_mode not in NOISE_MODES:
        raise UserError(f"unknown noise_mode {noise_mode!r}; allowed: {', '.join(NOISE_MODES)}")
    return noise_mode


# --- bias + activation ---------------------------------------------------------------------------


def bias_act(
    x: Tensor,
    bias: Tensor | None = None,
    activation: Activation = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    dim: int = 1,
) -> Tensor:
    """Add ``bias`` along ``dim``, apply the activation, multiply by its gain, clamp to +-``clamp``."""
    if bias is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + bias.to(x.dtype).reshape(shape)
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation != "linear":
        raise ValueError(f"unknown activation {activation!r}; allowed: linear, lrelu")
    gain = ACTIVATION_GAINS[activation] if gain is None else gain
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


# --- FIR resampling ------------------------------------------------------------------------------


def fir_filter(taps: Sequence[float] = DEFAULT_FIR) -> Tensor:
    """1-D low-pass filter normalised to sum 1; its outer product with itself is the 2-D filter."""
    f = torch.as_tensor(list(taps), dtype=torch.float32)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError(f"FIR taps must be a non-empty 1-D sequence, got {list(taps)!r}")
    return f / f.sum()


def _padding4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding  # type: ignore[return-value]
    raise ValueError(f"padding must be an int, (x0, x1) or (x0, x1, y0, y1), got {padding!r}")


def upfirdn2d(
    x: Tensor,
    f: Tensor,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    gain: float = 1.0,
) -> Tensor:
    """Upsample (zero insertion) -> pad (negative crops) -> FIR filter (true convolution) -> downsample.

    ``x``: (N, C, H, W); ``f``: 1-D separable taps (used as their outer product) or a 2-D filter;
    ``padding``: (x0, x1, y0, y1) in pixels of the upsampled image. Runs as one depthwise
    (transposed) convolution per call: the fast form on CPU and GPU without a custom kernel.
    """
    assert x.ndim == 4, f"expected NCHW, got shape {tuple(x.shape)}"
    px0, px1, py0, py1 = _padding4(padding)
    c = x.shape[1]
    f = f.to(device=x.device, dtype=x.dtype)
    if f.ndim == 1:
        f = torch.outer(f, f)
    fh, fw = f.shape
    if up > 1:
        # A stride-`up` transposed convolution is zero insertion followed by a full convolution;
        # crop (or zero-pad) its output to the requested padding window.
        full = F.conv_transpose2d(x, (f * gain).expand(c, 1, fh, fw), stride=up, groups=c)
        height, width = x.shape[2] * up + py0 + py1 - fh + 1, x.shape[3] * up + px0 + px1 - fw + 1
        top, left = fh - 1 - py0, fw - 1 - px0
        full = F.pad(
            full,
            [max(-left, 0), max(left + width - full.shape[3], 0), max(-top, 0), max(top + height - full.shape[2], 0)],
        )
        top, left = max(top, 0), max(left, 0)
        x = full[:, :, top : top + height, left : left + width]
        return x[:, :, ::down, ::down] if down > 1 else x
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    # conv2d correlates: flip the filter for a true convolution
    return F.conv2d(x, (f.flip([0, 1]) * gain).expand(c, 1, fh, fw), stride=down, groups=c)


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """Resolution x up with the FIR filter; gain up**2 keeps the mean (zero insertion dilutes it)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up**2)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """Resolution / down after low-pass filtering."""
    fw = f.shape[-1]
    p0, p1 = (fw - down + 1) // 2, (fw - down) // 2
    return upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))


# --- Winograd convolution -----------------------------------------------------------------------
# Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional
# Neural Networks"): each 4x4 output tile is A^T [(G g G^T) * (B^T d B)] A for the 6x6 input tile d,
# 36 multiplications per tile and channel pair instead of 144. The 36 products of all tiles are 36
# matrix products (bmm), which MKL runs faster than oneDNN's direct 3x3 convolution on a CPU
# for large images; small images lose to the transforms' cost. Rounding differs from the direct
# convolution (relative error ~1e-5 in fp32, a few times the direct one's), so it is opt-in
# (``winograd_convolutions``), on CPU only: cuDNN picks its own algorithms on a GPU.
WINOGRAD_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
WINOGRAD_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
WINOGRAD_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
WINOGRAD_MIN_SIZE = 32  # below this image side the direct convolution is faster
_winograd_enabled = contextvars.ContextVar("winograd_enabled", default=False)


@contextlib.contextmanager
def winograd_convolutions(enabled: bool = True) -> Iterator[None]:
    """Inside the block, 3x3 stride-1 convolutions (padding 1) of CPU images of side >= 32 (a multiple
    of 4) run as ``winograd_conv3x3``; forward, backward and double backward."""
    token = _winograd_enabled.set(enabled)
    try:
        yield
    finally:
        _winograd_enabled.reset(token)


def _use_winograd(x: Tensor, weight: Tensor, padding: int, groups: int) -> bool:
    h, w = x.shape[2:]
    return (
        _winograd_enabled.get()
        and x.device.type == "cpu"
        and groups == 1
        and padding == 1
        and weight.shape[2:] == (3, 3)
        and min(h, w) >= WINOGRAD_MIN_SIZE
        and h % 4 == 0
        and w % 4 == 0
    )


def winograd_conv3x3(x: Tensor, weight: Tensor) -> Tensor:
    """``F.conv2d(x, weight, padding=1)`` for 3x3 weights and image sides divisible by 4, by F(4x4, 3x3)."""
    n, c, h, w = x.shape
    k = weight.shape[0]
    th, tw = h // 4, w // 4
    bt, g, at = (torch.tensor(m, dtype=x.dtype, device=x.device) for m in (WINOGRAD_BT, WINOGRAD_G, WINOGRAD_AT))
    # Each 2-D transform is one matrix product with a Kronecker product on the flattened tile; the
    # layouts put every product's long axis last, so the only copies are the tile gather and the output.
    tiles = F.pad(x.transpose(0, 1), [1, 1, 1, 1]).unfold(2, 6, 4).unfold(3, 6, 4)  # (c, n, th, tw, 6, 6), overlapping by 2
    v = (torch.kron(bt, bt) @ tiles.permute(4, 5, 0, 1, 2, 3).reshape(36, -1)).reshape(36, c, n * th * tw)
    u = (torch.kron(g, g) @ weight.to(x.dtype).reshape(k * c, 9).t()).reshape(36, k, c)
    m = torch.bmm(u, v)  # (36, k, n * th * tw): the 36 element-wise products of all tiles, summed over c
    y = (torch.kron(at, at) @ m.reshape(36, -1)).reshape(4, 4, k, n, th, tw)
    return y.permute(3, 2, 4, 0, 5, 1).reshape(n, k, h, w)


def conv2d_resample(
    x: Tensor,
    weight: Tensor,
    f: Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> Tensor:
    """Convolution fused with 2x FIR up- or down-sampling (the StyleGAN2 order of operations).

    up: stride-``up`` transposed convolution, then the FIR filter (gain up**2).
    down: FIR filter, then a stride-``down`` convolution (1x1 kernels: filter+subsample, then convolve).
    """
    out_channels, in_per_group, kh, kw = weight.shape
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up and down together are not supported")
    if (up > 1 or down > 1) and f is None:
        raise ValueError("conv2d_resample: resampling needs an FIR filter")
    if up > 1:
        fw = f.shape[-1]
        # conv_transpose2d wants (in, out/groups, kh, kw): swap the channel axes within each group.
        w = weight.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        x = F.conv_transpose2d(x, w, stride=up, groups=groups)
        p0 = padding + (fw + up - 1) // 2 - (kw - 1)
        p1 = padding + (fw - up) // 2 - (kw - up)
        return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=up**2)
    if down > 1:
        fw = f.shape[-1]
        p0, p1 = padding + (fw - down + 1) // 2, padding + (fw - down) // 2
        if kh == 1 and kw == 1:  # filter and subsample first: the 1x1 conv then touches 4x fewer pixels
            x = upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1))
            return F.conv2d(x, weight, groups=groups)
        x = upfirdn2d(x, f, padding=(p0, p1, p0, p1))
        return F.conv2d(x, weight, stride=down, groups=groups)
    if _use_winograd(x, weight, padding, groups):
        return winograd_conv3x3(x, weight)
    return F.conv2d(x, weight, padding=padding, groups=groups)


# --- equalized-lr layers -------------------------------------------------------------------------


class FullyConnectedLayer(nn.Module):
    """Equalized-lr linear layer with an optional activation (lr_multiplier scales weight and bias)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: Activation = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, activation=self.activation)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Equalized-lr convolution with optional 2x FIR up/down-sampling, bias, activation and clamping."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: Activation = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = DEFAULT_FIR,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer("resample_filter", fir_filter(resample_filter), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=ACTIVATION_GAINS[self.activation] * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.weight.shape[-1]}, "
            f"up={self.up}, down={self.down}, activation={self.activation}"
        )


# --- modulated convolution -----------------------------------------------------------------------


def demodulation_coefficients(weight: Tensor, styles: Tensor, eps: float = 1e-8) -> Tensor:
    """1 / sigma_j of StyleGAN2 eq. 3, shape (N, out): sum_{i,k} (s_i w_ijk)^2 = s^2 @ sum_k w^2."""
    return (styles.square() @ weight.square().sum(dim=[2, 3]).t() + eps).rsqrt()


def modulated_conv2d(
    x: Tensor,
    weight: Tensor,
    styles: Tensor,
    demodulate: bool = True,
    up: int = 1,
    padding: int = 0,
    resample_filter: Tensor | None = None,
    fused: bool = True,
) -> Tensor:
    """StyleGAN2 modulated convolution: w'_ijk = s_i w_ijk, demodulated by 1/sqrt(sum_ik w'^2 + eps).

    ``x`` (N, in, H, W), ``weight`` (out, in, k, k) already scaled for equalized lr, ``styles`` (N, in).
    fused=True runs one grouped convolution with per-sample weights; fused=False scales the activations
    before and after a shared-weight convolution (same result, cheaper backward in training).
    """
    n, in_channels, _, _ = x.shape
    out_channels, w_in, kh, kw = weight.shape
    assert w_in == in_channels, f"weight expects {w_in} input channels, x has {in_channels}"
    assert styles.shape == (n, in_channels), f"styles shape {tuple(styles.shape)} != {(n, in_channels)}"

    if x.dtype == torch.float16 and demodulate:
        # fp16 would overflow on large weights or styles; demodulation cancels these scales anyway.
        weight = weight * (1.0 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    dcoefs = demodulation_coefficients(weight, styles) if demodulate else None

    if fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, in_channels, 1, 1)
        if dcoefs is not None:
            w = w * dcoefs.reshape(n, out_channels, 1, 1, 1)
        x = x.reshape(1, n * in_channels, *x.shape[2:])
        w = w.reshape(n * out_channels, in_channels, kh, kw).to(x.dtype)
        x = conv2d_resample(x, w, resample_filter, up=up, padding=padding, groups=n)
        return x.reshape(n, out_channels, *x.shape[2:])

    x = x * styles.to(x.dtype).reshape(n, in_channels, 1, 1)
    x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
    if dcoefs is not None:
        x = x * dcoefs.to(x.dtype).reshape(n, out_channels, 1, 1)
    return x


# --- noise and minibatch statistics --------------------------------------------------------------


class NoiseInjection(nn.Module):
    """Per-pixel Gaussian noise with a learned strength (StyleGAN "B"); ``noise_const`` is the stored draw."""

    def __init__(self, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: Tensor, noise_mode: NoiseMode = "random") -> Tensor:
        if noise_mode == "none":
            return x
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device, dtype=x.dtype)
        elif noise_mode == "const":
            noise = self.noise_const.to(x.dtype)
        else:
            check_noise_mode(noise_mode)
        return x + noise * self.strength.to(x.dtype)


class MinibatchStdDev(nn.Module):
    """Appends the mean standard deviation over groups of samples as extra feature maps (Karras et al. 2018).

    Sample n belongs to group n mod (N / G); the batch size must be divisible by the group size G.
    """

    def __init__(self, group_size: int, num_channels: int) -> None:
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise UserError(f"minibatch std needs group_size >= 1 and num_channels >= 1, got {group_size} and {num_channels}")
        self.group_size = group_size
        self.num_channels = num_channels

    def check_batch_size(self, n: int) -> int:
        """The group size used for a batch of ``n`` (the whole batch when smaller than a group)."""
        g = min(self.group_size, n)
        if n % g != 0:
            raise UserError(
                f"minibatch std: batch size {n} is not divisible by the group size {g} (mbstd_group_size); "
                f"allowed: a batch size that is a multiple of {g}, or smaller than it"
            )
        return g

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = self.check_batch_size(n)
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over each group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # (N/G, F): mean std over channels and pixels
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
