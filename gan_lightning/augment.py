"""Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with Limited Data").

Every image the discriminator sees (real or generated) passes through the same random pipeline,
each transform applied with probability p per image: the "bgc" transforms of NVlabs' AugmentPipe,
with its default strengths and its split of the rotation probability. Geometric transforms are
composed into one per-image affine matrix and applied by PyTorch's ``affine_grid``/``grid_sample``
with reflection padding; colour transforms into one per-image 3x3 colour matrix plus a brightness
offset (written by hand: kornia's hue and saturation go through HSV, which assumes [0, 1] inputs and
clips, while generated images leave that range; a colour matrix is linear and exact for any value).
Everything is differentiable with respect to the images, so the generator learns through it.

Known differences from NVlabs' AugmentPipe (not compared against it; see the StyleGAN fidelity issue):
- colour: NVlabs composes brightness first, then contrast, luma flip, hue and saturation, in one 4x4
  matrix; here brightness is added after the others. On 1-channel images NVlabs also flips luma; here
  only brightness and contrast apply.
- geometric: NVlabs reflection-pads, upsamples 2x with the sym6 wavelet filter, samples, and
  downsamples again; here the image is sampled bilinearly at its own resolution.

p is a buffer: it is saved in checkpoints and restored on resume.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.errors import UserError
from gan_lightning.torch_utils import host_scalar

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


def _eye(n: int, size: int, device: torch.device) -> Tensor:
    return torch.eye(size, device=device).repeat(n, 1, 1)


def _scale2d(sx: Tensor, sy: Tensor) -> Tensor:
    m = _eye(sx.shape[0], 3, sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate2d(theta: Tensor) -> Tensor:
    m = _eye(theta.shape[0], 3, theta.device)
    cos, sin = theta.cos(), theta.sin()
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


def _translate2d(tx: Tensor, ty: Tensor) -> Tensor:
    m = _eye(tx.shape[0], 3, tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


class AdaptiveAugment(nn.Module):
    """The ADA "bgc" pipeline (blit, geometric, colour) with a probability ``p`` kept as a buffer.

    Args:
        p: initial probability of each transform.
        geometric: x-flip, 90-degree rotation, integer translation, isotropic scaling, arbitrary
            rotation, anisotropic scaling, fractional translation.
        color: brightness, contrast, luma flip, hue rotation, saturation (the last three need RGB).
    """

    def __init__(self, p: float = 0.0, geometric: bool = True, color: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise UserError(f"augmentation probability p must be in [0, 1], got {p}")
        self.geometric = geometric
        self.color = color
        self.register_buffer("p", torch.tensor(float(p)))

    def update_p(self, real_sign_mean: float, num_images: int, target: float, speed_kimg: float) -> float:
        """ADA heuristic: r_t = E[sign(D(real))]; p moves by num_images / (speed_kimg * 1000) toward r_t = target."""
        step = math.copysign(num_images / (speed_kimg * 1000.0), real_sign_mean - target) if real_sign_mean != target else 0.0
        self.p.copy_((self.p + step).clamp(0.0, 1.0))
        return host_scalar(self.p)

    def forward(self, images: Tensor) -> Tensor:
        p = host_scalar(self.p)  # read from the device once per change of p, not per call
        if p <= 0.0 or not (self.geometric or self.color):
            return images
        dtype = images.dtype
        images = images.float()
        if self.geometric:
            images = self._geometric(images, p)
        if self.color:
            images = self._color(images, p)
        return images.to(dtype)

    # Each random parameter falls back to its identity value with probability 1 - p, per image.
    @staticmethod
    def _gate(values: Tensor, identity: float, p: float) -> Tensor:
        keep = torch.rand(values.shape[0], device=values.device) < p
        return torch.where(keep, values, torch.full_like(values, identity))

    def _geometric(self, images: Tensor, p: float) -> Tensor:
        n, _, h, w = images.shape
        dev = images.device
        # Matrices map output to input coordinates (what grid_sample reads), normalised to [-1, 1]:
        # one image side spans 2 units. Each transform's distribution is symmetric, so building
        # the inverse directly samples the same augmentations.
        m = _eye(n, 3, dev)
        flip = self._gate(1.0 - 2.0 * torch.randint(0, 2, (n,), device=dev).float(), 1.0, p)
        m = m @ _scale2d(flip, torch.ones_like(flip))
        quarter_turns = self._gate(torch.randint(0, 4, (n,), device=dev).float(), 0.0, p)
        m = m @ _rotate2d(quarter_turns * (math.pi / 2))
        shift = (torch.rand(n, 2, device=dev) * 2 - 1) * INTEGER_TRANSLATION_MAX
        shift = torch.stack([(shift[:, 0] * w).round() * 2 / w, (shift[:, 1] * h).round() * 2 / h], dim=1)
        keep = (torch.rand(n, device=dev) < p).float()[:, None]
        m = m @ _translate2d(shift[:, 0] * keep[:, 0], shift[:, 1] * keep[:, 0])
        scale = self._gate(2.0 ** (torch.randn(n, device=dev) * SCALE_STD), 1.0, p)
        m = m @ _scale2d(scale, scale)
        p_rot = 1.0 - math.sqrt(max(1.0 - p, 0.0))  # two rotations: total probability p
        m = m @ _rotate2d(self._gate((torch.rand(n, device=dev) * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rot))
        aniso = self._gate(2.0 ** (torch.randn(n, device=dev) * ANISO_STD), 1.0, p)
        m = m @ _scale2d(aniso, 1.0 / aniso)
        m = m @ _rotate2d(self._gate((torch.rand(n, device=dev) * 2 - 1) * math.pi * ROTATE_MAX, 0.0, p_rot))
        frac = torch.randn(n, 2, device=dev) * FRACTIONAL_TRANSLATION_STD * 2
        keep = (torch.rand(n, device=dev) < p).float()
        m = m @ _translate2d(frac[:, 0] * keep, frac[:, 1] * keep)
        if torch.equal(m, _eye(n, 3, dev)):
            return images
        grid = F.affine_grid(m[:, :2, :], list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _color(self, images: Tensor, p: float) -> Tensor:
        n, c = images.shape[:2]
        dev = images.device
        brightness = self._gate(torch.randn(n, device=dev) * BRIGHTNESS_STD, 0.0, p)
        contrast = self._gate(2.0 ** (torch.randn(n, device=dev) * CONTRAST_STD), 1.0, p)
        if c != 3:  # luma flip, hue and saturation act on colour: grayscale keeps brightness and contrast
            return images * contrast[:, None, None, None] + brightness[:, None, None, None]
        a = 1.0 / math.sqrt(3.0)
        v = torch.full((3,), a, device=dev)  # luma axis
        vvt = torch.outer(v, v)
        eye = torch.eye(3, device=dev)
        m = eye.repeat(n, 1, 1) * contrast[:, None, None]
        flip = self._gate(torch.randint(0, 2, (n,), device=dev).float(), 0.0, p)
        m = (eye - 2.0 * vvt * flip[:, None, None]) @ m  # Householder reflection through the luma plane
        theta = self._gate((torch.rand(n, device=dev) * 2 - 1) * math.pi * HUE_MAX, 0.0, p)
        cross = torch.tensor([[0.0, -a, a], [a, 0.0, -a], [-a, a, 0.0]], device=dev)  # [v]_x
        cos, sin = theta.cos()[:, None, None], theta.sin()[:, None, None]
        m = (cos * eye + sin * cross + (1 - cos) * vvt) @ m  # Rodrigues rotation about the luma axis
        saturation = self._gate(2.0 ** (torch.randn(n, device=dev) * SATURATION_STD), 1.0, p)
        m = (vvt + (eye - vvt) * saturation[:, None, None]) @ m
        out = torch.einsum("nij,njhw->nihw", m, images)
        return out + brightness[:, None, None, None]

    def extra_repr(self) -> str:
        return f"p={float(self.p):.4f}, geometric={self.geometric}, color={self.color}"
