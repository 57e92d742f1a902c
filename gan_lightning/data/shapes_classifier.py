"""A small classifier of the bundled shapes dataset, shipped with the package.

It plays the part that a pretrained MNIST classifier plays in the GAN literature (mode counting as in
Metz et al. 2017 / Lin et al. 2018, FID with a domain network): from a batch of generated images it
measures how many samples are a clean, recognisable shape (confidence), how many of the 16 modes are
produced (coverage), and gives 128-d features for a Fréchet distance that needs no download.

The weights file is made by ``python -m gan_lightning.data.shapes_classifier`` (about a minute on CPU)
from the deterministic dataset; it is tiny, so the package ships it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_lightning.data.shapes import NUM_CLASSES, ShapesDataset

WEIGHTS_PATH = Path(__file__).with_name("shapes_classifier.pt")
INPUT_RESOLUTION = 32
# A sample counts as a recognisable shape when the classifier gives its class at least this probability.
CONFIDENT = 0.9


class ShapesClassifier(nn.Module):
    """Conv net over 32x32 RGB images in [-1, 1]: ``features`` (128-d) then a linear class head."""

    num_features = 128

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(128, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),  # keep the 4x4 layout: corners tell squares from circles
            nn.Linear(128 * 4 * 4, self.num_features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(self.num_features, NUM_CLASSES)

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


class ShapesFeatures(nn.Module):
    """Feature extractor for torchmetrics' FID: takes images in [0, 1] (its ``normalize=True`` convention)."""

    num_features = ShapesClassifier.num_features

    def __init__(self, classifier: ShapesClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.features(images * 2 - 1)


def load_shapes_classifier(device: torch.device | str = "cpu") -> ShapesClassifier:
    if not WEIGHTS_PATH.is_file():
        raise FileNotFoundError(
            f"shapes classifier weights not found at {WEIGHTS_PATH}; rebuild them with "
            "`python -m gan_lightning.data.shapes_classifier`"
        )
    model = ShapesClassifier()
    model.load_state_dict(torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False).to(device)


@torch.no_grad()
def shapes_quality(images: Tensor, classifier: ShapesClassifier | None = None) -> dict[str, float]:
    """Quality and mode coverage of images in [-1, 1] that should look like the bundled shapes.

    - ``confident``: fraction of images the classifier assigns to one mode with p >= 0.9
      (real data: about 1.0; noise or blobs: near 0).
    - ``mode_coverage``: fraction of the 16 modes that at least one confident image falls into.
    - ``confidence``: mean of the highest class probability.
    """
    classifier = classifier or load_shapes_classifier(images.device)
    probs = torch.cat([classifier(chunk).softmax(dim=1) for chunk in images.split(256)])
    top, labels = probs.max(dim=1)
    confident = top >= CONFIDENT
    covered = torch.unique(labels[confident]).numel()
    return {
        "confident": confident.float().mean().item(),
        "mode_coverage": covered / NUM_CLASSES,
        "confidence": top.mean().item(),
    }


def train_classifier(num_images: int = 24000, epochs: int = 8, seed: int = 1234) -> tuple[ShapesClassifier, float]:
    """Trains on freshly generated images (seed 1234, not the default training seed); returns (model, held-out accuracy)."""
    torch.manual_seed(seed)
    train = ShapesDataset(num_images, INPUT_RESOLUTION, seed=seed)
    held_out = ShapesDataset(2000, INPUT_RESOLUTION, seed=seed + 1)
    train_x, train_y = _materialize(train)
    test_x, test_y = _materialize(held_out)
    model = ShapesClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * (num_images // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
    for _ in range(epochs):
        order = torch.randperm(num_images)
        for batch in order.split(128):
            if len(batch) < 128:
                continue
            x, target = _with_outliers(train_x[batch], F.one_hot(train_y[batch], NUM_CLASSES).float())
            loss = -(target * model(x).log_softmax(dim=1)).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
    return model, accuracy


def _with_outliers(x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Replaces a quarter of the batch by outliers with a uniform (or mixed) target, so that noise,
    colour blobs and half-and-half blends get low confidence instead of an arbitrary class
    (outlier exposure, Hendrycks et al. 2019)."""
    n = x.shape[0] // 12
    uniform = torch.full((n, NUM_CLASSES), 1.0 / NUM_CLASSES)
    noise = torch.rand(n, 3, INPUT_RESOLUTION, INPUT_RESOLUTION) * 2 - 1
    blobs = F.interpolate(torch.rand(n, 3, 4, 4) * 2 - 1, size=INPUT_RESOLUTION, mode="bicubic").clamp(-1, 1)
    lam = torch.rand(n, 1) * 0.4 + 0.3
    partner = torch.randperm(x.shape[0])[:n]
    blends = lam[:, :, None, None] * x[:n] + (1 - lam[:, :, None, None]) * x[partner]
    blend_target = lam * target[:n] + (1 - lam) * target[partner]
    x = torch.cat([blends, noise, blobs, x[3 * n :]])
    target = torch.cat([blend_target, uniform, uniform, target[3 * n :]])
    return x + 0.03 * torch.randn_like(x), target


def _materialize(dataset: ShapesDataset) -> tuple[Tensor, Tensor]:
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(images), torch.tensor(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped shapes classifier weights.")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    model, accuracy = train_classifier()
    torch.save(model.state_dict(), args.out)
    print(f"held-out accuracy {accuracy:.4f}; weights written to {args.out}")


if __name__ == "__main__":
    main()
