"""Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with Limited Data").

Every image the discriminator sees (real or generated) passes through the same random pipeline: the
"bgc" set of the ADA paper (pixel blitting, general geometric and colour transforms), each transform
applied to an image with probability p. The algorithm follows NVlabs' stylegan2-ada-pytorch
``training/augment.py`` AugmentPipe step for step, and ``benchmarks/compare_nvlabs_augment.py`` checks
that, fed the same random draws, both give the same images (benchmarks/results/compare_nvlabs_augment.json):

1. Draw the parameters (``AugmentParams``) in the order NVlabs draws them, each value then its gate,
   so one torch seed gives both pipelines the same augmentations.
2. Geometric: compose x-flip, 90-degree rotation, integer translation, isotropic scaling, rotation,
   anisotropic scaling, rotation and fractional translation into one matrix per image; reflection-pad
   the batch by the margin the transformed corners need, upsample 2x with the orthogonal ``sym6``
   wavelet low-pass filter, sample bilinearly, low-pass and downsample 2x with the same filter. The
   wavelet filter keeps the resampling from adding or removing detail, so the generator cannot learn
   the augmentation (the paper's "non-leaking" condition). Each image is padded and upsampled only
   in the window its samples read, with the whole-batch computation's values (``apply_geometric``).
3. Colour: brightness, contrast, luma flip, hue rotation and saturation, composed in this order into
   one affine colour map per image (luma flip only for 1-channel images: the mean of the RGB map).

Everything is differentiable with respect to the images, so the generator's loss goes through it.
p is a buffer: saved in checkpoints and restored on resume. NVlabs' optional image-space filtering,
additive noise and cutout ("bgcfnc") are not built.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.checks import check_range
from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import host_scalar

# Transform strengths: NVlabs AugmentPipe's defaults.
INTEGER_TRANSLATION_MAX = 0.125  # fraction of the image side
SCALE_STD = 0.2  # log2 units
ROTATE_MAX = 1.0  # fraction of pi
ANISO_STD = 0.2  # log2 units
FRACTIONAL_TRANSLATION_STD = 0.125  # fraction of the image side
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # log2 units
HUE_MAX = 1.0  # fraction of pi
SATURATION_STD = 1.0  # log2 units

# Daubechies' least-asymmetric orthogonal wavelet with 6 vanishing moments, low-pass decomposition
# taps as PyWavelets tabulates them (pywt.Wavelet("sym6").dec_lo); tests check orthonormality and
# the vanishing moments.
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)
# Border kept around the image while resampling, in input pixels per side: a quarter of the filter
# length (the filter's reach at 2x, halved).
FILTER_MARGIN = len(SYM6) // 4


@dataclass
class AugmentParams:
    """One value per image (shape (N,), translations (N, 2)) for every transform; identity values
    (see ``identity``) leave an image as it is. Geometry is given as the sampling does it: output
    pixel q (pixel units, origin at the image centre, y down) reads input pixel G_inv q, with G_inv
    the product, in field order, of: mirror x if ``xflip`` is 1; rotation by ``rotate90`` quarter
    turns; shift by -round(``xint`` * size); scaling by 1 / ``scale``; rotation by ``rotate_pre``;
    scaling x by 1 / ``aniso`` and y by ``aniso``; rotation by ``rotate_post``; shift by
    -``xfrac`` * size. Colour: x -> saturation . hue . lumaflip . contrast . (x + brightness)."""

    xflip: Tensor  # 0 or 1
    rotate90: Tensor  # 0, 1, 2 or 3
    xint: Tensor  # (N, 2): x, y as a fraction of width, height (rounded to whole pixels)
    scale: Tensor
    rotate_pre: Tensor  # radians
    aniso: Tensor
    rotate_post: Tensor  # radians
    xfrac: Tensor  # (N, 2): x, y as a fraction of width, height
    brightness: Tensor
    contrast: Tensor
    lumaflip: Tensor  # 0 or 1: Householder reflection through the plane orthogonal to the luma axis
    hue: Tensor  # radians about the luma axis
    saturation: Tensor

    @classmethod
    def identity(cls, n: int, device: torch.device | str = "cpu") -> AugmentParams:
        zeros, ones = torch.zeros(n, device=device), torch.ones(n, device=device)
        return cls(
            xflip=zeros, rotate90=zeros, xint=torch.zeros(n, 2, device=device), scale=ones, rotate_pre=zeros,
            aniso=ones, rotate_post=zeros, xfrac=torch.zeros(n, 2, device=device), brightness=zeros,
            contrast=ones, lumaflip=zeros, hue=zeros, saturation=ones,
        )  # fmt: skip

    def replace(self, **fields: Tensor) -> AugmentParams:
        return dataclasses.replace(self, **fields)


def sample_params(
    n: int, p: Tensor | float, channels: int, geometric: bool = True, color: bool = True, device: torch.device | str = "cpu"
) -> AugmentParams:
    """Random parameters for ``n`` images, each transform kept with probability p (else identity).

    Draws from torch's global generator in NVlabs' order (per transform its values, then its gate),
    so the same seed gives the same augmentations as their AugmentPipe. The two arbitrary rotations
    are each kept with probability 1 - sqrt(1 - p), so that at least one happens with probability p.
    Hue and saturation are drawn only for colour images (as NVlabs does).
    """
    p = torch.as_tensor(p, dtype=torch.float32, device=device)
    params = AugmentParams.identity(n, device)

    def gated(value: Tensor, identity: float, probability: Tensor) -> Tensor:
        keep = torch.rand(value.shape[0], *([1] * (value.ndim - 1)), device=device) < probability
        return torch.where(keep, value, torch.full_like(value, identity))

    def uniform(*shape: int) -> Tensor:  # in [-1, 1)
        return torch.rand(*shape, device=device) * 2 - 1

    if geometric:
        params.xflip = gated(torch.floor(torch.rand(n, device=device) * 2), 0.0, p)
        params.rotate90 = gated(torch.floor(torch.rand(n, device=device) * 4), 0.0, p)
        params.xint = gated(uniform(n, 2) * INTEGER_TRANSLATION_MAX, 0.0, p)
        params.scale = gated(torch.exp2(torch.randn(n, device=device) * SCALE_STD), 1.0, p)
        p_rotate = 1 - torch.sqrt((1 - p).clamp(0, 1))
        params.rotate_pre = gated(uniform(n) * math.pi * ROTATE_MAX, 0.0, p_rotate)
        params.aniso = gated(torch.exp2(torch.randn(n, device=device) * ANISO_STD), 1.0, p)
        params.rotate_post = gated(uniform(n) * math.pi * ROTATE_MAX, 0.0, p_rotate)
        params.xfrac = gated(torch.randn(n, 2, device=device) * FRACTIONAL_TRANSLATION_STD, 0.0, p)
    if color:
        params.brightness = gated(torch.randn(n, device=device) * BRIGHTNESS_STD, 0.0, p)
        params.contrast = gated(torch.exp2(torch.randn(n, device=device) * CONTRAST_STD), 1.0, p)
        params.lumaflip = gated(torch.floor(torch.rand(n, device=device) * 2), 0.0, p)
        if channels > 1:
            params.hue = gated(uniform(n) * math.pi * HUE_MAX, 0.0, p)
            params.saturation = gated(torch.exp2(torch.randn(n, device=device) * SATURATION_STD), 1.0, p)
    return params


# --- geometric transforms --------------------------------------------------------------------------


def _matrix3(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    """(N, 3, 3) from a 3x3 table of per-image tensors (N,) and constants (filled on the device: no
    copy from the host)."""
    n = like.shape[0]
    entry = lambda e: e.to(like.dtype).expand(n) if isinstance(e, Tensor) else like.new_full((n,), float(e))  # noqa: E731
    return torch.stack([torch.stack([entry(e) for e in row], -1) for row in rows], -2)


def _translate(tx: Tensor, ty: Tensor) -> Tensor:
    return _matrix3([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def _scale(sx: Tensor, sy: Tensor) -> Tensor:
    return _matrix3([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def _rotate(theta: Tensor) -> Tensor:
    c, s = theta.cos(), theta.sin()
    return _matrix3([[c, -s, 0], [s, c, 0], [0, 0, 1]], theta)


def sampling_matrix(params: AugmentParams, height: int, width: int) -> Tensor:
    """G_inv (N, 3, 3): output pixel -> input pixel, pixel units about the image centre."""
    n = params.scale.shape[0]
    one = torch.ones(n, device=params.scale.device)
    return (
        _scale(1 - 2 * params.xflip, one)
        @ _rotate(params.rotate90 * (math.pi / 2))
        @ _translate(-torch.round(params.xint[:, 0] * width), -torch.round(params.xint[:, 1] * height))
        @ _scale(1 / params.scale, 1 / params.scale)
        @ _rotate(params.rotate_pre)
        @ _scale(1 / params.aniso, params.aniso)
        @ _rotate(params.rotate_post)
        @ _translate(-params.xfrac[:, 0] * width, -params.xfrac[:, 1] * height)
    )


# The constants below are made once per device (and size) and reused: building them from Python
# values on every call would copy each to the GPU, and each such copy waits.


@functools.lru_cache(maxsize=None)
def _wavelet_filter_on(dtype: torch.dtype, device: torch.device) -> Tensor:
    f = torch.tensor(SYM6, dtype=dtype, device=device)
    return f / f.sum()


def _wavelet_filter(x: Tensor) -> Tensor:
    return _wavelet_filter_on(x.dtype, x.device)


@functools.lru_cache(maxsize=None)
def _geometry_constants(height: int, width: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(image corners, margin offset, margin cap, centred coordinates to the 2x grid, its inverse, the
    corners of the sampled region: the centres of the first and last pixels of the 2x output grid,
    which covers the image and FILTER_MARGIN per side)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1.0], [cx, -cy, 1.0], [cx, cy, 1.0], [-cx, cy, 1.0]], dtype=dtype, device=device)
    offset = torch.tensor([2 * FILTER_MARGIN - cx, 2 * FILTER_MARGIN - cy] * 2, dtype=dtype, device=device)
    cap = torch.tensor([width - 1, height - 1] * 2, dtype=dtype, device=device)
    to_up = torch.tensor([[2.0, 0, -0.5], [0, 2.0, -0.5], [0, 0, 1]], dtype=dtype, device=device)
    x0, y0, x1, y1 = -cx - FILTER_MARGIN, -cy - FILTER_MARGIN, cx + FILTER_MARGIN + 0.5, cy + FILTER_MARGIN + 0.5
    sampled = torch.tensor([[x0, y0, 1.0], [x1, y0, 1.0], [x1, y1, 1.0], [x0, y1, 1.0]], dtype=dtype, device=device)
    return corners, offset, cap, to_up, torch.linalg.inv(to_up), sampled


@functools.lru_cache(maxsize=None)
def _color_constants(device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """(identity, v v^T for the unit luma axis v, the cross-product matrix [v]_x)."""
    luma = torch.full((3,), 1 / math.sqrt(3), device=device)
    cross = torch.tensor([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], device=device) / math.sqrt(3)
    return torch.eye(3, device=device), torch.outer(luma, luma), cross


def _per_channel(filter_fn):
    """Run a filter on every channel as a batch of 1-channel images: one (1, 1) filter instead of a
    grouped one (the same values to float rounding, ~1e-6)."""

    def run(x: Tensor, *args) -> Tensor:
        n, c = x.shape[:2]
        y = filter_fn(x.reshape(n * c, 1, *x.shape[2:]), *args)
        return y.reshape(n, c, *y.shape[2:])

    return run


# The fast filters below compute the same sums as the convolutions they replace, as matrix products
# over blocks: a 1-D filter on a line is a banded matrix, and the band cut into blocks of BLOCK
# outputs (each reading the inputs its taps reach) turns millions of 12-tap dot products on 1-channel
# maps, which convolution kernels run far below their speed, into a few large matrix products.
BLOCK = 16


def _filter_blocks(x: Tensor, matrix: Tensor, dim: int, step: int) -> Tensor:
    """Apply ``matrix`` (outputs per block, inputs per block) to windows of ``x`` along ``dim`` (-1 or
    -2) taken every ``step`` samples; the block outputs are laid end to end."""
    size = matrix.shape[1]
    if dim == -1:  # one matrix product over all windows (a batch of small ones runs item by item)
        windows = x.unfold(-1, size, step)
        return (windows.reshape(-1, size) @ matrix.t()).view(*windows.shape[:-2], -1)
    if x.device.type == "cpu":
        return _filter_rows_blockwise(x, matrix, step)
    windows = x.unfold(-2, size, step).transpose(-1, -2)  # (..., blocks, size, W): rows stay contiguous
    return (matrix @ windows).flatten(-3, -2)


def _filter_rows_blockwise(x: Tensor, matrix: Tensor, step: int) -> Tensor:
    """``_filter_blocks`` along -2 one block of rows at a time, each a batched product over the images
    and channels written in place: the one batched product over all blocks needs the overlapping
    windows copied out first, which on a CPU costs more than the products (the same sums; tests check
    the filters against convolutions). One product per block would cost a GPU more launches than that
    copy, so it keeps the single product."""
    outputs, size = matrix.shape
    height, width = x.shape[-2:]
    blocks = (height - size) // step + 1
    planes = x.reshape(-1, height, width)
    out = x.new_empty(planes.shape[0], blocks * outputs, width)
    matrix = matrix.expand(planes.shape[0], outputs, size)
    for b in range(blocks):
        torch.bmm(matrix, planes[:, b * step : b * step + size], out=out[:, b * outputs : (b + 1) * outputs])
    return out.view(*x.shape[:-2], blocks * outputs, width)


def _band(tap: Tensor, f: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The matrix whose entries are f[tap], zero where ``tap`` falls outside the filter."""
    inside = (tap >= 0) & (tap < len(f))
    return torch.where(inside, f[tap.clamp(0, len(f) - 1)], 0.0).to(dtype=dtype, device=device)


