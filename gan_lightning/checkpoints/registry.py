"""Algorithm name -> how to build its generator from the hyper-parameters a checkpoint stores.

The one bridge between a checkpoint and a network: the LightningModules build their generators
through it, and the inference commands use it to rebuild only the generator from a checkpoint,
without importing Lightning or the training code. Hyper-parameters are in the current layout
(``gan_lightning.checkpoints.migration.migrate_hparams`` brings older checkpoints there first).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn

from gan_lightning.core.nets.adain import AdaINStylizer
from gan_lightning.core.nets.dcgan import DCGANGenerator
from gan_lightning.core.nets.resnet import ResnetGenerator
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig, as_config

Hparams = Mapping[str, Any]


def _dcgan(hp: Hparams) -> nn.Module:
    size = hp["generator"]
    return DCGANGenerator(resolution=hp["resolution"], z_dim=size["z_dim"], width=size["width"], channels=hp["channels"])


def _stylegan2(hp: Hparams) -> nn.Module:
    return Generator(hp["resolution"], hp["channels"], as_config(GeneratorConfig, hp["generator"]))


def _cut_resnet(hp: Hparams) -> nn.Module:
    channels = hp["channels"]
    size = hp["generator"]
    return ResnetGenerator(in_channels=channels, out_channels=channels, ngf=size["width"], n_blocks=size["blocks"], antialias=hp["antialias"])


def _adain(hp: Hparams) -> nn.Module:
    # The encoder's shape only: its weights are stored in the checkpoint with the decoder's.
    encoder = hp["perceptual"]
    return AdaINStylizer(features=encoder["network"], feature_width=encoder["width"], load_weights=False, channels=hp["channels"])


# The names are the LightningModule class names, which checkpoints store under "algorithm".
GENERATORS: dict[str, Callable[[Hparams], nn.Module]] = {
    "VanillaGAN": _dcgan,
    "StyleGAN": _stylegan2,
    "StyleTransfer": _cut_resnet,
    "ArbitraryStyleTransfer": _adain,
}
# Generators that map a latent z to an image (the others translate images).
LATENT_ALGORITHMS: tuple[str, ...] = ("VanillaGAN", "StyleGAN")
# Translators that take a style image at inference besides the content image.
STYLE_IMAGE_ALGORITHMS: tuple[str, ...] = ("ArbitraryStyleTransfer",)
