"""LightningModules, one file per algorithm."""

from gan_lightning.training.models.arbitrary_style import ArbitraryStyleTransfer
from gan_lightning.training.models.base import GANModule
from gan_lightning.training.models.style_transfer import StyleTransfer
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.training.models.vanilla_gan import VanillaGAN

__all__ = ["ArbitraryStyleTransfer", "GANModule", "StyleGAN", "StyleTransfer", "VanillaGAN"]
