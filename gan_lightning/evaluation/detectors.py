"""The feature networks behind the StyleGAN metric suite, each readable from a local weights folder.

- ``InceptionDetector``: torch-fidelity's port of the TF Inception-v3 that FID, KID and IS were
  defined with (also NVlabs' detector): 2048-d pool features and the 1008 logits without bias.
- ``VGG16Detector``: torch-fidelity's VGG16 fc2 (ReLU) features for improved precision/recall.
- ``LPIPSDistance``: LPIPS (Zhang et al. 2018) with the VGG16 backbone, the distance of PPL.
- ``ShapesDetector`` / ``ShapesDistance``: the shipped shapes classifier, an offline stand-in on the
  bundled data (and in tests); its numbers are comparable with each other only.

Detectors take uint8 RGB images (N, 3, H, W) and return ``(features, logits)``; distances take two
batches in [-1, 1]. Each has a ``name`` that keys the cache of real-set features.
"""

from __future__ import annotations

import os
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.shapes_classifier import ShapesClassifier, load_shapes_classifier
from gan_lightning.evaluation.stacked_modes import StackedDigitsDetector
from gan_lightning.common.images import from_unit, to_uint8

DetectorKind = Literal["inception", "shapes"]  # or a feature module (``FeatureModuleDetector``)
DETECTOR_KINDS: tuple[str, ...] = ("inception", "shapes")

# file name -> where to download it; --weights-dir holds these files under these names.
WEIGHTS: dict[str, str] = {
    "weights-inception-2015-12-05-6726825d.pth": "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "vgg16-397923af.pth": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
INCEPTION_FILE, VGG16_FILE = WEIGHTS


def weights_file(name: str, weights_dir: str | None) -> str | None:
    """The local path of weights file ``name`` in ``weights_dir``; None (download) without a folder."""
    if weights_dir is None:
        return None
    path = Path(weights_dir) / name
    if not path.is_file():
        raise UserError(f"weights file {str(path)!r} not found: download {WEIGHTS[name]} into {weights_dir!r} (--weights-dir holds {', '.join(WEIGHTS)})")
    return str(path)


def _download_error(what: str, name: str, error: Exception) -> UserError:
    return UserError(
        f"could not get the {what} weights ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
        f"offline? download {WEIGHTS[name]} and pass its folder as `evaluate --weights-dir DIR`"
        + (" (in training: --model.init_args.fid_weights_path FILE)" if name == INCEPTION_FILE else "")
    )


def _existing(path: str | None, name: str) -> str | None:
    if path is not None and not os.path.isfile(path):
        raise UserError(f"weights file {path!r} not found; expected {name} from {WEIGHTS[name]}")
    return path


class InceptionDetector(nn.Module):
    """uint8 images -> (2048-d pool features, 1008 logits without bias: NVlabs' no_output_bias)."""

    name = "inception-2015-12-05"

    def __init__(self, path: str | None = None) -> None:
        """``path``: torch-fidelity's weights file; None downloads it."""
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:
            with redirect_stdout(sys.stderr):
                self.network = FeatureExtractorInceptionV3(
                    "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=_existing(path, INCEPTION_FILE)
                )
        except (OSError, RuntimeError) as error:  # URLError is an OSError; a bad file a RuntimeError
            raise _download_error("Inception", INCEPTION_FILE, error) from None
        self.requires_grad_(False).eval()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features, logits = self.network(images)
        return features, logits


class VGG16Detector(nn.Module):
    """uint8 images -> (4096-d fc2 features after ReLU, no logits)."""

    name = "vgg16-fc2-relu"

    def __init__(self, path: str | None = None) -> None:
        """``path``: torchvision's VGG16 weights file; None downloads it."""
        super().__init__()
        from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

        try:
            with redirect_stdout(sys.stderr):
                self.network = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=_existing(path, VGG16_FILE))
        except (OSError, RuntimeError) as error:
            raise _download_error("VGG16", VGG16_FILE, error) from None
        self.requires_grad_(False).eval()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        (features,) = self.network(images)
        return features, None


