"""A small classifier of the bundled shapes dataset, shipped with the package.

It plays the part that a pretrained MNIST classifier plays in the GAN literature (mode counting as in
Metz et al. 2017 / Lin et al. 2018, FID with a domain network): from a batch of generated images it
measures how many samples are a clean, recognisable shape and how many of the dataset's modes are
produced (``shapes_quality.py``), and gives 128-d features for a Fréchet distance that needs no
download (``detectors.ShapesDetector``).

The weights file is made by ``python scripts/train_shapes_classifier.py`` (about a minute on CPU)
from the deterministic dataset; it is tiny, so the package ships it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

WEIGHTS_PATH = Path(__file__).with_name("shapes_classifier.pt")
INPUT_RESOLUTION = 32


class ShapesClassifier(nn.Module):
    """Conv net over 32x32 RGB images in [-1, 1]: ``features`` (128-d) then a linear class head.

    Args:
        num_classes: the dataset's number of modes (the shipped weights say how many: see the loader).
    """

    num_features = 128

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(128, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),  # keep the 4x4 layout: corners tell squares from circles
            nn.Linear(128 * 4 * 4, self.num_features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(self.num_features, num_classes)

    @staticmethod
    def prepare(images: Tensor) -> Tensor:
        """Any resolution, 1 or 3 channels, values in [-1, 1] -> 3x32x32 float."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[-1] != INPUT_RESOLUTION or images.shape[-2] != INPUT_RESOLUTION:
            images = F.interpolate(images.float(), size=INPUT_RESOLUTION, mode="bilinear", antialias=True, align_corners=False)
        return images.float().clamp(-1, 1)

    def features(self, images: Tensor) -> Tensor:
        return self.body(self.prepare(images))

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images))


def load_shapes_classifier(device: torch.device | str = "cpu") -> ShapesClassifier:
    """The shipped classifier, frozen and in eval mode on ``device``."""
    if not WEIGHTS_PATH.is_file():
        raise FileNotFoundError(
            f"shapes classifier weights not found at {WEIGHTS_PATH}; rebuild them with "
            "`python scripts/train_shapes_classifier.py`"
        )
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    # The class count comes from the weights, so it is written down once (in the dataset that trained them).
    model = ShapesClassifier(num_classes=state["head.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval().requires_grad_(False).to(device)
