"""Style transfer by optimising the image itself (Gatys et al. 2016, "Image Style Transfer Using
Convolutional Neural Networks"): start from the photo and change its pixels until its features in a
frozen network keep the photo's content at one layer and take the style's Gram statistics at all.

No training and no checkpoint: the quality reference the trained modes are compared with. The
losses are the presets' own (``core/losses.py`` with ``relative=True``: each layer's distance divided
by the target's size), so the weights mean the same in every feature network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import feature_content_loss, gram_matrix, gram_style_loss
from gan_lightning.core.nets.perceptual import LAYER_NAMES, FeatureNetwork

ImageOptimizer = Literal["lbfgs", "adam"]
IMAGE_OPTIMIZERS: tuple[str, ...] = get_args(ImageOptimizer)
# Per step: (step, steps, style loss, content loss).
Progress = Callable[[int, int, float, float], None]


def check_optimizer(name: str) -> str:
    if name not in IMAGE_OPTIMIZERS:
        raise UserError(f"optimizer {name!r} is invalid; allowed: {', '.join(IMAGE_OPTIMIZERS)}")
    return name


def gatys_losses(
    network: FeatureNetwork, image: Tensor, content_features: Tensor, style_grams: list[Tensor], content_index: int
) -> tuple[Tensor, Tensor]:
    """(style loss, content loss) of ``image`` against the photo's features at the content layer and
    the style's Gram matrices at every layer."""
    # Gatys et al. 2016, eq. 7: L = alpha * L_content(p, x) + beta * L_style(a, x); the weights are applied by the caller
    features = network(image)
    style = gram_style_loss(features, style_grams, relative=True)
    return style, feature_content_loss(features[content_index], content_features, relative=True)


def optimise_image(
    photo: Tensor,
    style: Tensor,
    network: FeatureNetwork,
    steps: int = 300,
    style_weight: float = 1.0,
    content_weight: float = 0.1,
    content_layer: str = "relu2_1",
    optimizer: ImageOptimizer = "lbfgs",
    lr: float | None = None,
    progress: Progress | None = None,
) -> Tensor:
    """The stylized photo, (1, 3, H, W) in [-1, 1], same size as ``photo`` (1, 3, H, W); ``style``
    (1, 3, H', W') in [-1, 1], any size (its size sets the scale of its strokes in the result).

    Args:
        steps: optimizer steps (L-BFGS: one loss evaluation each).
        style_weight / content_weight: beta / alpha of the paper's eq. 7, on the relative losses.
        content_layer: the layer whose features keep the photo's content (relu1_1 .. relu4_1).
        optimizer: "lbfgs" (the paper's) or "adam".
        lr: step size; None: 1.0 for L-BFGS, 0.02 for Adam (pixels in [-1, 1]).
    """
    check_at_least("steps", steps, 1)
    check_optimizer(optimizer)
    if content_layer not in LAYER_NAMES:
        raise UserError(f"content layer {content_layer!r} is invalid; allowed: {', '.join(LAYER_NAMES)}")
    for name, weight in (("style weight", style_weight), ("content weight", content_weight)):
        if not weight >= 0:
            raise UserError(f"{name} {weight} is invalid; allowed: >= 0")
    if photo.ndim != 4 or photo.shape[:2] != (1, 3) or style.ndim != 4 or style.shape[:2] != (1, 3):
        raise ValueError(f"photo {tuple(photo.shape)} and style {tuple(style.shape)} invalid; allowed: (1, 3, H, W) each")
    network = network.to(photo.device)
    content_index = LAYER_NAMES.index(content_layer)
    with torch.no_grad():
        content_features = network(photo)[content_index]
        style_grams = [gram_matrix(f) for f in network(style)]
    image = photo.detach().float().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # the paper's init from the photo: keeps its layout
    if optimizer == "lbfgs":
        # One iteration per step (one loss evaluation), so progress and steps count the same thing.
        solver: torch.optim.Optimizer = torch.optim.LBFGS([image], lr=lr or 1.0, max_iter=1, history_size=50)
    else:
        solver = torch.optim.Adam([image], lr=lr or 0.02)
    terms: list[Tensor] = []  # the last evaluation's (style, content) losses, for progress
    best: list[Tensor] = [torch.tensor(float("inf")), image.detach().clone()]  # lowest loss seen, its image

    def closure() -> Tensor:
        solver.zero_grad()
        style_loss, content_loss = gatys_losses(network, image, content_features, style_grams, content_index)
        loss = style_weight * style_loss + content_weight * content_loss
        loss.backward()
        terms[:] = [style_loss.detach(), content_loss.detach()]
        if loss.detach() < best[0]:
            best[:] = [loss.detach(), image.detach().clone()]
        return loss

    for step in range(1, steps + 1):
        solver.step(closure)
        if optimizer == "adam":
            with torch.no_grad():
                image.clamp_(-1, 1)
        if progress is not None:
            progress(step, steps, float(terms[0]), float(terms[1]))
    # L-BFGS runs unclamped: clamping between its steps breaks its curvature estimate (it then
    # diverged on pairs of the style benchmark); without a line search a late step can still
    # overshoot, so the image of the lowest loss is the result.
    image = best[1]
    return image.clamp(-1, 1)
