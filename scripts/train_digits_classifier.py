"""Rebuilds the shipped digits classifier weights (``gan_lightning/evaluation/digits_classifier.pt``).

    python scripts/train_digits_classifier.py [--out PATH]

It trains on single rendered digits (``gan_lightning.data.stacked_digits.digit_image``, seed 1234:
not the stream the stacked-digits DataModule draws from) and prints the accuracy on 4000 held-out
digits of another seed. It lives outside the package because it joins the data layer to the
evaluation layer; the evaluation instruments only read the weights. A few minutes on CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.data.stacked_digits import digit_image
from gan_lightning.evaluation.digits_classifier import INPUT_RESOLUTION, WEIGHTS_PATH, DigitsClassifier

TRAIN_SEED, HELD_OUT_SEED = 1234, 4321
BATCH = 128


def rendered_digits(count: int, seed: int) -> tuple[Tensor, Tensor]:
    images, digits = zip(*(digit_image(seed, i, INPUT_RESOLUTION) for i in range(count)))
    return torch.stack(images), torch.tensor(digits)


def held_out_accuracy(model: DigitsClassifier, count: int = 4000) -> float:
    x, y = rendered_digits(count, HELD_OUT_SEED)
    with torch.no_grad():
        return (model.eval()(x).argmax(1) == y).float().mean().item()


def train_classifier(num_images: int = 30_000, epochs: int = 6) -> DigitsClassifier:
    torch.manual_seed(TRAIN_SEED)
    train_x, train_y = rendered_digits(num_images, TRAIN_SEED)
    model = DigitsClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=epochs * (num_images // BATCH))
    for _ in range(epochs):
        for batch in torch.randperm(num_images).split(BATCH):
            if len(batch) < BATCH:
                continue
            # a little noise: generated channels are never as clean as rendered ones
            x = train_x[batch] + 0.05 * torch.randn_like(train_x[batch])
            loss = F.cross_entropy(model(x), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the shipped digits classifier weights.")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args()
    model = train_classifier()
    torch.save(model.state_dict(), args.out)
    print(f"held-out accuracy {held_out_accuracy(model):.4f} on 4000 rendered digits; weights written to {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
