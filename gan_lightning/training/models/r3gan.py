"""R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern Baseline GAN"): the
regularised relativistic objective on the modern residual networks, with schedules in images seen.

Per batch, as their training loop: the discriminator phase (RpGAN on the pair D(real) - D(fake), plus
gamma / 2 times R1 on the reals and R2 on the fakes, gradients taken before the augmentation), then
the generator phase (RpGAN with the pair swapped, the reals through the frozen discriminator), then
the generator EMA. Before each batch the learning rate, gamma, Adam's beta2, the EMA length and the
augmentation probability are read off their cosine ramps at the images seen so far. Their loop draws
a second real batch for the generator phase; here both phases see the same one.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from gan_lightning.common.checks import check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.common.sampling import (
    check_class,
    class_vectors,
    latents_for_seeds,
    seed_names,
    seed_range,
)
from gan_lightning.common.torch_utils import (
    eval_mode,
    frozen,
    grad_norm,
    host_scalar,
    update_ema,
)
from gan_lightning.core.augment import AdaptiveAugment
from gan_lightning.core.losses import (
    d_relativistic_loss,
    g_relativistic_loss,
    r1_penalty,
    r2_penalty,
)
from gan_lightning.core.nets.r3gan import (
    R3GANDiscriminator,
    R3GANDiscriminatorConfig,
    R3GANGeneratorConfig,
    check_resolution,
)
from gan_lightning.core.nets.settings import as_config
from gan_lightning.data.labels import drawn_labels, item_labels
from gan_lightning.evaluation.suite import ImagesOf, seeded_images
from gan_lightning.training.fine_tuning import init_from_checkpoint
from gan_lightning.training.models.base import GANModule
from gan_lightning.training.models.stylegan import MAX_GRID_CLASSES
from gan_lightning.training.schedules import Ramp

Logs = dict[str, Tensor | float]


def with_classes(num_classes: int, generator: R3GANGeneratorConfig, discriminator: R3GANDiscriminatorConfig) -> tuple[R3GANGeneratorConfig, R3GANDiscriminatorConfig]:
    """Both configs conditional on the data's ``num_classes`` (0: their own c_dim, which must agree);
    an embedding size left at 0 becomes the official one: z_dim for G, the 4x4 width for D."""
    if num_classes == 0:
        if generator.c_dim != discriminator.c_dim:
            raise UserError(f"generator c_dim {generator.c_dim} and discriminator c_dim {discriminator.c_dim} differ; both see the same labels")
        return generator, discriminator
    for network, config in (("generator", generator), ("discriminator", discriminator)):
        if config.c_dim not in (0, num_classes):
            raise UserError(f"{network} c_dim {config.c_dim} differs from the data's {num_classes} classes; allowed: 0 (taken from the data) or {num_classes}")
    return (
        dataclasses.replace(generator, c_dim=num_classes, embedding_dim=generator.embedding_dim or generator.z_dim),
        dataclasses.replace(discriminator, c_dim=num_classes, embedding_dim=discriminator.embedding_dim or discriminator.widths[0]),
    )


class R3GAN(GANModule):
    """R3GAN's generator and discriminator trained with RpGAN + R1 + R2 and the paper's schedules.

    Args:
        resolution: image side, 4 * 2**(stages - 1) of the networks (linked from the DataModule).
        channels: image channels (linked from the DataModule).
        generator: the generator's settings (``R3GANGeneratorConfig``: z_dim, per-stage widths,
            cardinalities, blocks ...); on the command line ``--model.init_args.generator.z_dim``.
        discriminator: the discriminator's settings (``R3GANDiscriminatorConfig``), listed from 4x4 up.
        lr: Adam's learning rate of both networks, a ``Ramp`` over ``ramp_kimg``.
        gamma: the weight of R1 and R2 (each enters as gamma / 2 * E[||grad_x D(x)||^2]), a ``Ramp``.
        beta2: Adam's beta2 (beta1 is 0), a ``Ramp``.
        ema_kimg: the half-life of the generator EMA in thousand images, a ``Ramp`` (from 0: the
            average follows the generator at first); None: no EMA.
        augment_p: the probability of each augmentation (ADA's bgc set, without ADA's feedback), a
            ``Ramp``; start and end 0: no augmentation.
        ramp_kimg: thousand images over which every ramp goes from its start to its end.
        adam_eps: Adam's epsilon.
        num_fixed_samples: size of the fixed-z sample grid.
        init_from: start fit from this checkpoint's G, G_ema and D weights (see ``fine_tuning``).
        num_classes: classes of the data's labels (linked from the DataModule); > 0 makes both
            networks class-conditional.
        **kwargs: max_kimg and the FID options of ``GANModule``.
    """

    class_conditional = True

    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        generator: R3GANGeneratorConfig = R3GANGeneratorConfig(),
        discriminator: R3GANDiscriminatorConfig = R3GANDiscriminatorConfig(),
        lr: Ramp = Ramp(2e-4, 5e-5),
        gamma: Ramp = Ramp(0.05, 0.005),
        beta2: Ramp = Ramp(0.9, 0.99),
        ema_kimg: Ramp | None = Ramp(0.0, 5000.0),
        augment_p: Ramp = Ramp(0.0, 0.55),
        ramp_kimg: float = 20000.0,
        adam_eps: float = 1e-8,
        num_fixed_samples: int = 16,
        init_from: str | None = None,
        num_classes: int = 0,
        **kwargs,
    ) -> None:
        generator_config, discriminator_config = with_classes(
            num_classes, as_config(R3GANGeneratorConfig, generator), as_config(R3GANDiscriminatorConfig, discriminator)
        )
        num_classes = generator_config.c_dim
        super().__init__(resolution=resolution, channels=channels, num_classes=num_classes, **kwargs)
        check_resolution(generator_config, resolution)
        check_resolution(discriminator_config, resolution)
        check_positive("ramp_kimg", ramp_kimg)
        check_positive("adam_eps", adam_eps)
        ramps = {name: as_config(Ramp, value) for name, value in (("lr", lr), ("gamma", gamma), ("beta2", beta2), ("augment_p", augment_p))}
        ramps["ema_kimg"] = None if ema_kimg is None else as_config(Ramp, ema_kimg)
        generator, discriminator = dataclasses.asdict(generator_config), dataclasses.asdict(discriminator_config)
        lr, gamma, beta2, augment_p, ema_kimg = (None if ramps[n] is None else dataclasses.asdict(ramps[n]) for n in ("lr", "gamma", "beta2", "augment_p", "ema_kimg"))
        self.save_hyperparameters()
        # LightningCLI hands save_hyperparameters the parsed config: record what the networks were built from.
        self.hparams.update(generator=generator, discriminator=discriminator, num_classes=num_classes, lr=lr, gamma=gamma, beta2=beta2, augment_p=augment_p, ema_kimg=ema_kimg)
        self.ramps = ramps
        self.generator = self.build_generator()
        self.discriminator = R3GANDiscriminator(discriminator_config, channels)
        if ema_kimg is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.augment = AdaptiveAugment(p=ramps["augment_p"].start)
        self.register_buffer("fixed_z", latents_for_seeds(seed_range(0, num_fixed_samples), generator_config.z_dim))

    def configure_optimizers(self):
        # lr and beta2 are set from their ramps before every step
        hp = self.hparams
        betas = (0.0, self.ramps["beta2"].start)
        return tuple(torch.optim.Adam(net.parameters(), lr=self.ramps["lr"].start, betas=betas, eps=hp.adam_eps) for net in (self.generator, self.discriminator))

    def setup(self, stage: str) -> None:
        super().setup(stage)
        data_classes = getattr(self.trainer.datamodule, "num_classes", None)
        if stage != "predict" and isinstance(data_classes, int) and data_classes != self.num_classes:
            raise UserError(f"the data gives {data_classes} classes (num_classes) but this R3GAN is built for {self.num_classes}; allowed: data with the same labels (0 = none)")
        if stage == "fit" and self.hparams.init_from and self.trainer.ckpt_path is None:
            report = init_from_checkpoint(
                self.hparams.init_from, self.hparams.resolution, self.hparams.channels, dict(self.hparams),
                {"generator": self.generator, "generator_ema": getattr(self, "generator_ema", None), "discriminator": self.discriminator},
                None, "R3GAN",
            )  # fmt: skip
            rank_zero_info("init_from: " + "; ".join(report))

    # --- schedules -------------------------------------------------------------------------------

    def scheduled(self, name: str) -> float:
        """The value of the ramp ``name`` at the images seen before this batch."""
        return self.ramps[name].at(host_scalar(self.images_seen), self.hparams.ramp_kimg)

    def set_optimizer_schedule(self, optimizer) -> None:
        lr, beta2 = self.scheduled("lr"), self.scheduled("beta2")
        for group in optimizer.param_groups:
            group["lr"], group["betas"] = lr, (0.0, beta2)

    # --- training --------------------------------------------------------------------------------

    def random_latents(self, num: int) -> Tensor:
        return torch.randn(num, self.generator.z_dim, device=self.device)

    def real_labels(self, batch) -> Tensor | None:
        return class_vectors(batch[1], self.num_classes, self.device) if self.num_classes > 0 else None

    def training_step(self, batch, batch_idx: int) -> None:
        real = batch[0]
        num = real.shape[0]
        c = self.real_labels(batch)  # the generated images get the reals' labels, as theirs
        log_now = self.logging_step(batch_idx)
        logs: Logs = {}
        self.augment.p.fill_(self.scheduled("augment_p"))
        gamma = self.scheduled("gamma")
        z_d, z_g = self.random_latents(2 * num).split(num)  # their loop draws both before the phases
        d_loss = self.discriminator_phase(real, c, z_d, gamma, logs, log_now)
        with frozen(self.discriminator):
            g_loss = self.generator_phase(real, c, z_g, logs, log_now)
        if hasattr(self, "generator_ema"):
            self.update_generator_ema(num * self.trainer.world_size, logs, log_now)
        self.count_images(num)
        logs.update({"train/d_loss": d_loss.detach(), "train/g_loss": g_loss.detach(), "train/gamma": gamma, "train/augment_p": self.augment.p.clone()})
        if log_now:
            logs["train/lr"], logs["train/beta2"] = self.scheduled("lr"), self.scheduled("beta2")
        self.log_dict(logs)
        self.log_progress({"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}, log_now)

    def discriminator_phase(self, real: Tensor, c: Tensor | None, z: Tensor, gamma: float, logs: Logs, log_now: bool) -> Tensor:
        """RpGAN on D(real) - D(fake) + gamma / 2 (R1 + R2), the penalties' gradients taken with respect
        to the un-augmented images; one Adam step of D."""
        _, opt_d = self.optimizers()
        real_input = real.detach().requires_grad_(True)
        with torch.no_grad():
            fake = self.generator(z, c)
        fake_input = fake.requires_grad_(True)
        with self.eager():  # double backward
            real_logits = self.discriminator(self.augment(real_input), c)
            fake_logits = self.discriminator(self.augment(fake_input), c)
            r1, r2 = r1_penalty(real_logits, real_input), r2_penalty(fake_logits, fake_input)
            adversarial = d_relativistic_loss(real_logits, fake_logits)
        loss = adversarial + gamma / 2 * (r1 + r2)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if log_now:
            logs["train/d_grad_norm"] = grad_norm(self.discriminator.parameters(), self.loss_scale())
        self.set_optimizer_schedule(opt_d)
        opt_d.step()
        logs.update({"train/r1_penalty": r1.detach(), "train/r2_penalty": r2.detach(), "train/d_real_minus_fake": (real_logits - fake_logits).detach().float().mean()})
        return adversarial

    def generator_phase(self, real: Tensor, c: Tensor | None, z: Tensor, logs: Logs, log_now: bool) -> Tensor:
        """RpGAN with the pair swapped, D(fake) - D(real), through the frozen discriminator; one Adam step of G."""
        opt_g, _ = self.optimizers()
        fake_logits = self.discriminator(self.augment(self.generator(z, c)), c)
        real_logits = self.discriminator(self.augment(real.detach()), c)
        loss = g_relativistic_loss(fake_logits, real_logits)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if log_now:
            logs["train/g_grad_norm"] = grad_norm(self.generator.parameters(), self.loss_scale())
        self.set_optimizer_schedule(opt_g)
        opt_g.step()
        return loss

    def update_generator_ema(self, global_batch: int, logs: Logs, log_now: bool) -> None:
        """G_ema moves toward G with the half-life of the EMA ramp, in images."""
        ema_images = self.scheduled("ema_kimg") * 1000.0
        beta = 0.5 ** (global_batch / max(ema_images, 1e-8))
        update_ema(self.generator_ema, self.generator, beta)
        if log_now:
            logs["train/ema_beta"] = beta

    # --- sampling --------------------------------------------------------------------------------

    def class_labels(self, class_index: int | None, num: int, option: str = "class_index") -> Tensor | None:
        check_class(class_index, self.num_classes, option)
        return None if class_index is None else class_vectors([class_index] * num, self.num_classes, self.device)

    @torch.no_grad()
    def generate(self, num: int, seed: int = 0, class_index: int | None = None) -> Tensor:
        """``num`` images in [-1, 1]; image k comes from seed ``seed + k`` (of class ``class_index``)."""
        z = latents_for_seeds(seed_range(seed, num), self.generator.z_dim, self.device)
        with eval_mode(self.sampling_generator) as generator:
            return generator(z, self.class_labels(class_index, num))

    def predict_step(self, batch: Tensor | list[Tensor], batch_idx: int) -> dict:
        """Batch = seeds, or (seeds, classes) with the data's predict_class -> one image per seed."""
        seeds_tensor, classes = (batch[0], batch[1]) if isinstance(batch, (list, tuple)) else (batch, None)
        seeds = seeds_tensor.tolist()
        class_index = None if classes is None else int(classes[0])
        c = self.class_labels(class_index, len(seeds), "--data.init_args.predict_class")
        names = seed_names(seeds) if class_index is None else [f"class{class_index:03d}_{name}" for name in seed_names(seeds)]
        with eval_mode(self.sampling_generator) as generator:
            return {"images": generator(latents_for_seeds(seeds, self.generator.z_dim, self.device), c), "names": names}

    @property
    def sample_grid_columns(self) -> int | None:
        return self.fixed_z.shape[0] if self.num_classes > 0 else None

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        z, c = self.fixed_z, None
        if self.num_classes > 0:
            rows = min(self.num_classes, MAX_GRID_CLASSES)
            c = class_vectors(torch.arange(rows).repeat_interleave(z.shape[0]), self.num_classes, self.device)
            z = z.repeat(rows, 1)
        with eval_mode(self.sampling_generator) as generator:
            return {"samples": generator(z, c)}

    def fid_fake_images(self, batch) -> Tensor:
        with eval_mode(self.sampling_generator) as generator:
            return generator(self.random_latents(batch[0].shape[0]), self.real_labels(batch))

    def metric_fake_images(self, metric_set) -> tuple[ImagesOf, int]:
        classes = drawn_labels(item_labels(metric_set), self.fid_num_samples) if self.num_classes > 0 else None
        return seeded_images(self.sampling_generator, self.device, classes), self.fid_num_samples


__all__ = ["R3GAN"]
