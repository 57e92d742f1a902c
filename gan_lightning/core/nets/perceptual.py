"""Frozen multi-layer feature networks for perceptual style and content losses (Gatys et al. 2016,
Johnson et al. 2016) and for AdaIN's encoder (Huang & Belongie 2017).

Both kinds return the activations after the first ReLU of each of four scales, the layers those
papers read style from (relu1_1, relu2_1, relu3_1, relu4_1), on images in [-1, 1]:

- ``vgg19`` / ``vgg16``: torchvision's ImageNet VGG, cut after relu4_1. Weights come from
  torchvision's standard download (online), or from ``weights_path`` (a torchvision VGG state
  dict saved on an offline cluster).
- ``random``: the same pyramid shape with fixed random filters drawn from a seed: no download, no
  file. Random multi-scale filters are known to carry texture statistics (Ustyuzhaninov et al.
  2017), so offline examples and tests show texture too.
- ``random_wide``: fixed random filters too, one 3x3 conv per scale but twice as wide (2w, 4w, 8w,
  8w channels). In ``benchmarks/style_texture_probe.py`` (Gatys optimisation on the shipped photo
  and ``grass_ink``) it carries the style's strokes visibly better than ``random``
  (``benchmarks/results/style_texture_probe.md``); the fast neural and single-image presets use it.
- ``random_spatial``: random_wide's shape with every filter zero-mean over each input channel's 3x3
  window, so no flat area of any colour excites it (random_wide's filters sum to zero over all their
  inputs together: a flat grey gives no response, a flat colour does). Its Gram statistics see
  texture and not colour; the style benchmark's texture measure is one (``evaluation/texture.py``).
- ``auto``: vgg19 where its ImageNet weights are at hand (a ``weights_path``, or torchvision's
  download already in its cache), else random_wide; one stderr line says which. It never downloads,
  so a run offline and a run online with nothing cached build the same network.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError

FeatureNetworkName = Literal["random", "random_wide", "random_spatial", "vgg19", "vgg16", "auto"]
FEATURE_NETWORKS: tuple[str, ...] = get_args(FeatureNetworkName)
LAYER_NAMES: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
# Index of each relu_k_1 in torchvision's ``vgg*.features``; the cut ends after relu4_1.
_VGG_LAYER_INDEX = {"vgg19": (1, 6, 11, 20), "vgg16": (1, 6, 11, 18)}
_VGG_CHANNELS = (64, 128, 256, 512)
# torchvision's ImageNet input normalisation, on images in [0, 1].
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def check_feature_network(name: str) -> str:
    if name not in FEATURE_NETWORKS:
        raise UserError(f"unknown feature network {name!r}; allowed: {', '.join(FEATURE_NETWORKS)}")
    return name


def cached_vgg_weights(name: str) -> Path | None:
    """torchvision's cached download of ``name``'s ImageNet weights, None if not downloaded yet."""
    from torch.hub import get_dir
    from torchvision.models import VGG16_Weights, VGG19_Weights

    url = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights}[name].IMAGENET1K_V1.url
    path = Path(get_dir()) / "checkpoints" / os.path.basename(url)
    return path if path.is_file() else None


def resolve_feature_network(name: str, weights_path: str | None) -> str:
    """``name`` itself, or for "auto" the network it picks now: "vgg19" with weights at hand, else
    "random_wide" (the papers' features where possible, the offline ones otherwise)."""
    check_feature_network(name)
    if name != "auto":
        return name
    return _say_auto_choice("vgg19" if weights_path is not None or cached_vgg_weights("vgg19") else "random_wide", weights_path)


@cache
def _say_auto_choice(choice: str, weights_path: str | None) -> str:
    # Once per process and choice: configs build their feature network more than once.
    if choice == "vgg19":
        where = f"weights from {weights_path}" if weights_path else "torchvision's cached ImageNet weights"
    else:
        where = "no vgg19 weights given or in torchvision's cache; torchvision.models.vgg19(weights='DEFAULT') downloads them once"
    print(f"perceptual features 'auto': {choice} ({where})", file=sys.stderr)
    return choice


def _vgg_layers(name: str, weights_path: str | None, load_weights: bool) -> nn.Sequential:
    """torchvision's ``vgg*.features`` up to relu4_1, with ImageNet weights when ``load_weights``.
    Only the convolutional part is built (the classifier's 120M parameters are never needed)."""
    from torchvision.models import VGG16_Weights, VGG19_Weights
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs[{"vgg19": "E", "vgg16": "D"}[name]], batch_norm=False)[: _VGG_LAYER_INDEX[name][-1] + 1]
    if not load_weights:
        return features
    if weights_path is not None:
        if not os.path.isfile(weights_path):
            raise UserError(f"VGG weights file {weights_path!r} does not exist; give a torchvision {name} state dict, or use features 'random' offline")
        try:
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
        except (RuntimeError, ValueError, OSError, EOFError) as error:
            raise UserError(f"VGG weights file {weights_path!r} is not readable ({_first_line(error)})") from None
    else:
        weights = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights}[name].IMAGENET1K_V1
        try:
            state = weights.get_state_dict(progress=True)  # torchvision's download and cache (TORCH_HOME)
        except OSError as error:  # no network (URLError is an OSError) and nothing cached
            raise UserError(f"cannot download {name} ImageNet weights ({_first_line(error)}); offline, give a local state dict as the weights path or use features 'random'") from None
    # A whole torchvision VGG state dict ("features.0.weight", ...) or its features part alone.
    state = {key.removeprefix("features."): value for key, value in state.items() if not key.startswith("classifier.")}
    state = {key: value for key, value in state.items() if int(key.split(".")[0]) < len(features)}
    try:
        features.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(f"VGG weights file {weights_path!r} is not a torchvision {name} state dict ({_first_line(error)})") from None
    return features


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _random_layers(width: int, seed: int) -> tuple[nn.Sequential, tuple[int, ...], tuple[int, ...]]:
    """A VGG-shaped pyramid with fixed random filters: per scale, 3x3 conv + ReLU (then a second one),
    average pooling between scales. Filters are zero-mean (they respond to structure, not to the
    mean colour) and He-scaled, so activations keep their size from layer to layer."""
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    tapped: list[int] = []
    channels: list[int] = []
    in_channels = 3
    for scale in range(len(LAYER_NAMES)):
        out_channels = width * 2**scale
        if scale > 0:
            layers.append(nn.AvgPool2d(2))
        for conv in range(2 if scale < len(LAYER_NAMES) - 1 else 1):
            layers += [_random_conv(in_channels, out_channels, generator), nn.ReLU()]
            if conv == 0:
                tapped.append(len(layers) - 1)
                channels.append(out_channels)
            in_channels = out_channels
    return nn.Sequential(*layers), tuple(tapped), tuple(channels)


