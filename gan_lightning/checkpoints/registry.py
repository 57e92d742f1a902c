"""Algorithm name -> how to build its generator from the hyper-parameters a checkpoint stores.

The one bridge between a checkpoint and a network: the LightningModules build their generators
through it, and the inference commands use it to rebuild only the generator from a checkpoint,
without importing Lightning or the training code. Hyper-parameters are in the current layout
(``gan_lightning.checkpoints.migration.migrate_hparams`` brings older checkpoints there first).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from torch import nn

from gan_lightning.checkpoints.migration import migrate_class_path
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.adain import AdaINStylizer
from gan_lightning.core.nets.dcgan import DCGANGenerator, DCGANGeneratorConfig
from gan_lightning.core.nets.r3gan import R3GANGenerator, R3GANGeneratorConfig
from gan_lightning.core.nets.resnet import ResnetGenerator, ResnetGeneratorConfig
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig, as_config

Hparams = Mapping[str, Any]


def _whole(hp: Hparams, name: str) -> int:
    """``hp[name]``, a positive whole number (a model folder's JSON can hold anything)."""
    value = hp[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"hyper_parameters {name} must be a whole number >= 1, got {value!r}")
    return value


def _dcgan(hp: Hparams) -> nn.Module:
    size = as_config(DCGANGeneratorConfig, hp["generator"])
    return DCGANGenerator(resolution=_whole(hp, "resolution"), z_dim=size.z_dim, width=size.width, channels=_whole(hp, "channels"))


def _stylegan(hp: Hparams) -> nn.Module:
    # a StyleGAN checkpoint holds a StyleGAN3 generator where its ``stylegan3`` settings are given
    if hp.get("stylegan3") is not None:
        return stylegan3.Generator(_whole(hp, "resolution"), _whole(hp, "channels"), as_config(StyleGAN3Config, hp["stylegan3"]))
    return Generator(_whole(hp, "resolution"), _whole(hp, "channels"), as_config(GeneratorConfig, hp["generator"]))


def _r3gan(hp: Hparams) -> nn.Module:
    return R3GANGenerator(as_config(R3GANGeneratorConfig, hp["generator"]), _whole(hp, "channels"))


def _cut_resnet(hp: Hparams) -> nn.Module:
    channels = _whole(hp, "channels")
    size = as_config(ResnetGeneratorConfig, hp["generator"])  # fields an older checkpoint lacks take their defaults
    return ResnetGenerator(
        in_channels=channels,
        out_channels=channels,
        ngf=size.width,
        n_blocks=size.blocks,
        antialias=hp["antialias"],
        residual=size.residual,
        init_gain=size.init_gain,
        contrast_gate=size.contrast_gate,
        noise=size.noise,
    )


def _adain(hp: Hparams) -> nn.Module:
    # The encoder's shape only: its weights are stored in the checkpoint with the decoder's.
    encoder = hp["perceptual"]
    return AdaINStylizer(features=encoder["network"], feature_width=encoder["width"], load_weights=False, channels=_whole(hp, "channels"))


# The names are the LightningModule class names, which checkpoints store under "algorithm".
GENERATORS: dict[str, Callable[[Hparams], nn.Module]] = {
    "VanillaGAN": _dcgan,
    "StyleGAN": _stylegan,
    "R3GAN": _r3gan,
    "StyleTransfer": _cut_resnet,
    "ArbitraryStyleTransfer": _adain,
}
# Generators that map a latent z to an image (the others translate images).
LATENT_ALGORITHMS: tuple[str, ...] = ("VanillaGAN", "StyleGAN", "R3GAN")
# Translators that take a style image at inference besides the content image.
STYLE_IMAGE_ALGORITHMS: tuple[str, ...] = ("ArbitraryStyleTransfer",)

# The classes a checkpoint or model folder may name (``hyper_parameters._class_path`` and nested
# ``class_path`` values such as ``fid_features``, once ``migration`` brought them up to date): a class
# path is imported only after it is found here, so a file cannot choose code to import.
LIGHTNING_MODULES_PACKAGE = "gan_lightning.training.models"
LIGHTNING_MODULE_FILES: dict[str, str] = {  # algorithm (GENERATORS) -> its module in that package
    "VanillaGAN": "vanilla_gan",
    "StyleGAN": "stylegan",
    "R3GAN": "r3gan",
    "StyleTransfer": "style_transfer",
    "ArbitraryStyleTransfer": "arbitrary_style",
}
FEATURE_CLASSES: tuple[str, ...] = ("gan_lightning.evaluation.features.LookFeatures",)  # offline fid_features
CHECKPOINT_CLASSES: frozenset[str] = frozenset(
    [f"{LIGHTNING_MODULES_PACKAGE}.{name}" for name in GENERATORS]  # as configs name them (the package exports each)
    + [f"{LIGHTNING_MODULES_PACKAGE}.{LIGHTNING_MODULE_FILES[name]}.{name}" for name in GENERATORS]
    + list(FEATURE_CLASSES)
)


def _class_paths(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "class_path" in value:
            yield value["class_path"]
        for item in value.values():
            yield from _class_paths(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _class_paths(item)


def check_checkpoint_class_paths(hparams: Hparams, source: str) -> None:
    """Refuses hyper-parameters (``_class_path`` and every nested ``class_path``) that name a class
    outside ``CHECKPOINT_CLASSES`` (where earlier layouts' paths now point), in one line naming the
    allowed ones; nothing is imported here."""
    found = ([hparams["_class_path"]] if "_class_path" in hparams else []) + list(_class_paths(dict(hparams)))
    for class_path in found:
        if not isinstance(class_path, str) or migrate_class_path(class_path) not in CHECKPOINT_CLASSES:
            raise UserError(
                f"{source!r} names the class {class_path!r}, which is not one of gan_lightning's; "
                f"allowed: {', '.join(sorted(CHECKPOINT_CLASSES))} (nothing was imported)"
            )
