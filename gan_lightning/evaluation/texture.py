"""Measures of a stylization, on images in [-1, 1]: how close its texture statistics are to the
style's (Gram matrices in an independent random network, seeded differently from any training
features) and how much of the content's structure it keeps (blurred greys, outlines)."""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d, sobel
from kornia.metrics import ssim

from gan_lightning.core.losses import gram_matrix
from gan_lightning.core.nets.perceptual import FeatureNetwork

# Built on first use and kept: the measuring networks (seed 12345, never a training default).
_MEASURE: dict[str, FeatureNetwork] = {}


def gram_distance(images: torch.Tensor, style: torch.Tensor) -> float:
    """Mean over layers of ||G(images) - G(style)||_F / ||G(style)||_F (relative, so layers weigh
    alike), G the Gram matrix per image against the style images' mean Gram matrix; averaged over images.

    Its filters are zero-mean over all their inputs together, so a flat colour excites them: the
    distance falls when the colours move to the style's, with no texture drawn (a recolouring meets
    the style benchmark's bar on 10 of its 16 tuned pairs). ``texture_gram_distance`` does not."""
    return _relative_gram_distance(_MEASURE.setdefault("net", FeatureNetwork("random", width=16, seed=12345)), images, style)


def texture_gram_distance(images: torch.Tensor, style: torch.Tensor) -> float:
    """``gram_distance`` in a network that sees no flat colour: random filters (seed 12345) each
    zero-mean over every input channel (``random_spatial``), so only spatial structure (texture and
    its colours' edges) moves it: a flat colour shift leaves it unchanged."""
    return _relative_gram_distance(_MEASURE.setdefault("texture", FeatureNetwork("random_spatial", width=8, seed=12345)), images, style)


def _relative_gram_distance(network: FeatureNetwork, images: torch.Tensor, style: torch.Tensor) -> float:
    with torch.no_grad():
        distances = []
        for f, s in zip(network(images), network(style)):
            target = gram_matrix(s).mean(0, keepdim=True)
            distances.append(float(((gram_matrix(f) - target).flatten(1).norm(dim=1) / target.flatten(1).norm(dim=1)).mean()))
    return sum(distances) / len(distances)


def blurred_grey_ssim(images: torch.Tensor, content: torch.Tensor, sigma: float = 2.0) -> float:
    """Mean SSIM of the blurred luminance (Gaussian, ``sigma`` pixels): high when shapes and shading
    stay where they were, whatever fine texture is added."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = lambda t: gaussian_blur2d(((t + 1) / 2 * weights).sum(1, keepdim=True), (9, 9), (sigma, sigma))  # noqa: E731
    return float(ssim(grey(images), grey(content), 11).mean())


def blurred_grey_correlation(images: torch.Tensor, content: torch.Tensor, sigma: float = 2.0) -> float:
    """Mean over images of the Pearson correlation between blurred luminances: 1 when light and dark
    stay where the content has them, about 0 for an unrelated or a flat image (unlike SSIM, which a
    flat image on a photo with large smooth areas scores well on)."""
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = lambda t: gaussian_blur2d(((t + 1) / 2 * weights).sum(1, keepdim=True), (9, 9), (sigma, sigma)).flatten(1)  # noqa: E731
    a, b = grey(images), grey(content)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-8)).mean())


def colour_distance(images: torch.Tensor, reference: torch.Tensor, quantiles: int = 64) -> float:
    """Mean over R, G, B of the 1-D Wasserstein distance between the pixel values of ``images`` (all
    pixels pooled) and of ``reference``, in [0, 1] units: 0 for the same palette in any arrangement,
    whatever the sizes of the two."""
    levels = torch.linspace(0, 1, quantiles, device=images.device)
    a = torch.quantile(((images.float() + 1) / 2).transpose(0, 1).flatten(1), levels, dim=1)
    b = torch.quantile(((reference.float() + 1) / 2).transpose(0, 1).flatten(1), levels, dim=1)
    return float((a - b).abs().mean())


def _centred_edges(images: torch.Tensor) -> torch.Tensor:
    """Per image, the luminance's Sobel magnitudes (kornia's normalised kernel), flattened, minus their mean."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=images.device).view(1, 3, 1, 1)
    edges = sobel((images.float() * weights).sum(1, keepdim=True)).flatten(1)
    return edges - edges.mean(1, keepdim=True)


def edge_correlation(images: torch.Tensor, content: torch.Tensor) -> float:
    """Mean over images of the Pearson correlation between the luminances' Sobel magnitudes: 1 when
    the outlines stay where the content has them; low for soft blobs that keep only the light and
    dark areas (which ``blurred_grey_correlation`` still scores high)."""
    a, b = _centred_edges(images), _centred_edges(content)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-8)).mean())


def weighted_edge_correlation(images: torch.Tensor, content: torch.Tensor, min_edge_std: float) -> float | None:
    """``edge_correlation`` per image, averaged with each image weighted by its content's edge energy
    (the variance of its Sobel magnitudes), counting only images whose content's Sobel magnitudes
    vary by at least ``min_edge_std`` (standard deviation, [-1, 1] luminance): where the content has
    almost no outlines (flat ground, a smooth surface with faint lines) any texture the output adds
    outweighs them and the correlation says nothing about whether they were kept. None where no
    image reaches ``min_edge_std``. On one image that reaches it: ``edge_correlation``."""
    a, b = _centred_edges(images), _centred_edges(content)
    correlation = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-8)
    energy = b.square().mean(1)
    energy = torch.where(energy.sqrt() >= min_edge_std, energy, torch.zeros_like(energy))
    if not bool((energy > 0).any()):
        return None
    return float((energy * correlation).sum() / energy.sum())
