"""A small classifier of single rendered digits, shipped with the package: it reads each channel of
a stacked-digits image (``gan_lightning.data.stacked_digits``) to tell which of the 1000 modes a
generated image is, as the pretrained MNIST classifier does for StackedMNIST (``stacked_modes.py``).

The weights file is made by ``python scripts/train_digits_classifier.py`` (a few minutes on CPU)
from the deterministic rendered digits; it states its held-out accuracy.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_PATH = Path(__file__).with_name("digits_classifier.pt")
INPUT_RESOLUTION = 32
NUM_DIGITS = 10


class DigitsClassifier(nn.Module):
    """Conv net over 32x32 one-channel images in [-1, 1] (white digit on black) -> 10 digit logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),  # keep the 4x4 layout: where the strokes are tells 6 from 9
        )  # fmt: skip
        self.head = nn.Linear(64 * 4 * 4, NUM_DIGITS)

    @staticmethod
    def prepare(images: Tensor) -> Tensor:
        """(N, 1, H, W) in [-1, 1], any resolution -> (N, 1, 32, 32) float."""
        if images.shape[1] != 1:
            raise ValueError(f"the digits classifier reads one channel at a time, got {images.shape[1]} channels")
        if images.shape[-1] != INPUT_RESOLUTION or images.shape[-2] != INPUT_RESOLUTION:
            images = F.interpolate(images.float(), size=INPUT_RESOLUTION, mode="bilinear", antialias=True, align_corners=False)
        return images.float().clamp(-1, 1)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.body(self.prepare(images)))


def load_digits_classifier(device: torch.device | str = "cpu") -> DigitsClassifier:
    """The shipped classifier, frozen and in eval mode on ``device``."""
    if not WEIGHTS_PATH.is_file():
        raise FileNotFoundError(
            f"digits classifier weights not found at {WEIGHTS_PATH}; rebuild them with `python scripts/train_digits_classifier.py`"
        )
    model = DigitsClassifier()
    model.load_state_dict(torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(device)
