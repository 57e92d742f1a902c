"""Measurements of the bundled style example's two looks (``gan_lightning.data.shape_looks``) on
image tensors in [-1, 1] of shape (N, 3, H, W).

Both looks of one scene have the same silhouette, so a translation can be checked against known
ground truth: style statistics (:func:`look_statistics`) should move from the content set to the
style set while each image's silhouette (:func:`foreground_mask`) stays where it was.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _border(images: Tensor) -> Tensor:
    """Pixels of the 1-pixel frame, (N, 3, P): the background in every bundled image."""
    top, bottom = images[:, :, 0, :], images[:, :, -1, :]
    left, right = images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]
    return torch.cat([top, bottom, left, right], dim=2)


def foreground_mask(images: Tensor, threshold: float = 0.25) -> Tensor:
    """(N, H, W) bool: pixels that differ from the image's own background colour (median of its border)
    by more than ``threshold`` (mean absolute difference over channels, images in [-1, 1])."""
    assert images.ndim == 4 and images.shape[1] == 3, tuple(images.shape)
    background = _border(images).median(dim=2).values[:, :, None, None]
    return (images - background).abs().mean(dim=1) > threshold


def mask_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N,) intersection over union of two (N, H, W) boolean masks."""
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float().clamp(min=1)
    return inter / union


def look_statistics(images: Tensor) -> Tensor:
    """(N, 6) per-image look descriptors: background RGB (border median), mean luminance, luminance
    contrast (std), and high-frequency energy (mean absolute Laplacian, high for hatching and ink)."""
    assert images.ndim == 4 and images.shape[1] == 3, tuple(images.shape)
    images = images.float()
    background = _border(images).median(dim=2).values
    luminance = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2])[:, None]
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], device=images.device)
    high_freq = F.conv2d(luminance, laplacian[None, None]).abs().flatten(1).mean(1, keepdim=True)
    flat = luminance.flatten(1)
    return torch.cat([background, flat.mean(1, keepdim=True), flat.std(1, keepdim=True), high_freq], dim=1)


def look_distance(images: Tensor, reference: Tensor) -> float:
    """Distance between the mean look descriptors of two image sets (smaller: closer in look)."""
    return float((look_statistics(images).mean(0) - look_statistics(reference).mean(0)).norm())
