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


def test_spatial_random_features_see_no_flat_colour_which_wide_random_features_do():
    flat = torch.zeros(1, 3, 32, 32)
    flat[:, 0], flat[:, 2] = 0.6, -0.4  # one flat orange-ish colour
    wide, spatial = FeatureNetwork("random_wide", width=8), FeatureNetwork("random_spatial", width=8)
    assert spatial.channels == wide.channels  # the same shape, filters drawn alike
    assert all(float(f.abs().max()) < 1e-6 for f in spatial(flat))
    assert float(wide(flat)[0].abs().max()) > 0.1  # zero-mean over all channels together: a flat colour excites it
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    textured = spatial(images)
    assert all(float(f.abs().mean()) > 1e-3 for f in textured) and all(torch.equal(a, b) for a, b in zip(textured, FeatureNetwork("random_spatial", width=8)(images)))


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
    with pytest.raises(UserError, match="allowed: random, random_wide, random_spatial, vgg19, vgg16"):
        FeatureNetwork("resnet")


def test_offline_without_cached_vgg_weights_says_what_to_do(monkeypatch):
    from torchvision.models import VGG19_Weights

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(VGG19_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(UserError, match="features 'random'") as error:
        FeatureNetwork("vgg19")
    assert "\n" not in str(error.value)


def _small_vgg19_state(path):
    # An un-initialised torchvision vgg19 cut at relu4_1, under torchvision's key names (no download).
    torch.manual_seed(0)
    reference = FeatureNetwork("vgg19", load_weights=False)
    torch.save({f"features.{k}": v for k, v in reference.layers.state_dict().items()}, path)
    return reference


@pytest.fixture
def no_vgg_download(monkeypatch, tmp_path):
    from gan_lightning.core.nets import perceptual

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr("torch.hub._hub_dir", str(tmp_path / "hub"))  # an empty torchvision cache
    monkeypatch.setattr("torch.hub.download_url_to_file", no_download)  # what torchvision calls unless cached
    perceptual._say_auto_choice.cache_clear()
    yield tmp_path / "hub"
    perceptual._say_auto_choice.cache_clear()


def test_auto_features_are_random_wide_when_no_vgg_weights_are_at_hand_and_say_so(no_vgg_download, capsys):
    from gan_lightning.core.nets.perceptual import PerceptualConfig

    network = FeatureNetwork("auto", width=8)
    assert network.name == "random_wide" and network.channels == (16, 32, 64, 64)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'auto': random_wide" in err
    # The config keeps what auto picked: a checkpoint's hyper-parameters name a concrete network.
    assert PerceptualConfig("auto").network == "random_wide"


def test_auto_features_are_vgg19_from_a_given_or_cached_weights_file(no_vgg_download, tmp_path, capsys):
    from torchvision.models import VGG19_Weights

    from gan_lightning.core.nets.perceptual import PerceptualConfig

    given = tmp_path / "vgg19.pth"
    reference = _small_vgg19_state(given)
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    network = PerceptualConfig("auto", weights_path=str(given)).build()
    assert network.name == "vgg19"
    assert all(torch.equal(a, b) for a, b in zip(network(images), reference(images)))
    assert "'auto': vgg19 (weights from" in capsys.readouterr().err

    cached = no_vgg_download / "checkpoints" / VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    cached.parent.mkdir(parents=True)
    given.rename(cached)
    network = FeatureNetwork("auto")  # read by torchvision's own loader from its cache
    assert network.name == "vgg19" and [f.shape[1] for f in network(images)] == [64, 128, 256, 512]
    assert all(torch.equal(a, b) for a, b in zip(network(images), reference(images)))
    assert "'auto': vgg19 (torchvision's cached ImageNet weights)" in capsys.readouterr().err
