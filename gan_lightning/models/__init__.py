"""LightningModules, one file per algorithm."""

from gan_lightning.models.arbitrary_style import ArbitraryStyleTransfer
from gan_lightning.models.base import GANModule
from gan_lightning.models.style_transfer import StyleTransfer
from gan_lightning.models.stylegan import StyleGAN
from gan_lightning.models.vanilla_gan import VanillaGAN

__all__ = ["ArbitraryStyleTransfer", "GANModule", "StyleGAN", "StyleTransfer", "VanillaGAN"]
