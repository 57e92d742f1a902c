"""Frozen feature networks for perceptual losses and AdaIN: shapes, determinism, offline weights."""

import urllib.error

import pytest
import torch

from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.perceptual import LAYER_NAMES, FeatureNetwork


def test_random_features_are_the_same_in_every_build_and_frozen():
    images = torch.rand(2, 3, 48, 40) * 2 - 1
    first, second = FeatureNetwork("random", width=8), FeatureNetwork("random", width=8)
    out = first(images)
    assert [tuple(f.shape) for f in out] == [(2, 8, 48, 40), (2, 16, 24, 20), (2, 32, 12, 10), (2, 64, 6, 5)]
    assert len(out) == len(LAYER_NAMES)
    assert all(torch.equal(a, b) for a, b in zip(out, second(images)))
    assert not any(p.requires_grad for p in first.parameters())
    first.train()
    assert not first.training  # frozen in every mode
    other_seed = FeatureNetwork("random", width=8, seed=1)(images)
    assert not torch.equal(other_seed[0], out[0])


def test_wide_random_features_have_one_wider_layer_per_scale_and_are_frozen():
    images = torch.rand(2, 3, 48, 40) * 2 - 1
    network = FeatureNetwork("random_wide", width=8)
    out = network(images)
    assert [tuple(f.shape) for f in out] == [(2, 16, 48, 40), (2, 32, 24, 20), (2, 64, 12, 10), (2, 64, 6, 5)]
    assert network.channels == (16, 32, 64, 64)
    assert all(torch.equal(a, b) for a, b in zip(out, FeatureNetwork("random_wide", width=8)(images)))
    assert not any(p.requires_grad for p in network.parameters())
    assert not torch.equal(FeatureNetwork("random_wide", width=8, seed=1)(images)[0], out[0])


def test_vgg_features_read_a_local_weights_file_without_any_download(tmp_path, monkeypatch):
    from torchvision.models import VGG16_Weights

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(VGG16_Weights.IMAGENET1K_V1.__class__, "get_state_dict", no_download)
    torch.manual_seed(0)
    reference = FeatureNetwork("vgg16", load_weights=False)
    path = tmp_path / "vgg16.pth"
    torch.save({f"features.{k}": v for k, v in reference.layers.state_dict().items()}, path)  # torchvision's key names
    loaded = FeatureNetwork("vgg16", weights_path=str(path))
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    out = loaded(images)
    assert [f.shape[1] for f in out] == [64, 128, 256, 512]
    assert all(torch.equal(a, b) for a, b in zip(out, reference(images)))


def test_a_missing_or_wrong_weights_file_is_one_clear_line(tmp_path):
    with pytest.raises(UserError, match="does not exist") as missing:
        FeatureNetwork("vgg19", weights_path=str(tmp_path / "nope.pth"))
    assert "\n" not in str(missing.value) and "nope.pth" in str(missing.value)
    wrong = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(UserError, match="not a torchvision vgg19 state dict"):
        FeatureNetwork("vgg19", weights_path=str(wrong))
    with pytest.raises(UserError, match="allowed: random, random_wide, vgg19, vgg16"):
        FeatureNetwork("resnet")


def test_offline_without_cached_vgg_weights_says_what_to_do(monkeypatch):
    from torchvision.models import VGG19_Weights

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(UserError, match="features 'random'") as error:
        FeatureNetwork("vgg19")
    assert "\n" not in str(error.value)
