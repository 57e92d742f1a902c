"""Style transfer by optimising the image itself (Gatys et al. 2016, "Image Style Transfer Using
Convolutional Neural Networks"): start from the photo and change its pixels until its features in a
frozen network keep the photo's content at one layer and take the style's Gram statistics at all.

No training and no checkpoint: the quality reference the trained modes are compared with. The
style loss is the presets' own (``core/losses.py`` with ``relative=True``: each layer's Gram distance
divided by the style Gram's size), so the weights mean the same in every feature network. The content
distance is divided by the larger of the photo's and the style's feature size at the content layer
(``content_scale``): reaching a style whose features are larger than the photo's takes a feature
change of the style's size, which a content term measured in the photo's size alone forbids.

The optimiser works on ``u`` with the image ``tanh(u)``, so every image it evaluates is in [-1, 1]
and the image returned is the one whose loss it reached. On free pixels L-BFGS puts part of the
texture in values outside the range, which a clamp on return then removes; a loss on the clamped
image instead gives the pixels past the range zero gradient, so they stay there; projecting after
each step invalidates L-BFGS's curvature pairs. tanh is smooth and its gradient nowhere zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.common.torch_utils import tanh_argument
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


def content_scale(photo_features: Tensor, style_features: Tensor) -> Tensor:
    """The content distance's unit: the larger mean square of the photo's and the style's features at
    the content layer."""
    return torch.maximum(photo_features.float().square().mean(), style_features.float().square().mean()).clamp_min(1e-12)


def gatys_losses(
    network: FeatureNetwork, image: Tensor, content_features: Tensor, style_grams: list[Tensor], content_index: int, scale: Tensor
) -> tuple[Tensor, Tensor]:
    """(style loss, content loss) of ``image`` against the photo's features at the content layer (in
    units of ``scale``, see ``content_scale``) and the style's Gram matrices at every layer."""
    # Gatys et al. 2016, eq. 7: L = alpha * L_content(p, x) + beta * L_style(a, x); the weights are applied by the caller
    features = network(image)
    style = gram_style_loss(features, style_grams, relative=True)
    return style, feature_content_loss(features[content_index], content_features) / scale


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
        steps: loss evaluations, a forward and backward pass each (Adam: one per step; L-BFGS: its
            line search's too).
        style_weight / content_weight: beta / alpha of the paper's eq. 7, on the relative losses.
        content_layer: the layer whose features keep the photo's content (relu1_1 .. relu4_1).
        optimizer: "lbfgs" (the paper's) or "adam".
        lr: step size in ``u`` (image = tanh(u), about the pixel's own scale away from -1 and 1);
            None: 1.0 for L-BFGS, 0.02 for Adam.
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
        style_features = network(style)
        style_grams = [gram_matrix(f) for f in style_features]
        scale = content_scale(content_features, style_features[content_index])
    # The paper's init from the photo (keeps its layout), in tanh's argument.
    u = tanh_argument(photo.detach().float()).clone(memory_format=torch.contiguous_format).requires_grad_(True)
    evaluations: list[int] = [0]
    best: list[Tensor] = [torch.tensor(float("inf")), torch.tanh(u.detach())]  # lowest loss seen, its image

    def closure() -> Tensor:
        solver.zero_grad()
        image = torch.tanh(u)
        style_loss, content_loss = gatys_losses(network, image, content_features, style_grams, content_index, scale)
        loss = style_weight * style_loss + content_weight * content_loss
        loss.backward()
        evaluations[0] += 1
        if loss.detach() < best[0]:
            best[:] = [loss.detach(), image.detach().clone()]
        if progress is not None:
            progress(evaluations[0], steps, float(style_loss), float(content_loss))
        return loss

    if optimizer == "lbfgs":
        # With the relative losses the pixel gradients are small (about 1e-4); without a line search
        # torch's L-BFGS then rejects its curvature pairs (a fixed y.s > 1e-10), crawls at step 1,
        # and overshoots by orders of magnitude once one pair passes. The strong Wolfe line search
        # sets each step from the loss itself. Its evaluations count as steps, so --steps is the
        # number of forward and backward passes either way; the tolerances are 0 so only the steps stop it.
        solver: torch.optim.Optimizer = torch.optim.LBFGS(
            [u], lr=lr or 1.0, max_iter=steps, max_eval=steps, history_size=50,
            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe",
        )  # fmt: skip
        while evaluations[0] < steps:  # a stalled line search ends a call early; resume from its memory
            solver.param_groups[0]["max_eval"] = steps - evaluations[0]
            solver.step(closure)
    else:
        solver = torch.optim.Adam([u], lr=lr or 0.02)
        for _ in range(steps):
            solver.step(closure)
    return best[1]
