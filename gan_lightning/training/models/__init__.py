"""LightningModules, one file per algorithm."""

from gan_lightning.training.models.arbitrary_style import ArbitraryStyleTransfer
from gan_lightning.training.models.base import GANModule
from gan_lightning.training.models.r3gan import R3GAN
from gan_lightning.training.models.style_transfer import StyleTransfer
from gan_lightning.training.models.stylegan import StyleGAN
from gan_lightning.training.models.vanilla_gan import VanillaGAN

__all__ = ["ArbitraryStyleTransfer", "GANModule", "R3GAN", "StyleGAN", "StyleTransfer", "VanillaGAN"]
