"""Training's FID works offline: the bundled-data features need no download, Inception reads a local
weights file, and a missing download is one clear error."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from gan_lightning.data.shapes import ShapesDataset
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.detectors import FeatureModuleDetector
from gan_lightning.evaluation.streamed import StreamedDistances, fid_detector


def shapes(n: int, seed: int) -> torch.Tensor:
    data = ShapesDataset(n, 32, seed=seed)
    return torch.stack([data[i][0] for i in range(n)])


def test_shapes_fid_is_small_for_real_vs_real_and_large_for_noise() -> None:
    fid = StreamedDistances(fid_detector("shapes"))
    fid.add(shapes(256, 1), "real")
    fid.add(shapes(256, 2), "generated")
    same = fid.compute()["fid"]
    fid.forget_generated()  # keeps the real features
    fid.add(torch.rand(256, 3, 32, 32) * 2 - 1, "generated")
    noise = fid.compute()["fid"]
    assert same < noise / 20


def test_any_small_feature_module() -> None:
    class Pool(nn.Module):
        num_features = 3

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.mean(dim=(2, 3))

    fid = StreamedDistances(fid_detector(Pool()))
    assert isinstance(fid.detector, FeatureModuleDetector)
    fid.add(torch.zeros(8, 1, 8, 8) + torch.rand(8, 1, 1, 1) * 0.1, "real")
    fid.add(torch.zeros(8, 1, 8, 8) + torch.rand(8, 1, 1, 1) * 0.1 + 0.5, "generated")
    assert fid.compute()["fid"] > 0.1


def test_missing_inception_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"fid_weights_path '.*missing.pth' is not a file"):
        fid_detector("inception", str(tmp_path / "missing.pth"))


def test_offline_inception_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(fe, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(UserError, match="could not get the Inception weights.*fid_weights_path"):
        fid_detector("inception")


def test_inception_from_a_local_weights_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The offline-cluster path: a weights file on disk (here random weights of the right architecture)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as patch:  # build the architecture once without any weights
        patch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        patch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(network.state_dict(), weights)

    distances = StreamedDistances(fid_detector("inception", str(weights)), kid_subset_size=3)  # KID on FID's features
    assert not any(p.requires_grad for p in distances.detector.parameters())
    distances.add(torch.rand(3, 3, 32, 32) * 2 - 1, "real")
    distances.add(torch.rand(3, 1, 32, 32) * 2 - 1, "generated")
    values = distances.compute()
    assert math.isfinite(values["fid"]) and math.isfinite(values["kid"])
