"""VanillaGAN: the DCGAN-family training algorithm (Goodfellow et al. 2014; Radford et al. 2016).

Per batch: one discriminator step on real and generated images, then one generator step.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import Tensor

from gan_lightning.common.checks import check_positive, check_range
from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import (
    GAN_LOSSES,
    GANLoss,
    check_adversarial_loss,
    check_penalty_weights,
    discriminator_loss,
    generator_loss,
    needs_real_logits,
    r1_penalty,
    r2_penalty,
    wgan_gradient_penalty,
)
from gan_lightning.training.models.base import GANModule
from gan_lightning.core.nets.dcgan import DCGANDiscriminator, DCGANDiscriminatorConfig, DCGANGeneratorConfig, check_resolution
from gan_lightning.core.nets.settings import as_config
from gan_lightning.common.sampling import latents_for_seeds, seed_names, seed_range
from gan_lightning.common.torch_utils import eval_mode, frozen, grad_norm, host_scalar, update_ema


class VanillaGAN(GANModule):
    """DCGAN generator and discriminator trained with a choice of adversarial loss.

    Args:
        resolution: image side (32, 64 or 128), linked from the DataModule.
        channels: image channels, linked from the DataModule.
        generator: the generator's settings (``DCGANGeneratorConfig``: z_dim, width); on the command
            line ``--model.init_args.generator.z_dim``.
        discriminator: the discriminator's settings (``DCGANDiscriminatorConfig``: width, norm).
        gan_loss: non_saturating, hinge, least_squares, wgan_gp or relativistic (RpGAN: D(real) against
            D(fake) of the same batch, in both steps).
        gp_weight: lambda of the WGAN-GP gradient penalty.
        lambda_r1 / lambda_r2: gamma of the zero-centred gradient penalties on real (R1) and generated
            (R2) images, each added as gamma / 2 * E[||grad_x D(x)||^2] at every discriminator step
            (0: off); with relativistic, the R3GAN objective. Per-sample penalties: not with batch norm.
        generator_lr / discriminator_lr: Adam learning rates.
        betas: Adam betas of both optimizers.
        ema_decay: keep an exponential moving average of the generator with this decay (e.g. 0.999,
            reached after a warm-up) and use it for samples and FID; None: no EMA.
        num_fixed_samples: size of the fixed-noise sample grid.
        **kwargs: max_kimg and the FID options of ``GANModule``.
    """

    def __init__(
        self,
        resolution: int = 64,
        channels: int = 3,
        generator: DCGANGeneratorConfig = DCGANGeneratorConfig(),
        discriminator: DCGANDiscriminatorConfig = DCGANDiscriminatorConfig(),
        gan_loss: GANLoss = "non_saturating",
        gp_weight: float = 10.0,
        lambda_r1: float = 0.0,
        lambda_r2: float = 0.0,
        generator_lr: float = 2e-4,
        discriminator_lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        ema_decay: float | None = None,
        num_fixed_samples: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)
        check_resolution(resolution)
        check_adversarial_loss(gan_loss, GAN_LOSSES)
        check_penalty_weights(lambda_r1, lambda_r2)
        generator_config, discriminator_config = as_config(DCGANGeneratorConfig, generator), as_config(DCGANDiscriminatorConfig, discriminator)
        check_positive("generator_lr", generator_lr)
        check_positive("discriminator_lr", discriminator_lr)
        if gan_loss == "wgan_gp" and discriminator_config.norm == "batch":
            raise UserError("gan_loss wgan_gp needs discriminator.norm 'layer' or 'none' (its penalty is per sample)")
        if (lambda_r1 > 0 or lambda_r2 > 0) and discriminator_config.norm == "batch":
            raise UserError("lambda_r1 / lambda_r2 > 0 need discriminator.norm 'layer' or 'none' (their penalties are per sample)")
        check_range("ema_decay", ema_decay, 0, 1, low_open=True, high_open=True, optional=True)
        self.save_hyperparameters()
        # Dicts of their fields in the hyper-parameters, as checkpoints hold them.
        self.hparams.update(generator=dataclasses.asdict(generator_config), discriminator=dataclasses.asdict(discriminator_config))
        self.generator = self.build_generator()
        self.discriminator = DCGANDiscriminator(resolution, discriminator_config.width, channels, discriminator_config.norm)
        if ema_decay is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.register_buffer("fixed_z", latents_for_seeds(seed_range(0, num_fixed_samples), generator_config.z_dim))

    def configure_optimizers(self):
        betas = tuple(self.hparams.betas)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.hparams.generator_lr, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.hparams.discriminator_lr, betas=betas)
        return opt_g, opt_d

    def random_latents(self, num: int) -> Tensor:
        return torch.randn(num, self.generator.z_dim, device=self.device)

    def training_step(self, batch, batch_idx: int) -> None:
        real = batch[0]
        num = real.shape[0]
        opt_g, opt_d = self.optimizers()
        log_now = self.logging_step(batch_idx)

        # Discriminator step: real images up, generated images down.
        hp = self.hparams
        lambda_r1, lambda_r2 = hp.get("lambda_r1", 0.0), hp.get("lambda_r2", 0.0)  # absent from older checkpoints' hparams
        with torch.no_grad():
            fake = self.generator(self.random_latents(num))
        real_input = real.detach().requires_grad_(lambda_r1 > 0)
        fake_input = fake.requires_grad_(lambda_r2 > 0)
        with self.eager(lambda_r1 > 0 or lambda_r2 > 0):  # double backward
            real_logits = self.discriminator(real_input)
            fake_logits = self.discriminator(fake_input)
            d_loss = discriminator_loss(hp.gan_loss, real_logits, fake_logits)
            if lambda_r1 > 0:
                penalty = r1_penalty(real_logits, real_input)
                d_loss = d_loss + lambda_r1 / 2 * penalty
                if log_now:
                    self.log("train/r1_penalty", penalty.detach())
            if lambda_r2 > 0:
                penalty = r2_penalty(fake_logits, fake_input)
                d_loss = d_loss + lambda_r2 / 2 * penalty
                if log_now:
                    self.log("train/r2_penalty", penalty.detach())
        if self.hparams.gan_loss == "wgan_gp":
            alpha = torch.rand(num, 1, 1, 1, device=self.device)
            interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
            with self.eager():  # double backward
                penalty = wgan_gradient_penalty(self.discriminator(interpolates), interpolates)
            d_loss = d_loss + self.hparams.gp_weight * penalty
            if log_now:
                self.log("train/gradient_penalty", penalty.detach())
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        d_grad_norm = grad_norm(self.discriminator.parameters(), self.loss_scale()) if log_now else None
        opt_d.step()

        # Generator step: fool the discriminator, whose weights get no gradients; the relativistic
        # loss compares with the same real batch.
        with frozen(self.discriminator):
            fake = self.generator(self.random_latents(num))
            fake_logits_g = self.discriminator(fake)
            real_logits_g = self.discriminator(real) if needs_real_logits(hp.gan_loss) else None
            g_loss = generator_loss(hp.gan_loss, fake_logits_g, real_logits_g)
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
        g_grad_norm = grad_norm(self.generator.parameters(), self.loss_scale()) if log_now else None
        opt_g.step()

        if hasattr(self, "generator_ema"):
            # Warm-up (as TensorFlow's ExponentialMovingAverage with num_updates): early on the
            # average follows the generator closely instead of holding on to its random init.
            updates = host_scalar(self.images_seen) // (num * self.trainer.world_size)
            update_ema(self.generator_ema, self.generator, min(self.hparams.ema_decay, (1 + updates) / (10 + updates)))
        self.count_images(num)
        if log_now:
            self.log_dict(
                {
                    "train/d_loss": d_loss.detach(),
                    "train/g_loss": g_loss.detach(),
                    "train/d_real": real_logits.detach().float().mean(),
                    "train/d_fake": fake_logits.detach().float().mean(),
                    "train/d_grad_norm": d_grad_norm,
                    "train/g_grad_norm": g_grad_norm,
                }
            )
        self.log_progress({"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}, log_now)

    @torch.no_grad()
    def generate(self, num: int, seed: int = 0) -> Tensor:
        """``num`` images in [-1, 1]; image k comes from seed ``seed + k``."""
        z = latents_for_seeds(seed_range(seed, num), self.generator.z_dim, self.device)
        with eval_mode(self.sampling_generator) as generator:
            return generator(z)

    def predict_step(self, batch: Tensor, batch_idx: int) -> dict:
        """Batch = seeds (from the DataModule's predict loader) -> one image per seed, named by it."""
        seeds = batch.tolist()
        z = latents_for_seeds(seeds, self.generator.z_dim, self.device)
        with eval_mode(self.sampling_generator) as generator:
            return {"images": generator(z), "names": seed_names(seeds)}

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        with eval_mode(self.sampling_generator) as generator:
            return {"samples": generator(self.fixed_z)}

    def fid_fake_images(self, batch) -> Tensor:
        with eval_mode(self.sampling_generator) as generator:
            return generator(self.random_latents(batch[0].shape[0]))
