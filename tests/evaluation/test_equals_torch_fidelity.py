"""On CPU, `evaluate`'s figures for a fixed set of images equal torch-fidelity's own
``calculate_metrics`` for the same images, feature network and settings (FID, KID, precision/recall,
IS). The feature network is the shipped shapes classifier, registered with torch-fidelity, so
nothing is downloaded; ``benchmarks/compare_torch_fidelity.py`` does the same with Inception."""

from __future__ import annotations

import pytest
import torch
import torch_fidelity
from torch.utils.data import Dataset

from gan_lightning.data.shapes import ShapesDataset
from gan_lightning.evaluation.detectors import to_uint8_rgb
from gan_lightning.evaluation.fidelity_extractor import NAME, ShapesForTorchFidelity
from gan_lightning.evaluation.protocols import PROTOCOLS
from gan_lightning.evaluation.suite import MetricSuite, RealSet


class Uint8Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = to_uint8_rgb(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def fixed_images(count: int, seed: int, noise: float) -> torch.Tensor:
    """Bundled shapes images (their own seed) with some noise, in [-1, 1]."""
    data = ShapesDataset(count, 32, seed=seed)
    images = torch.stack([data[i][0] for i in range(count)])
    return (images + noise * torch.randn(images.shape, generator=torch.Generator().manual_seed(seed))).clamp(-1, 1)


def test_evaluate_figures_equal_torch_fidelity_for_the_same_images_and_network() -> None:
    count = 60
    real, generated = fixed_images(count, seed=1, noise=0.0), fixed_images(count, seed=2, noise=0.3)
    torch_fidelity.register_feature_extractor(NAME, ShapesForTorchFidelity)
    theirs = torch_fidelity.calculate_metrics(
        input1=Uint8Images(generated), input2=Uint8Images(real), feature_extractor=NAME,
        fid=True, kid=True, prc=True, isc=True, cuda=False, cache=False, verbose=False, save_cpu_ram=True,  # True: no loader worker processes
        kid_subset_size=count, samples_shuffle=False, batch_size=16,
    )  # fmt: skip

    suite = MetricSuite(
        lambda indices: generated[indices],
        RealSet(lambda indices: real[indices], count, "fixed", 32),
        detector_kind="shapes", num_gen=count, batch_size=16,
    )  # fmt: skip
    ours = {}
    for name in ("fid50k_full", "kid50k_full", "pr50k3_full", "is50k"):
        ours.update(suite.compute(PROTOCOLS[name]))

    assert ours["fid50k_full"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["kid50k_full"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["pr50k3_full_precision"] == theirs["precision"]
    assert ours["pr50k3_full_recall"] == theirs["recall"]
    assert ours["is50k_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["is50k_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-6)
    assert ours["fid50k_full"] > 1 and 0 < ours["pr50k3_full_precision"] < 1  # not a trivial case
