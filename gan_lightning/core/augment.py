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
   the augmentation (the paper's "non-leaking" condition).
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
def _geometry_constants(height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(image corners, margin offset, margin cap, centred coordinates to the 2x grid, its inverse)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1.0], [cx, -cy, 1.0], [cx, cy, 1.0], [-cx, cy, 1.0]], device=device)
    offset = torch.tensor([2 * FILTER_MARGIN - cx, 2 * FILTER_MARGIN - cy] * 2, device=device)
    cap = torch.tensor([width - 1, height - 1] * 2, dtype=torch.float32, device=device)
    to_up = torch.tensor([[2.0, 0, -0.5], [0, 2.0, -0.5], [0, 0, 1]], device=device)
    return corners, offset, cap, to_up, torch.linalg.inv(to_up)


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
    windows = x.unfold(-2, size, step).transpose(-1, -2)  # (..., blocks, size, W): rows stay contiguous
    return (matrix @ windows).flatten(-3, -2)


def _band(tap: Tensor, f: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The matrix whose entries are f[tap], zero where ``tap`` falls outside the filter."""
    inside = (tap >= 0) & (tap < len(f))
    return torch.where(inside, f[tap.clamp(0, len(f) - 1)], 0.0).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _upsample_block_on(dtype: torch.dtype, device: torch.device) -> Tensor:
    """(2 BLOCK, BLOCK + 2 FILTER_MARGIN): the 2x outputs of a block from its inputs and the
    FILTER_MARGIN either side that the taps reach. Output k reads window input i with tap
    k + taps - 1 - 2 i: the transposed convolution of ``_upsample2x_reference`` restricted to the block
    (its crop of taps // 2 - 1 outputs included)."""
    f = _wavelet_filter_on(torch.float64, torch.device("cpu")) * 2
    k = torch.arange(2 * BLOCK)[:, None]
    i = torch.arange(BLOCK + 2 * FILTER_MARGIN)[None, :]
    return _band(k + len(SYM6) - 1 - 2 * i, f, dtype, device)


@functools.lru_cache(maxsize=None)
def _downsample_block_on(dtype: torch.dtype, device: torch.device) -> Tensor:
    """(BLOCK, 2 BLOCK + taps - 2): a block of outputs of the sym6 correlation kept at stride 2, output
    j reading window input i with tap i - 2 j: the strided convolution of ``_downsample2x_reference``
    restricted to the block."""
    f = _wavelet_filter_on(torch.float64, torch.device("cpu"))
    j = torch.arange(BLOCK)[:, None]
    i = torch.arange(2 * BLOCK + len(SYM6) - 2)[None, :]
    return _band(i - 2 * j, f, dtype, device)


def _upsample_line(x: Tensor, dim: int) -> Tensor:
    length = x.shape[dim]
    blocks = -(-length // BLOCK)
    pad = [FILTER_MARGIN, FILTER_MARGIN + blocks * BLOCK - length]  # zeros outside, as the transposed convolution has
    x = F.pad(x, pad if dim == -1 else [0, 0, *pad])
    y = _filter_blocks(x, _upsample_block_on(x.dtype, x.device), dim, BLOCK)
    return y.narrow(dim, 0, 2 * length)


def _downsample_line(x: Tensor, dim: int) -> Tensor:
    length = x.shape[dim]
    out = (length - len(SYM6)) // 2 + 1
    blocks = -(-out // BLOCK)
    pad = [0, 2 * BLOCK * blocks + len(SYM6) - 2 - length]  # only read by outputs that are dropped
    x = F.pad(x, pad if dim == -1 else [0, 0, *pad])
    y = _filter_blocks(x, _downsample_block_on(x.dtype, x.device), dim, 2 * BLOCK)
    return y.narrow(dim, 0, out)


def upsample2x(x: Tensor) -> Tensor:
    """Zero insertion and the sym6 low-pass (a true convolution), separably; gain 2 per axis keeps the
    mean. Block matrix products with the values of ``_upsample2x_reference``."""
    return _upsample_line(_upsample_line(x, -1), -2)


def downsample2x(x: Tensor, border: int) -> Tensor:
    """Drop ``border`` pixels per side (less what the filter reaches), low-pass with sym6 as a
    correlation (the adjoint of ``upsample2x``'s convolution, so the pair reconstructs an image), keep
    every second pixel. Block matrix products with the values of ``_downsample2x_reference``."""
    x = _crop_for_downsample(x, border)
    return _downsample_line(_downsample_line(x, -1), -2)


def _crop_for_downsample(x: Tensor, border: int) -> Tensor:
    taps = len(SYM6)
    before, after = border - (taps - 1) // 2, border - (taps - 2) // 2
    return x[:, :, before : x.shape[2] - after, before : x.shape[3] - after]


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
    return _per_channel(_downsample2x_channel)(_crop_for_downsample(x, border))


def _downsample2x_channel(x: Tensor) -> Tensor:
    f = _wavelet_filter(x)
    taps = f.numel()
    x = F.conv2d(x, f.view(1, 1, 1, taps), stride=(1, 2))
    return F.conv2d(x, f.view(1, 1, taps, 1), stride=(2, 1))


def apply_geometric(images: Tensor, g_inv: Tensor) -> Tensor:
    """Resample ``images`` (N, C, H, W) with the per-image pixel-space sampling matrices ``g_inv``."""
    n, c, h, w = images.shape
    dev = images.device
    corners, offset, cap, to_up, from_up = _geometry_constants(h, w, dev)
    # Reflection padding: as much as the batch's transformed corners need, plus the filter's border
    # (a reflection cannot exceed the image: at most side - 1).
    reach = (g_inv @ corners.t())[:, :2, :].permute(1, 0, 2).flatten(1)  # (xy, N * 4)
    margin = torch.cat([-reach, reach]).amax(dim=1)  # x0, y0, x1, y1
    margin = torch.minimum((margin + offset).clamp(min=0), cap.to(margin.dtype))
    mx0, my0, mx1, my1 = (int(v) for v in margin.ceil().tolist())
    images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
    g_inv = _translate(torch.full((n,), (mx0 - mx1) / 2, device=dev), torch.full((n,), (my0 - my1) / 2, device=dev)) @ g_inv

    # The same map on the 2x grid, whose centred coordinates are 2x - 0.5 (the filter delays by half a pixel).
    images = upsample2x(images)
    g_inv = to_up @ g_inv @ from_up

    # Sample the image and a border of FILTER_MARGIN per side at 2x; grid_sample reads [-1, 1] coordinates:
    # rows scaled from the input's pixels, columns from the output's (diagonal maps, as Python numbers).
    out_h, out_w = (h + 2 * FILTER_MARGIN) * 2, (w + 2 * FILTER_MARGIN) * 2
    rows = torch.stack([g_inv[:, 0] * (2.0 / images.shape[3]), g_inv[:, 1] * (2.0 / images.shape[2])], 1)
    theta = torch.stack([rows[..., 0] * (out_w / 2.0), rows[..., 1] * (out_h / 2.0), rows[..., 2]], -1)
    grid = F.affine_grid(theta, [n, c, out_h, out_w], align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return downsample2x(images, border=2 * FILTER_MARGIN)


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
        images = images.float()
        if self.geometric:
            images = apply_geometric(images, sampling_matrix(params, images.shape[2], images.shape[3]))
        if self.color:
            images = apply_color(images, params)
        return images.to(dtype)

    def extra_repr(self) -> str:
        return f"p={float(self.p):.4f}, geometric={self.geometric}, color={self.color}"
