"""FID works offline: the bundled-data features need no download, Inception reads a local weights
file, and a missing download is one clear error."""

from pathlib import Path

import pytest
import torch
from torch import nn

from gan_lightning.data.shapes import ShapesDataset
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.fid import build_fid, build_kid, to_unit_rgb


def shapes(n: int, seed: int) -> torch.Tensor:
    data = ShapesDataset(n, 32, seed=seed)
    return torch.stack([data[i][0] for i in range(n)])


def test_shapes_fid_is_small_for_real_vs_real_and_large_for_noise() -> None:
    fid = build_fid("shapes")
    fid.update(to_unit_rgb(shapes(256, 1)), real=True)
    fid.update(to_unit_rgb(shapes(256, 2)), real=False)
    same = fid.compute().item()
    fid.reset()  # keeps the real features
    fid.update(to_unit_rgb(torch.rand(256, 3, 32, 32) * 2 - 1), real=False)
    noise = fid.compute().item()
    assert same < noise / 20


def test_any_small_feature_module() -> None:
    class Pool(nn.Module):
        num_features = 3

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.mean(dim=(2, 3))

    fid = build_fid(Pool())
    fid.update(to_unit_rgb(torch.zeros(8, 1, 8, 8) + torch.rand(8, 1, 1, 1) * 0.1), real=True)
    fid.update(to_unit_rgb(torch.zeros(8, 1, 8, 8) + torch.rand(8, 1, 1, 1) * 0.1 + 0.5), real=False)
    assert fid.compute().item() > 0.1


def test_missing_inception_weights_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"fid_weights_path '.*missing.pth' is not a file"):
        build_fid("inception", str(tmp_path / "missing.pth"))


def test_offline_inception_download_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")

    monkeypatch.setattr(fe, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(UserError, match="could not get the Inception weights.*fid_weights_path"):
        build_fid("inception")


def test_inception_from_a_local_weights_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The offline-cluster path: a weights file on disk (here random weights of the right architecture)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as patch:  # build the architecture once without any weights
        patch.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        patch.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        network = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "inception.pth"
    torch.save(network.state_dict(), weights)

    fid = build_fid("inception", str(weights))
    kid = build_kid(fid, subset_size=3)  # shares the loaded network, feeds it uint8 like FID does
    assert not any(p.requires_grad for p in fid.inception.parameters())
    real, fake = to_unit_rgb(torch.rand(3, 3, 32, 32) * 2 - 1), to_unit_rgb(torch.rand(3, 1, 32, 32) * 2 - 1)
    for metric in (fid, kid):
        metric.update(real, real=True)
        metric.update(fake, real=False)
    assert torch.isfinite(fid.compute())
    assert torch.isfinite(kid.compute()[0])
