"""Rebuilds the shipped shapes classifier weights (``gan_lightning/evaluation/shapes_classifier.pt``).

    python scripts/train_shapes_classifier.py [--out PATH]

It trains on the bundled shapes dataset (the data layer), which is why it lives outside the
package: the evaluation instruments only read the weights. About a minute on CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.data.shapes import NUM_CLASSES, ShapesDataset
from gan_lightning.evaluation.shapes_classifier import INPUT_RESOLUTION, WEIGHTS_PATH, ShapesClassifier
from gan_lightning.common.images import from_unit


def train_classifier(num_images: int = 24000, epochs: int = 8, seed: int = 1234) -> tuple[ShapesClassifier, float]:
    """Trains on freshly generated images (seed 1234, not the default training seed); returns (model, held-out accuracy)."""
    torch.manual_seed(seed)
    train = ShapesDataset(num_images, INPUT_RESOLUTION, seed=seed)
    held_out = ShapesDataset(2000, INPUT_RESOLUTION, seed=seed + 1)
    train_x, train_y = _materialize(train)
    test_x, test_y = _materialize(held_out)
    model = ShapesClassifier(num_classes=NUM_CLASSES)
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
    noise = from_unit(torch.rand(n, 3, INPUT_RESOLUTION, INPUT_RESOLUTION))
    blobs = F.interpolate(from_unit(torch.rand(n, 3, 4, 4)), size=INPUT_RESOLUTION, mode="bicubic").clamp(-1, 1)
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
