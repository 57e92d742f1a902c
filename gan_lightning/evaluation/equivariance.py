"""Equivariance metrics of StyleGAN3 (Karras et al. 2021, "Alias-Free Generative Adversarial
Networks", appendix E): ``eqt50k_int``, ``eqt50k_frac`` and ``eqr50k``.

For a latent w and a transform T of the plane, compare
  - the image generated with T applied to the Fourier input (``synthesis.input.transform``, which
    maps output coordinates to the input's), with
  - the untransformed image transformed in pixel space by the same T, resampled as an ideal
    band-limited signal would be (E.1 integer shift; E.2 Lanczos-windowed sinc shift; E.3 rotation
    through a filter that band-limits to both the input's and the rotated output's pixel grid, with
    the generated image filtered alike so both hold the same frequencies).
Pixels whose value depends on samples outside the image are masked out. The score is the PSNR of
the pooled squared error over all samples, channels and valid pixels, for images in [-1, 1]:
PSNR = 20 log10(2) - 10 log10(MSE); an exact match is +inf.

Samples come in groups of ``GROUP_SIZE`` sharing one random transform (NVlabs draw one per batch of
4); group g uses the latents of seeds 4g .. 4g + 3 and a transform drawn from seed ``TRANSFORM_SEED
+ g``, so a figure does not depend on the batch size or the number of processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import class_vectors, latents_for_seeds
from gan_lightning.evaluation.extraction import Gather, Shard, single_process_gather

Kind = Literal["int", "frac", "rot"]
GROUP_SIZE = 4
TRANSFORM_SEED = 20_000_000  # transforms' seeds, apart from the latents' seeds
TRANSLATE_MAX = 0.125  # translations uniform in +-1/8 of the image side (appendix E)
ROTATE_MAX = math.pi  # rotations uniform in +-180 degrees
LANCZOS_A = 3  # Lanczos window radius a, in pixels
PEAK_TO_PEAK = 2.0  # images in [-1, 1]


@dataclass(frozen=True)
class EquivarianceMetric:
    name: str
    kind: Kind


METRICS: dict[str, EquivarianceMetric] = {
    m.name: m for m in (EquivarianceMetric("eqt50k_int", "int"), EquivarianceMetric("eqt50k_frac", "frac"), EquivarianceMetric("eqr50k", "rot"))
}


# --- the transforms in pixel space (each returns the image and its mask of valid pixels) ------------


def shift(x: Tensor, dx: int, dy: int) -> Tensor:
    """out[y, x] = x[y - dy, x - dx], zeros where that falls outside."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    if abs(dx) < w and abs(dy) < h:
        out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)]
    return out


def integer_translation(x: Tensor, tx: float, ty: float) -> tuple[Tensor, Tensor]:
    """E.1: translate by (tx, ty) image sides, rounded to whole pixels."""
    dx, dy = round(tx * x.shape[-1]), round(ty * x.shape[-2])
    return shift(x, dx, dy), shift(torch.ones_like(x), dx, dy)


def sinc(x: Tensor) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    y = (x * math.pi).abs()
    return torch.where(y < 1e-30, torch.ones_like(x), torch.sin(y) / y.clamp(min=1e-30))


def lanczos_taps(fraction: float, a: int) -> Tensor:
    """Weights of samples k = -(a-1) .. a for the value at offset ``fraction`` in [0, 1): the
    Lanczos kernel sinc(u) sinc(u / a) at u = k - fraction, normalised to sum 1."""
    u = torch.arange(-(a - 1), a + 1, dtype=torch.float32) - fraction
    taps = sinc(u) * sinc(u / a)
    return taps / taps.sum()


def fractional_translation(x: Tensor, tx: float, ty: float, a: int = LANCZOS_A) -> tuple[Tensor, Tensor]:
    """E.2: translate by (tx, ty) image sides with separable Lanczos interpolation:
    out[x] = sum_k taps[k] in[x - floor(t) - k]; valid where every sample used lies inside."""
    h, w = x.shape[-2:]
    px, py = tx * w, ty * h
    ix, iy = math.floor(px), math.floor(py)
    ks = range(-(a - 1), a + 1)
    out = sum(weight * shift(x, ix + k, 0) for k, weight in zip(ks, lanczos_taps(px - ix, a).tolist()))
    out = sum(weight * shift(out, 0, iy + k) for k, weight in zip(ks, lanczos_taps(py - iy, a).tolist()))
    mask = torch.zeros_like(x)
    x0, x1, y0, y1 = max(ix + a, 0), w + min(ix - (a - 1), 0), max(iy + a, 0), h + min(iy - (a - 1), 0)
    if x0 < x1 and y0 < y1:
        mask[..., y0:y1, x0:x1] = 1
    return out, mask


