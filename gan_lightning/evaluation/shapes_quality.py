"""Sample quality and mode coverage of images that should look like the bundled shapes data,
measured with the shipped classifier (``shapes_classifier.py``)."""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lightning.evaluation.shapes_classifier import ShapesClassifier, load_shapes_classifier

# A sample counts as a recognisable shape when the classifier gives its class at least this probability.
CONFIDENT = 0.9


@torch.no_grad()
def shapes_quality(images: Tensor, classifier: ShapesClassifier | None = None) -> dict[str, float]:
    """Quality and mode coverage of images in [-1, 1] that should look like the bundled shapes.

    - ``confident``: fraction of images the classifier assigns to one mode with p >= 0.9
      (real data: about 1.0; noise or blobs: near 0).
    - ``mode_coverage``: fraction of the classifier's modes (16 for the shipped one) that at least
      one confident image falls into.
    - ``confidence``: mean of the highest class probability.
    """
    classifier = classifier or load_shapes_classifier(images.device)
    probs = torch.cat([classifier(chunk).softmax(dim=1) for chunk in images.split(256)])
    top, labels = probs.max(dim=1)
    confident = top >= CONFIDENT
    covered = torch.unique(labels[confident]).numel()
    return {
        "confident": confident.float().mean().item(),
        "mode_coverage": covered / classifier.num_classes,
        "confidence": top.mean().item(),
    }


@torch.no_grad()
def class_accuracy(images: Tensor, classes: Tensor, classifier: ShapesClassifier | None = None) -> float:
    """How often the classifier gives generated images of a class-conditional model trained on the
    shapes' classes the class they were generated for (chance: 1/16 with the shipped classifier)."""
    classifier = classifier or load_shapes_classifier(images.device)
    predicted = torch.cat([classifier(chunk).argmax(dim=1) for chunk in images.split(256)])
    return (predicted.cpu() == classes.cpu()).float().mean().item()