def _random_wide_layers(width: int, seed: int, spatial: bool = False) -> tuple[nn.Sequential, tuple[int, ...], tuple[int, ...]]:
    """One 3x3 conv + ReLU per scale, 2w/4w/8w/8w channels, average pooling between scales; filters
    zero-mean and He-scaled as in ``_random_layers`` (``spatial``: zero-mean per input channel, see
    ``_random_conv``). Every ReLU is tapped."""
    generator = torch.Generator().manual_seed(seed)
    channels = (2 * width, 4 * width, 8 * width, 8 * width)
    layers: list[nn.Module] = []
    tapped: list[int] = []
    for scale, (in_channels, out_channels) in enumerate(zip((3, *channels[:-1]), channels)):
        if scale > 0:
            layers.append(nn.AvgPool2d(2))
        layers += [_random_conv(in_channels, out_channels, generator, spatial), nn.ReLU()]
        tapped.append(len(layers) - 1)
    return nn.Sequential(*layers), tuple(tapped), channels


def _random_conv(in_channels: int, out_channels: int, generator: torch.Generator, spatial: bool = False) -> nn.Conv2d:
    """``spatial``: each input channel's 3x3 kernel sums to zero, so a flat area of any colour gives no
    response (with the sum over all input channels alone zero, a flat grey gives none but a flat colour
    does, and its Gram terms can be matched by recolouring instead of texture)."""
    layer = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect")
    weight = torch.randn(layer.weight.shape, generator=generator)
    weight = weight - weight.mean(dim=(2, 3) if spatial else (1, 2, 3), keepdim=True)
    layer.weight.data.copy_(weight * (2.0 / (in_channels * 9)) ** 0.5)
    layer.bias.data.zero_()
    return layer