# Both filters are one kind of banded map along a line, with its transpose of the other kind:
# "up" (y[k] = sum_i g[k + offset - 2 i] x[i], zero insertion and convolution) and "down"
# (y[j] = sum_i g[i - 2 j - offset] x[i], correlation kept at stride 2), g the sym6 low-pass times a
# gain. The transpose of up with offset d is down with offset -d and the same gain, and the reverse,
# so each one's gradient is the other, run as block products too (autograd's gradient of the block
# products would add the overlapping windows back one by one).


@functools.lru_cache(maxsize=None)
def _block_matrix(up: bool, offset: int, gain: float, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, int, int]:
    """(matrix (outputs per block, window), the window's start relative to the block's first input,
    the step between windows) of the banded map."""
    f = _wavelet_filter_on(torch.float64, torch.device("cpu")) * gain
    taps = len(SYM6)
    if up:  # outputs 2 B b + k read inputs B b + start + i
        start = -((taps - 1 - offset) // 2)
        window = (2 * BLOCK - 1 + offset) // 2 - start + 1
        k, i = torch.arange(2 * BLOCK)[:, None], torch.arange(window)[None, :]
        return _band(k + offset - 2 * start - 2 * i, f, dtype, device), start, BLOCK
    j, i = torch.arange(BLOCK)[:, None], torch.arange(2 * BLOCK + taps - 2)[None, :]  # outputs B b + j read inputs 2 B b + offset + i
    return _band(i - 2 * j, f, dtype, device), offset, 2 * BLOCK


def _banded(x: Tensor, dim: int, up: bool, offset: int, gain: float, length: int) -> Tensor:
    """The first ``length`` outputs of the banded map along ``dim`` (-1 or -2), zeros outside ``x``."""
    matrix, start, step = _block_matrix(up, offset, gain, x.dtype, x.device)
    blocks = -(-length // matrix.shape[0])
    needed = (blocks - 1) * step + matrix.shape[1]  # inputs from ``start`` on that the blocks read
    x = _fit(x, dim, -start, needed + start - x.shape[dim])
    y = _filter_blocks(x, matrix, dim, step)
    return y if y.shape[dim] == length else y.narrow(dim, 0, length)


def _fit(x: Tensor, dim: int, before: int, after: int) -> Tensor:
    """``x`` with ``before`` / ``after`` zeros added along ``dim``, or samples dropped where negative."""
    if before < 0 or after < 0:
        x = x.narrow(dim, max(0, -before), x.shape[dim] - max(0, -before) - max(0, -after))
    pad = [max(0, before), max(0, after)]
    if not any(pad):  # a pad of nothing would still copy
        return x
    return F.pad(x, pad if dim == -1 else [0, 0, *pad])


class _Banded(torch.autograd.Function):
    """``_banded`` with the transposed map as its gradient (so also for second gradients)."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int, up: bool, offset: int, gain: float, length: int) -> Tensor:
        ctx.args = (dim, up, offset, gain, x.shape[dim])
        return _banded(x, dim, up, offset, gain, length)

    @staticmethod
    def backward(ctx, grad: Tensor):
        dim, up, offset, gain, length = ctx.args
        return _Banded.apply(grad, dim, not up, -offset, gain, length), None, None, None, None, None


def _upsample_line(x: Tensor, dim: int) -> Tensor:
    # the transposed convolution of ``_upsample2x_reference``, its crop of taps // 2 - 1 outputs included
    return _Banded.apply(x, dim, True, len(SYM6) // 2 - 1, 2.0, 2 * x.shape[dim])


def _downsample_line(x: Tensor, dim: int, before: int, after: int) -> Tensor:
    # the strided convolution of ``_downsample2x_reference`` on x without ``before`` and ``after``
    # samples (read past, not cut off: cutting would cost a copy, and a zero fill in the gradient):
    # the outputs whose taps all fall inside
    return _Banded.apply(x, dim, False, before, 1.0, (x.shape[dim] - before - after - len(SYM6)) // 2 + 1)


def upsample2x(x: Tensor) -> Tensor:
    """Zero insertion and the sym6 low-pass (a true convolution), separably; gain 2 per axis keeps the
    mean. Block matrix products with the values of ``_upsample2x_reference``."""
    return _upsample_line(_upsample_line(x, -1), -2)


def downsample2x(x: Tensor, border: int) -> Tensor:
    """Drop ``border`` pixels per side (less what the filter reaches), low-pass with sym6 as a
    correlation (the adjoint of ``upsample2x``'s convolution, so the pair reconstructs an image), keep
    every second pixel. Block matrix products with the values of ``_downsample2x_reference``."""
    before, after = _crop_for_downsample(border)
    # vertically first: the horizontal pass, slower per sample, gets half the rows
    return _downsample_line(_downsample_line(x, -2, before, after), -1, before, after)


def _crop_for_downsample(border: int) -> tuple[int, int]:
    """Samples dropped before and after along each axis: ``border`` less what the filter reaches."""
    taps = len(SYM6)
    return border - (taps - 1) // 2, border - (taps - 2) // 2


def _upsample2x_reference(x: Tensor) -> Tensor:
    """``upsample2x`` as convolutions (NVlabs' form), slower on CPU; tests check both agree."""
    return _per_channel(_upsample2x_channel)(x)


def _upsample2x_channel(x: Tensor) -> Tensor:
    f = _wavelet_filter(x) * 2
    taps = f.numel()
    # A stride-2 transposed convolution with `taps - 1 - taps // 2` cropped per side keeps 2x the size
    # aligned as NVlabs' upsample2d (padding (taps + 1) // 2 before, (taps - 2) // 2 after).
    crop = taps - 1 - (taps + 1) // 2
    x = F.conv_transpose2d(x, f.view(1, 1, 1, taps), stride=(1, 2), padding=(0, crop))
    return F.conv_transpose2d(x, f.view(1, 1, taps, 1), stride=(2, 1), padding=(crop, 0))


def _downsample2x_reference(x: Tensor, border: int) -> Tensor:
    """``downsample2x`` as strided convolutions (NVlabs' form), slower on CPU; tests check both agree."""
    before, after = _crop_for_downsample(border)
    return _per_channel(_downsample2x_channel)(x[:, :, before : x.shape[2] - after, before : x.shape[3] - after])


def _downsample2x_channel(x: Tensor) -> Tensor:
    f = _wavelet_filter(x)
    taps = f.numel()
    x = F.conv2d(x, f.view(1, 1, 1, taps), stride=(1, 2))
    return F.conv2d(x, f.view(1, 1, taps, 1), stride=(2, 1))


# Images upsampled together: each one's window is zero-padded to the largest of its group's (windows
# are sorted by area, so that wastes little) and a group is one batch of work, as a GPU wants it.
GROUP = 4
# Input pixels a window keeps beyond its sampled points: the 2x filter reaches 2.75 pixels and
# bilinear sampling half a pixel; the rest is slack.
WINDOW_REACH = FILTER_MARGIN + 1


def apply_geometric(images: Tensor, g_inv: Tensor) -> Tensor:
    """Resample ``images`` (N, C, H, W) with the per-image pixel-space sampling matrices ``g_inv``.

    The values of ``_apply_geometric_reference`` (NVlabs' algorithm) for less work. The reference pads
    the whole batch by the margin its farthest transformed corner needs and upsamples all of it, but
    an image's bilinear samples, and the filter taps behind them, read only a window around its own
    transformed region. Here each image is padded and upsampled in that window alone, cut from the
    batch's padded extent, and placed into a zero canvas of the reference's upsampled size, one image
    at a time, so that reflected values, the zeros beyond the extent and the sampling coordinates are
    the reference's (grid_sample rounds its coordinates by the input's size: sampling the window
    itself would round them otherwise, ~1e-5 in values). Images whose matrix is the identity are
    resampled too: the result is the image only up to the reference's float32 rounding (up to 1e-5 at
    32 px, 8.7e-5 at 256 px), and returning the image instead would move our values that far from
    NVlabs'.
    """
    n, c, h, w = images.shape
    dev = images.device
    corners, offset, cap, _, _, sampled = _geometry_constants(h, w, g_inv.dtype, dev)
    margin = _batch_margin(g_inv, corners, offset, cap)  # x0, y0, x1, y1
    # Each image's window [lo, hi) in image pixel indices (x, y), within the extent [-margin, size + margin).
    points = (g_inv @ sampled.t())[:, :2, :] + corners[2, :2, None]  # (N, xy, 4): +(cx, cy) from centred
    lo = torch.maximum(points.amin(dim=2).floor() - WINDOW_REACH, -margin[:2])
    hi = torch.minimum(points.amax(dim=2).ceil() + WINDOW_REACH + 1, margin[2:] + cap[:2] + 1)
    size = torch.maximum(hi, lo + 1) - lo
    order = (size[:, 0] * size[:, 1]).argsort(stable=True)
    # Padding takes Python ints: the one read back per call (as the reference reads its margin).
    plan = [int(v) for v in torch.cat([margin, order.to(margin.dtype), lo[order].flatten(), size[order].flatten()]).tolist()]
    mx0, my0, mx1, my1 = plan[:4]
    slots = plan[4 : 4 + n]
    windows = [(*plan[4 + n + 2 * i : 6 + n + 2 * i], *plan[4 + 3 * n + 2 * i : 6 + 3 * n + 2 * i]) for i in range(n)]  # x0, y0, width, height

    parts = images.unbind(0)  # its gradient is one stack (indexing each image would add up N zero batches)
    ups, placements = [], []
    for start in range(0, n, GROUP):
        group = windows[start : start + GROUP]
        width, height = max(x[2] for x in group), max(x[3] for x in group)
        crops = [_window(parts[slot], *window, height, width) for slot, window in zip(slots[start:], group)]
        ups.append(upsample2x(torch.stack(crops)))
        # each window's own 2x pixels (the filter spreads it into the zeros that pad it to the group's
        # size, where the reference has other pixels or none), at its image's place on the 2x extent
        placements += [
            (len(ups) - 1, k, slot, 2 * (y0 + my0), 2 * (x0 + mx0), 2 * wy, 2 * wx)
            for k, (slot, (x0, y0, wx, wy)) in enumerate(zip(slots[start:], group))
        ]  # fmt: skip
    shape = (c, 2 * (h + my0 + my1), 2 * (w + mx0 + mx1))
    g_inv = _translate(g_inv.new_full((n,), (mx0 - mx1) / 2), g_inv.new_full((n,), (my0 - my1) / 2)) @ g_inv
    grid = _affine_grid(*_sampling_theta(g_inv, shape[1], shape[2], h, w))
    return downsample2x(_SampleWindows.apply(grid, shape, placements, *ups), border=2 * FILTER_MARGIN)


# (group, index in the group, image, row, column, height, width): where an upsampled window goes on
# its image's canvas.
Placement = tuple[int, int, int, int, int, int, int]


class _SampleWindows(torch.autograd.Function):
    """``grid_sample`` of each image's zero canvas of ``shape`` (C, H, W) with its window placed at
    (row, column), on that image's rows of ``grid``. The canvases are one image's size, made one at a
    time in a single zeroed tensor (the window written, sampled, zeroed again): a whole-batch canvas
    would be written, and zero-filled, at up to 36x the batch's size, in the backward pass too. Each
    image's samples equal the whole-batch call's (grid_sample treats images independently, and the
    canvas size, which sets its coordinate rounding, is the same). Linear in the windows: its adjoint,
    and so its backward, is ``_SampleWindowsAdjoint``."""

    @staticmethod
    def forward(ctx, grid: Tensor, shape: tuple[int, int, int], placements: list[Placement], *ups: Tensor) -> Tensor:
        ctx.save_for_backward(grid)
        ctx.shape, ctx.placements, ctx.shapes = shape, placements, [up.shape for up in ups]
        canvas = ups[0].new_zeros(1, *shape)
        out = ups[0].new_empty(grid.shape[0], shape[0], *grid.shape[1:3])
        for group, k, i, row, col, height, width in placements:
            window = canvas[0, :, row : row + height, col : col + width]
            window.copy_(ups[group][k, :, :height, :width])
            out[i] = F.grid_sample(canvas, grid[i : i + 1], mode="bilinear", padding_mode="zeros", align_corners=False)[0]
            window.zero_()
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        (grid,) = ctx.saved_tensors
        return None, None, None, *_SampleWindowsAdjoint.apply(grad, grid, ctx.shape, ctx.placements, ctx.shapes)


class _SampleWindowsAdjoint(torch.autograd.Function):
    """The adjoint of ``_SampleWindows``: each image's samples spread onto its canvas by grid_sample's
    input gradient, and its window cut out (zeros elsewhere in each group's tensor)."""

    @staticmethod
    def forward(ctx, samples: Tensor, grid: Tensor, shape: tuple[int, int, int], placements: list[Placement], shapes: list[torch.Size]) -> tuple[Tensor, ...]:
        ctx.save_for_backward(grid)
        ctx.shape, ctx.placements = shape, placements
        ups = [samples.new_zeros(s) for s in shapes]
        # the input gradient reads only the input's size: a zero that takes no memory stands for it
        canvas = samples.new_zeros(()).expand(1, *shape)
        for group, k, i, row, col, height, width in placements:
            spread = torch.ops.aten.grid_sampler_2d_backward(samples[i : i + 1], canvas, grid[i : i + 1], 0, 0, False, [True, False])[0]
            ups[group][k, :, :height, :width] = spread[0, :, row : row + height, col : col + width]
        return tuple(ups)

    @staticmethod
    def backward(ctx, *grads: Tensor):
        (grid,) = ctx.saved_tensors
        return _SampleWindows.apply(grid, ctx.shape, ctx.placements, *grads), None, None, None, None


def _batch_margin(g_inv: Tensor, corners: Tensor, offset: Tensor, cap: Tensor) -> Tensor:
    """NVlabs' reflection padding of the batch (x0, y0, x1, y1), whole pixels: as much as the batch's
    transformed corners need plus the filter's border (a reflection cannot exceed the image: at most
    side - 1)."""
    reach = (g_inv @ corners.t())[:, :2, :].permute(1, 0, 2).flatten(1)  # (xy, N * 4)
    margin = torch.cat([-reach, reach]).amax(dim=1)
    return torch.minimum((margin + offset).clamp(min=0), cap).ceil()


def _window(image: Tensor, x0: int, y0: int, width: int, height: int, out_height: int, out_width: int) -> Tensor:
    """Columns [x0, x0 + width) and rows [y0, y0 + height) of the reflection-padded ``image`` (C, H, W),
    zeros appended to (out_height, out_width)."""
    h, w = image.shape[-2:]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + width - w), max(0, y0 + height - h)
    if left or right or top or bottom:
        image = F.pad(image, [left, right, top, bottom], mode="reflect")
    window = image[:, y0 + top : y0 + top + height, x0 + left : x0 + left + width]
    return F.pad(window, [0, out_width - width, 0, out_height - height])


def _sampling_theta(g_inv: Tensor, in_height: int, in_width: int, height: int, width: int) -> tuple[Tensor, int, int]:
    """(affine_grid's theta (N, 2, 3), the grid's height and width) for bilinear samples of an
    upsampled input of (in_height, in_width) on the 2x grid of the output image and FILTER_MARGIN per
    side; ``g_inv`` maps output pixels to input pixels before upsampling, centred."""
    *_, to_up, from_up, _ = _geometry_constants(height, width, g_inv.dtype, g_inv.device)
    # The same map on the 2x grid, whose centred coordinates are 2x - 0.5 (the filter delays by half a pixel).
    g_inv = to_up @ g_inv @ from_up
    # grid_sample reads [-1, 1] coordinates: rows scaled from the input's pixels, columns from the
    # output's (diagonal maps, as Python numbers). It rounds them by the input's size, so the same
    # samples of a smaller input would differ by ~1e-5.
    out_h, out_w = (height + 2 * FILTER_MARGIN) * 2, (width + 2 * FILTER_MARGIN) * 2
    rows = torch.stack([g_inv[:, 0] * (2.0 / in_width), g_inv[:, 1] * (2.0 / in_height)], 1)
    return torch.stack([rows[..., 0] * (out_w / 2.0), rows[..., 1] * (out_h / 2.0), rows[..., 2]], -1), out_h, out_w


@functools.lru_cache(maxsize=None)
def _base_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """affine_grid's (x, y, 1) of every output pixel, (1, height * width, 3): x and y as its identity
    grid gives them (x * 1 + y * 0 + 0 is exact)."""
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=dtype, device=device)
    xy = F.affine_grid(identity, [1, 1, height, width], align_corners=False)
    return torch.cat([xy, torch.ones_like(xy[..., :1])], -1).view(1, height * width, 3)


def _affine_grid(theta: Tensor, height: int, width: int) -> Tensor:
    """``F.affine_grid(theta, (N, 1, height, width), align_corners=False)`` with the same product of
    its (x, y, 1) grid and theta, on a grid made once (affine_grid builds it for every image of every
    call)."""
    base = _base_grid(height, width, theta.dtype, theta.device)
    return torch.bmm(base.expand(theta.shape[0], -1, -1), theta.transpose(1, 2)).view(-1, height, width, 2)


def _grid_sample_2x(up: Tensor, g_inv: Tensor, height: int, width: int) -> Tensor:
    """Bilinear samples of ``up`` (an upsampled input) as ``_sampling_theta`` places them."""
    theta, out_h, out_w = _sampling_theta(g_inv, up.shape[2], up.shape[3], height, width)
    grid = F.affine_grid(theta, [up.shape[0], up.shape[1], out_h, out_w], align_corners=False)
    return F.grid_sample(up, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _apply_geometric_reference(images: Tensor, g_inv: Tensor) -> Tensor:
    """``apply_geometric`` as NVlabs runs it, the whole batch padded and resampled; tests check both agree."""
    n, _, h, w = images.shape
    dev = images.device
    corners, offset, cap, *_ = _geometry_constants(h, w, g_inv.dtype, dev)
    mx0, my0, mx1, my1 = (int(v) for v in _batch_margin(g_inv, corners, offset, cap).tolist())
    images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
    g_inv = _translate(g_inv.new_full((n,), (mx0 - mx1) / 2), g_inv.new_full((n,), (my0 - my1) / 2)) @ g_inv
    return downsample2x(_grid_sample_2x(upsample2x(images), g_inv, h, w), border=2 * FILTER_MARGIN)


# --- colour transforms -----------------------------------------------------------------------------


def color_transform(params: AugmentParams) -> tuple[Tensor, Tensor]:
    """(A (N, 3, 3), t (N, 3)): the colour map x -> A x + t of the RGB values."""
    b = params.brightness
    n = b.shape[0]
    eye, vvt, cross = _color_constants(b.device)
    a = params.contrast[:, None, None] * eye  # contrast after brightness: c (x + b)
    t = (params.contrast * b)[:, None].expand(n, 3)
    flip = eye - 2 * vvt * params.lumaflip[:, None, None]
    cos, sin = params.hue.cos()[:, None, None], params.hue.sin()[:, None, None]
    hue = cos * eye + sin * cross + (1 - cos) * vvt  # Rodrigues rotation about the luma axis
    saturation = vvt + (eye - vvt) * params.saturation[:, None, None]
    m = saturation @ hue @ flip
    return m @ a, (m @ t[:, :, None])[:, :, 0]


def apply_color(images: Tensor, params: AugmentParams) -> Tensor:
    n, c, h, w = images.shape
    a, t = color_transform(params)
    if c == 3:
        return (a @ images.reshape(n, 3, h * w) + t[:, :, None]).reshape(n, c, h, w)
    if c == 1:  # grey images: the mean of the RGB map applied to (L, L, L)
        gain = a.sum(dim=2).mean(dim=1)
        return images * gain[:, None, None, None] + t.mean(dim=1)[:, None, None, None]
    raise UserError(f"colour augmentation needs 1 or 3 image channels, got {c}; set augment_color false")


# --- the module ------------------------------------------------------------------------------------


class AdaptiveAugment(nn.Module):
    """The ADA "bgc" pipeline (blit, geometric, colour) with a probability ``p`` kept as a buffer.

    Args:
        p: initial probability of each transform.
        geometric: x-flip, 90-degree rotation, integer translation, isotropic scaling, arbitrary
            rotation, anisotropic scaling, fractional translation.
        color: brightness, contrast, luma flip, hue rotation, saturation (the last two need RGB).
    """

    def __init__(self, p: float = 0.0, geometric: bool = True, color: bool = True) -> None:
        super().__init__()
        check_range("augmentation probability p", p, 0, 1)
        self.geometric = geometric
        self.color = color
        self.register_buffer("p", torch.tensor(float(p)))

    def update_p(self, real_sign_mean: float, num_images: int, target: float, speed_kimg: float) -> float:
        """ADA heuristic: r_t = E[sign(D(real))]; p moves by num_images / (speed_kimg * 1000) toward
        r_t = target. As NVlabs' training loop, p is kept >= 0 but not capped at 1 (above 1 every
        transform is always applied, and p comes back down as slowly as it went up)."""
        step = math.copysign(num_images / (speed_kimg * 1000.0), real_sign_mean - target) if real_sign_mean != target else 0.0
        self.p.copy_((self.p + step).clamp(min=0.0))
        return host_scalar(self.p)

    def forward(self, images: Tensor, params: AugmentParams | None = None) -> Tensor:
        """Augment with random parameters drawn at probability p, or with the given ``params``."""
        if params is None:
            p = host_scalar(self.p)  # read from the device once per change of p, not per call
            if p <= 0.0 or not (self.geometric or self.color):
                return images  # NVlabs resamples even at p = 0, an identity up to float rounding
            params = sample_params(images.shape[0], self.p, images.shape[1], self.geometric, self.color, images.device)
        dtype = images.dtype
        # float32 as NVlabs, also inside mixed precision's autocast, which would run the sampling grid's
        # and the filters' matrix products in half precision (values off by up to 0.57 at 256 px in
        # float16, 2.9 in bfloat16, for images in [-1, 1])
        with torch.autocast(images.device.type, enabled=False):
            images = images.float()
            if self.geometric:
                images = apply_geometric(images, sampling_matrix(params, images.shape[2], images.shape[3]))
            if self.color:
                images = apply_color(images, params)
        return images.to(dtype)

    def extra_repr(self) -> str:
        return f"p={float(self.p):.4f}, geometric={self.geometric}, color={self.color}"