def rotation(angle: float) -> Tensor:
    """3x3 homogeneous matrix of a rotation by ``angle`` in image coordinates (y down)."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def centred_grid(size: int, spacing: float, device: torch.device | str = "cpu") -> Tensor:
    """Sample positions of a periodic grid of ``size`` (odd) samples in FFT order: 0, d, 2d, ..., -d."""
    n = torch.arange(size, dtype=torch.float32, device=device)
    return torch.where(n <= size // 2, n, n - size) * spacing


def bandlimit_filter(
    mat: Tensor, a: int = LANCZOS_A, radius: int = 2 * LANCZOS_A, up: int = 4, support: int = 64
) -> Tensor:
    """E.3: the low-pass filter of a resampling by the affine map ``mat`` (output = mat @ input), on
    a grid of 1/up pixel, ``2 radius up - 1`` taps a side, centred.

    The ideal filter passes what both the input's pixel grid and the transformed output's grid can
    hold: the convolution of the input-aligned sinc and the output-aligned sinc; it is windowed by
    the convolution of the two Lanczos windows of radius ``a``. Both convolutions are done with FFTs
    on a ``support``-pixel periodic grid, wide enough to keep the sincs' tails, on ``mat``'s device
    (at up 4 they cost more than a small generator's pass on a CPU). Each of the up x up phases of
    the result sums to one, so resampling keeps a constant image constant."""
    n = 2 * support * up - 1
    t = centred_grid(n, 1.0 / up, mat.device)
    yi, xi = torch.meshgrid(t, t, indexing="ij")
    xo, yo = (torch.stack([xi, yi], dim=2) @ mat[:2, :2].float().t()).unbind(2)

    def window(v: Tensor) -> Tensor:  # Lanczos window sinc(v / a), zero from |v| = a
        return torch.where(v.abs() < a, sinc(v / a), torch.zeros_like(v))

    def convolve(p: Tensor, q: Tensor) -> Tensor:
        return torch.fft.ifftn(torch.fft.fftn(p) * torch.fft.fftn(q)).real

    ideal = convolve(sinc(xi) * sinc(yi), sinc(xo) * sinc(yo))
    windowed = ideal * convolve(window(xi) * window(yi), window(xo) * window(yo))
    keep = radius * up - 1  # taps |t| < radius
    f = torch.fft.fftshift(windowed)[n // 2 - keep : n // 2 + keep + 1, n // 2 - keep : n // 2 + keep + 1].clone()
    for py in range(up):
        for px in range(up):
            f[py::up, px::up] /= f[py::up, px::up].sum()
    return f


def affine_resample(x: Tensor, mat: Tensor, a: int = LANCZOS_A, up: int = 4) -> tuple[Tensor, Tensor]:
    """out(p) = in(mat^-1 p) for square images, p in pixels about the image centre (``mat``'s
    translation column in image sides, as the generator's transform): up-sample by ``up`` through
    ``bandlimit_filter`` so the fine grid holds the band-limited signal, then read the fine grid
    bilinearly at mat^-1 p. Valid where that point is at least a filter's length inside the image's
    fine grid."""
    n, c, h, w = x.shape
    assert h == w, f"rotation of square images only, got {h}x{w}"
    f = bandlimit_filter(mat.to(x.device), a=a, radius=2 * a, up=up).to(x)
    k = f.shape[0]  # 2 radius up - 1 taps, centre k // 2
    # fine[o] = sum_j in[j] f[o - up j]: fine sample o lies at input pixel (o - k // 2) / up
    fine = F.conv_transpose2d(x.reshape(n * c, 1, h, w), f[None, None], stride=up).reshape(n, c, up * (h - 1) + k, up * (w - 1) + k)
    inverse = torch.linalg.inv(mat.double()).float().to(x.device)
    centred = torch.arange(w, device=x.device, dtype=torch.float32) + 0.5 - w / 2
    oy, ox = torch.meshgrid(centred, centred, indexing="ij")
    ix = inverse[0, 0] * ox + inverse[0, 1] * oy + inverse[0, 2] * w
    iy = inverse[1, 0] * ox + inverse[1, 1] * oy + inverse[1, 2] * w
    fx, fy = ((i + w / 2 - 0.5) * up + k // 2 for i in (ix, iy))  # fine-grid indices of the points
    size = fine.shape[-1]
    grid = torch.stack([(2 * fx + 1) / size - 1, (2 * fy + 1) / size - 1], dim=-1).expand(n, h, w, 2)
    out = F.grid_sample(fine, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # kept: points whose nearest fine sample, counted on a grid of up w + k - 1 samples starting
    # up // 2 before this one (a whole up x up set of phases per pixel), is k or more from both ends
    inside = [(torch.round(i + up // 2) >= k) & (torch.round(i + up // 2) < up * w - 1) for i in (fx, fy)]
    valid = (inside[0] & inside[1]).to(x.dtype)
    return out, valid.expand_as(x).contiguous()


def fractional_rotation(x: Tensor, angle: float, a: int = LANCZOS_A) -> tuple[Tensor, Tensor]:
    """E.3, operator R_alpha: rotate by ``angle`` with band-limited resampling."""
    return affine_resample(x, rotation(angle), a=a)


def pseudo_rotation(x: Tensor, angle: float, a: int = LANCZOS_A) -> tuple[Tensor, Tensor]:
    """E.3, operator R*_alpha: filter as a rotation by ``angle`` would (to the band both grids hold)
    without moving anything; valid away from the border by the filter's radius."""
    f = bandlimit_filter(rotation(-angle).to(x.device), a=a, radius=2 * a, up=1).to(x)
    r = f.shape[0] // 2
    n, c, h, w = x.shape
    out = F.conv2d(F.pad(x.reshape(n * c, 1, h, w), [r] * 4), f.flip([0, 1])[None, None]).reshape(n, c, h, w)
    mask = torch.zeros_like(x)
    mask[..., r:-r, r:-r] = 1
    return out, mask


# --- the metric ------------------------------------------------------------------------------------


def input_transform(generator: nn.Module, metric: str) -> Tensor:
    """The generator's user transform of its Fourier input; a one-line error for one without it."""
    transform = getattr(getattr(getattr(generator, "synthesis", None), "input", None), "transform", None)
    if not isinstance(transform, Tensor) or transform.shape != (3, 3):
        name = f"{type(generator).__module__.rsplit('.', 1)[-1]}.{type(generator).__name__}"
        raise UserError(f"{metric} needs a StyleGAN3 generator (its Fourier-feature input is what gets translated and rotated); {name} has no such input")
    return transform


def random_transform(kind: Kind, group: int, resolution: int, translate_max: float, rotate_max: float) -> tuple[float, float, float]:
    """(tx, ty, angle) of a group: translations in image sides (whole pixels for "int"), angle in radians."""
    rng = torch.Generator().manual_seed(TRANSFORM_SEED + group)
    if kind == "rot":
        return 0.0, 0.0, float((torch.rand([], generator=rng, dtype=torch.float64) * 2 - 1) * rotate_max)
    t = (torch.rand(2, generator=rng, dtype=torch.float64) * 2 - 1) * translate_max
    if kind == "int":
        t = (t * resolution).round() / resolution
    return float(t[0]), float(t[1]), 0.0


def squared_errors(synthesis: Callable[[Tensor], Tensor], transform: Tensor, ws: Tensor, kind: Kind, tx: float, ty: float, angle: float) -> Tensor:
    """[sum of masked squared differences, sum of the mask] of one group (float64)."""
    eye = torch.eye(3, device=transform.device)
    transform.copy_(eye)
    original = synthesis(ws)
    if kind == "rot":
        transform.copy_(rotation(-angle).to(transform))  # the input maps output points back: R^-1
        generated, generated_mask = pseudo_rotation(synthesis(ws), angle)
        reference, reference_mask = fractional_rotation(original, angle)
        mask = generated_mask * reference_mask
    else:
        transform.copy_(eye)
        transform[:2, 2] = -torch.tensor([tx, ty]).to(transform)  # the input maps output point p back to p - t
        generated = synthesis(ws)
        reference, mask = (integer_translation if kind == "int" else fractional_translation)(original, tx, ty)
    return torch.stack([((reference - generated).square() * mask).double().sum(), mask.double().sum()])


def psnr(sums: Tensor) -> float:
    """PSNR in dB of the pooled error ``[sum of squared errors, count]``."""
    mse = float(sums[0] / sums[1])
    return math.inf if mse == 0 else 20 * math.log10(PEAK_TO_PEAK) - 10 * math.log10(mse)


@torch.no_grad()
def equivariance_psnr(
    generator: nn.Module,
    metric: str,
    num_samples: int,
    device: torch.device | str = "cpu",
    classes: Sequence[int] | None = None,
    shard: Shard = Shard(),
    gather: Gather = single_process_gather,
    translate_max: float = TRANSLATE_MAX,
    rotate_max: float = ROTATE_MAX,
) -> float:
    """One equivariance metric (a name of ``METRICS``) over latents of seeds 0 .. ``num_samples`` - 1,
    truncation psi 1; ``classes[i]``: the class of sample i of a conditional generator. Each process
    takes every ``world_size``-th group; ``gather`` brings the sums of all processes together."""
    kind = METRICS[metric].kind
    transform = input_transform(generator, metric)
    groups = math.ceil(num_samples / GROUP_SIZE)
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    saved = transform.clone()
    try:
        for group in range(shard.rank, groups, shard.world_size):
            seeds = list(range(group * GROUP_SIZE, min((group + 1) * GROUP_SIZE, num_samples)))
            z = latents_for_seeds(seeds, generator.z_dim, device)
            c = None if classes is None else class_vectors([classes[s] for s in seeds], generator.c_dim, device)
            ws = generator.mapping(z, c)
            tx, ty, angle = random_transform(kind, group, generator.resolution, translate_max, rotate_max)
            sums += squared_errors(lambda w: generator.synthesis(w, noise_mode="const"), transform, ws, kind, tx, ty, angle)
    finally:
        transform.copy_(saved)  # the generator's own transform (a video's, say) is kept
    return psnr(gather(sums).sum(dim=0).cpu())
