"""Mode coverage on stacked digits (Metz et al. 2017; Lin et al. 2018): each channel of a generated
image is read by the shipped digits classifier (``digits_classifier.py``), the three digits name one
of 1000 modes, and the figures are how many modes at least one sample falls into and the KL
divergence of the samples' mode distribution from the uniform one."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gan_lightning.evaluation.digits_classifier import NUM_DIGITS, DigitsClassifier, load_digits_classifier

NUM_MODES = NUM_DIGITS**3


def mode_statistics(modes: Tensor, num_modes: int = NUM_MODES) -> dict[str, float]:
    """From the mode index of each sample: ``modes_covered`` (of ``num_modes``) and
    ``kl_to_uniform`` = KL(p || U) = sum_k p_k log(p_k num_modes), p the samples' mode frequencies."""
    counts = torch.bincount(modes.flatten().long().cpu(), minlength=num_modes).double()
    p = counts / counts.sum()
    present = p > 0
    kl = (p[present] * (p[present] * num_modes).log()).sum().item()
    return {"modes_covered": float(present.sum().item()), "kl_to_uniform": max(kl, 0.0)}


def modes_of_digit_logits(logits: Tensor) -> Tensor:
    """(N, 3, 10) digit logits of each channel -> the mode of each image, 100 * red + 10 * green + blue."""
    digits = logits.argmax(dim=-1)
    return digits[:, 0] * NUM_DIGITS**2 + digits[:, 1] * NUM_DIGITS + digits[:, 2]


@torch.no_grad()
def digit_logits(images: Tensor, classifier: DigitsClassifier | None = None) -> Tensor:
    """(N, 3, H, W) images in [-1, 1] -> (N, 3, 10): the classifier's digit logits of each channel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"stacked digits are (N, 3, H, W) images, got shape {tuple(images.shape)}")
    classifier = classifier or load_digits_classifier(images.device)
    planes = images.reshape(-1, 1, *images.shape[-2:])  # image-major: the three planes of image i are 3i..3i+2
    return torch.cat([classifier(chunk) for chunk in planes.split(768)]).view(images.shape[0], 3, NUM_DIGITS)


def stacked_modes(images: Tensor, classifier: DigitsClassifier | None = None) -> Tensor:
    """(N, 3, H, W) images in [-1, 1] -> the mode of each, 100 * red + 10 * green + blue digit."""
    return modes_of_digit_logits(digit_logits(images, classifier))


class StackedDigitsDetector(nn.Module):
    """uint8 RGB images -> (the 30 digit logits of their three channels, no class logits): the
    network of the ``modes26k`` metric, offline."""

    name = "digits-classifier"

    def __init__(self, classifier: DigitsClassifier | None = None) -> None:
        super().__init__()
        self.classifier = classifier or load_digits_classifier()

    def forward(self, images: Tensor) -> tuple[Tensor, None]:
        return digit_logits(images.float() / 127.5 - 1, self.classifier).flatten(1), None


def stacked_mode_coverage(images: Tensor, classifier: DigitsClassifier | None = None) -> dict[str, float]:
    """``modes_covered`` (of 1000) and ``kl_to_uniform`` of generated stacked-digit images; real data
    with each mode equally often gives about 1000 and 0, one repeated image 1 and log(1000)."""
    return mode_statistics(stacked_modes(images, classifier))


__all__ = ["NUM_MODES", "StackedDigitsDetector", "digit_logits", "mode_statistics", "modes_of_digit_logits", "stacked_modes", "stacked_mode_coverage"]