class LPIPSDistance(nn.Module):
    """LPIPS between two batches in [-1, 1] -> (N,). torchmetrics ships the LPIPS linear weights; its
    module (private ``_LPIPS``) is used because only it lets the VGG16 backbone come from a local file."""

    name = "lpips-vgg16"

    def __init__(self, path: str | None = None) -> None:
        """``path``: torchvision's VGG16 weights file (the backbone); None downloads it."""
        super().__init__()
        from torchmetrics.functional.image.lpips import _LPIPS

        try:
            with redirect_stdout(sys.stderr):
                self.network = _LPIPS(pretrained=True, net="vgg", pnet_rand=_existing(path, VGG16_FILE) is not None)
        except (OSError, RuntimeError) as error:
            raise _download_error("VGG16", VGG16_FILE, error) from None
        if path is not None:
            self.network.net.load_state_dict(_lpips_backbone_state(torch.load(path, map_location="cpu", weights_only=True)))
        self.requires_grad_(False).eval()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.network(a.float(), b.float()).flatten()


def _lpips_backbone_state(vgg16_state: dict[str, Tensor]) -> dict[str, Tensor]:
    """torchvision VGG16 ``features.I.*`` -> LPIPS' five slices ``sliceK.I.*`` (split after each ReLU it reads)."""
    bounds = (4, 9, 16, 23, 30)
    state = {}
    for key, value in vgg16_state.items():
        if key.startswith("features."):
            _, index, param = key.split(".")
            if int(index) < bounds[-1]:
                slice_number = 1 + sum(int(index) >= b for b in bounds)
                state[f"slice{slice_number}.{index}.{param}"] = value
    return state


class ShapesDetector(nn.Module):
    """uint8 images -> (the shapes classifier's 128-d features, its 16 class logits). Offline."""

    name = "shapes-classifier"

    def __init__(self, classifier: ShapesClassifier | None = None) -> None:
        super().__init__()
        self.classifier = classifier or load_shapes_classifier()

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features = self.classifier.features(from_unit(images.float() / 255))
        return features, self.classifier.head(features)


class ShapesDistance(nn.Module):
    """Squared distance of unit-normalized shapes-classifier features: an offline stand-in for LPIPS."""

    name = "shapes-classifier-l2"

    def __init__(self, classifier: ShapesClassifier | None = None) -> None:
        super().__init__()
        self.classifier = classifier or load_shapes_classifier()

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa, fb = (nn.functional.normalize(self.classifier.features(x.float()), dim=1) for x in (a, b))
        return (fa - fb).square().sum(1)


Role = Literal["inception", "vgg16", "lpips", "digits"]


def build_detector(kind: str, role: Role, weights_dir: str | None = None) -> nn.Module:
    """The network a metric needs (``role``, from the metric's definition) for detector ``kind``:
    "inception" gives the papers' networks, "shapes" the offline classifier for every role."""
    if kind not in DETECTOR_KINDS:
        raise UserError(f"unknown detector {kind!r}; allowed: {', '.join(DETECTOR_KINDS)}")
    if weights_dir is not None and not os.path.isdir(weights_dir):
        raise UserError(f"--weights-dir {weights_dir!r} is not a folder; it should hold {', '.join(WEIGHTS)}")
    if role == "digits":  # the stacked digits' own classifier, whatever the feature networks
        return StackedDigitsDetector()
    if kind == "shapes":
        return ShapesDistance() if role == "lpips" else ShapesDetector()
    if role == "inception":
        return InceptionDetector(weights_file(INCEPTION_FILE, weights_dir))
    return {"vgg16": VGG16Detector, "lpips": LPIPSDistance}[role](weights_file(VGG16_FILE, weights_dir))


class FeatureModuleDetector(nn.Module):
    """A feature module (images in [0, 1] -> (N, D); e.g. ``features.LookFeatures`` or a test's small
    network) as a detector without logits."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.name = type(module).__name__

    def forward(self, images: Tensor) -> tuple[Tensor, None]:
        return self.module(images.float() / 255), None


def detector_for(kind: str | nn.Module, role: Role, weights_dir: str | None = None, inception_path: str | None = None) -> nn.Module:
    """The network of ``role`` for ``kind``: a detector kind, or a feature module (FID/KID/PR only);
    ``inception_path`` (one weights file) is preferred over ``weights_dir`` for Inception."""
    if isinstance(kind, nn.Module):
        return FeatureModuleDetector(kind)
    if kind == "inception" and role == "inception" and inception_path is not None:
        return InceptionDetector(inception_path)
    return build_detector(kind, role, weights_dir)


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1] with 1 or 3 channels -> uint8 RGB, what every detector takes."""
    images = to_uint8(images)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