class FeatureNetwork(nn.Module):
    """Frozen features at relu1_1 .. relu4_1 of images in [-1, 1]: a list of four (N, C_k, H/2^k, W/2^k).

    Args:
        name: "random", "random_wide" or "random_spatial" (fixed random filters, offline), "vgg19" or "vgg16" (torchvision ImageNet
            weights), "auto" (vgg19 where its weights are given or cached, else random_wide).
        weights_path: a local torchvision VGG state dict (offline clusters); None: torchvision's download.
        load_weights: False builds the VGG shape only (its weights then come from a checkpoint).
        width: channels of the first scale of "random" (doubled at each scale); "random_wide" and "random_spatial" have 2x, 4x, 8x, 8x.
        seed: seed of the random network's filters.
    """

    def __init__(
        self,
        name: FeatureNetworkName = "random",
        weights_path: str | None = None,
        load_weights: bool = True,
        width: int = 32,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.name = name = resolve_feature_network(name, weights_path)
        check_at_least("feature network width", width, 1)
        if name.startswith("random"):
            if name == "random":
                self.layers, self.tapped, self.channels = _random_layers(width, seed)
            else:
                self.layers, self.tapped, self.channels = _random_wide_layers(width, seed, spatial=name == "random_spatial")
            mean, std = (0.5,) * 3, (0.5,) * 3  # [-1, 1] as it is
        else:
            self.layers = _vgg_layers(name, weights_path, load_weights)
            self.tapped, self.channels = _VGG_LAYER_INDEX[name], _VGG_CHANNELS
            mean, std = _IMAGENET_MEAN, _IMAGENET_STD
        # ReLUs must not be in place: the tapped activations are read after the next layer ran.
        for module in self.layers:
            if isinstance(module, nn.ReLU):
                module.inplace = False
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)  # frozen: no mode has dropout or batch statistics to change

    @property
    def downsampling(self) -> int:
        """Stride of the deepest (relu4_1) features."""
        return 2 ** (len(LAYER_NAMES) - 1)

    def forward(self, images: Tensor) -> list[Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images {tuple(images.shape)} invalid; allowed: (N, 3, H, W) in [-1, 1]")
        x = ((images + 1) / 2 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        features = []
        for index, layer in enumerate(self.layers):
            x = layer(x)
            if index in self.tapped:
                features.append(x)
                if len(features) == len(self.tapped):
                    break
        return features


@dataclass(frozen=True)
class PerceptualConfig:
    """The frozen feature network of the perceptual terms (CUT, fast neural style) and of AdaIN's
    encoder, under the same names in every algorithm (``--model.init_args.perceptual.network vgg19``).

    Args:
        network: "random" / "random_wide" / "random_spatial" (fixed random filters, offline), "vgg19" or "vgg16" (torchvision's ImageNet
            weights), "auto": vgg19 where its weights are given or cached, else random_wide. The choice is made when
            the config is built and kept in its place, so a checkpoint names the network it was trained with.
        width: first-scale channels of the random networks (see ``FeatureNetwork``).
        weights_path: a local torchvision VGG state dict (offline clusters); None: torchvision's download.
    """

    network: FeatureNetworkName = "random"
    width: int = 32
    weights_path: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", resolve_feature_network(self.network, self.weights_path))

    def build(self, load_weights: bool = True) -> FeatureNetwork:
        return FeatureNetwork(self.network, self.weights_path, load_weights, width=self.width)
