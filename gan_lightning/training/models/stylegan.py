"""StyleGAN: StyleGAN2 (Karras et al. 2020) with adaptive discriminator augmentation (ADA), trained as
NVlabs' stylegan2-ada-pytorch trains it (the phases of their ``StyleGAN2Loss`` and their training loop).

A batch runs their four phases in their order, one method each: Gmain, Greg (path length, every
``pl_interval`` batches), Dmain, Dreg (R1, every ``r1_interval`` batches); then the generator EMA and,
every ``ada_interval`` batches, the ADA update of the augmentation probability. Schedules count images
(kimg), so they do not depend on the batch size. Random draws are made in NVlabs' order: from the same
weights and seed, a step gives their gradients, weights, pl_mean, w_avg and G_ema to float tolerance
(``benchmarks/compare_nvlabs_step.py``, which leaves out augmentation and labels).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from gan_lightning.core.augment import AdaptiveAugment
from gan_lightning.common.checks import check_at_least, check_positive, check_range
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.suite import ImagesOf, seeded_images
from gan_lightning.core.losses import (
    GANLoss,
    check_penalty_weights,
    discriminator_loss,
    generator_loss,
    needs_real_logits,
    path_length_penalty,
    r1_penalty,
    r2_penalty,
)
from gan_lightning.training.models.base import GANModule
from gan_lightning.training.fine_tuning import freeze_discriminator_layers, init_from_checkpoint, trainable
from gan_lightning.core.nets.layers import MinibatchStdDev, NoiseMode, check_noise_mode, upfirdn2d, winograd_convolutions
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.core.nets.stylegan2 import Discriminator, DiscriminatorConfig, GeneratorConfig, as_config, check_resolution, with_classes
from gan_lightning.data.labels import drawn_labels, item_labels
from gan_lightning.common.sampling import check_class, class_vectors, latents_for_seeds, seed_names, seed_range
from gan_lightning.common.torch_utils import eval_mode, frozen, grad_norm, host_scalar, set_scalar, update_ema


Logs = dict[str, Tensor | float]  # what a batch logs: each phase adds its values
# wgan_gp's critic needs its own gradient penalty, which is VanillaGAN's
STYLEGAN_LOSSES = ("non_saturating", "hinge", "least_squares", "relativistic")
MAX_GRID_CLASSES = 32  # sample grids show the first classes only: a row per class of ImageNet would be 1000 rows


class StyleGAN(GANModule):
    """StyleGAN2 generator and residual discriminator with lazy R1, path length regularization,
    style mixing, generator EMA and ADA.

    Args:
        resolution: image side, a power of two from 32 to 1024 (linked from the DataModule).
        channels: image channels (linked from the DataModule).
        generator: the generator's network settings (``GeneratorConfig``: z_dim, w_dim, mapping
            layers, channel widths, fp16 ...); on the command line ``--model.init_args.generator.z_dim``.
        discriminator: the discriminator's network settings (``DiscriminatorConfig``: channel widths,
            minibatch std group size, fp16 ...).
        lr / betas: Adam settings before the lazy-regularization correction.
        gan_loss: non_saturating (StyleGAN2's), hinge, least_squares or relativistic (RpGAN: D(real)
            against D(fake) in both phases; the generator phase then also runs D on the reals).
        r1_gamma: lazy R1 weight gamma (0 disables lazy R1).
        r1_interval: lazy R1 every N batches.
        lambda_r1 / lambda_r2: gamma of the zero-centred penalties on real (R1) and generated (R2) images
            in every Dmain, not lazy: gamma / 2 * E[||grad_x D(x)||^2], the gradient taken with respect
            to the un-augmented image (0: off). With relativistic and r1_gamma 0, R3GAN's objective.
        pl_weight: path length regularization weight (0 disables it).
        pl_interval / pl_decay / pl_batch_shrink: its interval, running-mean decay, batch divisor.
        style_mixing_prob: probability of mixing two latents in a batch.
        ema_kimg: generator EMA half-life in thousands of images; None: no EMA.
        ema_rampup: the half-life is at most images_seen * ema_rampup early on; None: no ramp-up.
        ada: adapt the augmentation probability toward ``ada_target``; False keeps ``augment_p`` fixed.
        augment_p: initial (or, with ada False, fixed) augmentation probability; 0 with ada False: none.
        ada_target: target of r_t = E[sign(D(real))] (0.6 in the ADA paper).
        ada_interval: update p every N batches.
        ada_kimg: p can go from 0 to 1 in this many thousand images.
        augment_geometric / augment_color: which transform groups ADA uses.
        sample_truncation_psi: truncation of the second fixed-sample grid.
        num_fixed_samples: size of the fixed-z sample grids.
        init_from: start fit from this checkpoint's G, G_ema and D weights (one written by ``fit``
            or ``convert``), without its optimizer or progress; see ``models.fine_tuning``.
        init_augment_p: with init_from, also start from its ADA p (else from ``augment_p``).
        freeze_d: Freeze-D, the number of discriminator layers from the highest resolution that
            are not trained (NVlabs' ``--freezed``; per block fromrgb, conv0, conv1, skip).
        num_classes: classes of the data's labels (linked from the DataModule); > 0 makes the
            generator and discriminator class-conditional (their ``c_dim``), 0 takes the networks'
            own ``c_dim`` (0 unless a converted conditional checkpoint says otherwise).
        stylegan3: the StyleGAN3 generator's settings (``StyleGAN3Config``: configs T and R) to train
            it in place of StyleGAN2's (``generator`` is then unused); null = StyleGAN2. As NVlabs'
            stylegan3 training loop: w_avg and the magnitude EMAs move in the Dmain phase only, and
            the generator has no lazy regularization phase (its Adam settings are not rescaled).
        d_lr: the discriminator's learning rate; null = ``lr`` (NVlabs' StyleGAN3 presets: lr 0.0025, d_lr 0.002).
        blur_init_sigma / blur_fade_kimg: blur the images D sees (real and generated) by a Gaussian
            of this sigma in pixels, fading linearly to none over the first blur_fade_kimg thousand
            images (NVlabs' config R: 10 and 200 x batch / 32); 0 = no blur.
        winograd: CPU training only: the 3x3 convolutions of 32 px and larger feature maps run as
            Winograd F(4x4, 3x3) (``nets.layers.winograd_conv3x3``): fewer multiplications, other
            rounding (relative ~1e-5), so off by default; no effect on a GPU or outside training.
        **kwargs: max_kimg and the FID options of ``GANModule``.
    """

    # The training step calls mapping and synthesis separately, never Generator.forward.
    compiled_networks = ("generator.mapping", "generator.synthesis", "discriminator")

    def __init__(
        self,
        resolution: int = 256,
        channels: int = 3,
        generator: GeneratorConfig = GeneratorConfig(),
        discriminator: DiscriminatorConfig = DiscriminatorConfig(),
        lr: float = 0.002,
        betas: tuple[float, float] = (0.0, 0.99),
        gan_loss: GANLoss = "non_saturating",
        r1_gamma: float = 10.0,
        r1_interval: int = 16,
        lambda_r1: float = 0.0,
        lambda_r2: float = 0.0,
        pl_weight: float = 2.0,
        pl_interval: int = 4,
        pl_decay: float = 0.01,
        pl_batch_shrink: int = 2,
        style_mixing_prob: float = 0.9,
        ema_kimg: float | None = 10.0,
        ema_rampup: float | None = 0.05,
        ada: bool = True,
        augment_p: float = 0.0,
        ada_target: float = 0.6,
        ada_interval: int = 4,
        ada_kimg: float = 500.0,
        augment_geometric: bool = True,
        augment_color: bool = True,
        sample_truncation_psi: float = 0.7,
        num_fixed_samples: int = 16,
        init_from: str | None = None,
        init_augment_p: bool = False,
        freeze_d: int = 0,
        num_classes: int = 0,
        winograd: bool = False,
        stylegan3: StyleGAN3Config | None = None,
        d_lr: float | None = None,
        blur_init_sigma: float = 0.0,
        blur_fade_kimg: float = 200.0,
        **kwargs,
    ) -> None:
        generator_config = as_config(GeneratorConfig, generator)  # a dict when loaded from a checkpoint
        discriminator_config = as_config(DiscriminatorConfig, discriminator)
        stylegan3_config = None if stylegan3 is None else as_config(StyleGAN3Config, stylegan3)
        if stylegan3_config is not None:  # its c_dim is the one the labels decide, as StyleGAN2's is
            generator_config = dataclasses.replace(generator_config, c_dim=stylegan3_config.c_dim)
        generator_config, discriminator_config = with_classes(num_classes, generator_config, discriminator_config)
        num_classes = generator_config.c_dim
        if stylegan3_config is not None:
            stylegan3_config = dataclasses.replace(stylegan3_config, c_dim=num_classes)
        super().__init__(resolution=resolution, channels=channels, num_classes=num_classes, **kwargs)
        check_resolution(resolution)
        check_positive("lr", lr)
        for name, value in (("r1_interval", r1_interval), ("pl_interval", pl_interval), ("ada_interval", ada_interval), ("pl_batch_shrink", pl_batch_shrink)):
            check_at_least(name, value, 1)
        check_range("style_mixing_prob", style_mixing_prob, 0, 1)
        if gan_loss not in STYLEGAN_LOSSES:
            raise UserError(f"StyleGAN: gan_loss {gan_loss!r} is invalid; allowed: {', '.join(STYLEGAN_LOSSES)} (wgan_gp's penalty is VanillaGAN's)")
        check_penalty_weights(lambda_r1, lambda_r2)
        if lambda_r1 > 0 and r1_gamma > 0:
            raise UserError(f"lambda_r1={lambda_r1} and r1_gamma={r1_gamma} both weigh R1; allowed: one of them > 0 (r1_gamma 0 for R1 at every step)")
        check_range("ada_target", ada_target, 0, 1, low_open=True, high_open=True)
        check_positive("ema_kimg", ema_kimg, optional=True)  # null: no EMA
        check_positive("d_lr", d_lr, optional=True)  # null: lr
        check_at_least("blur_init_sigma", blur_init_sigma, 0)
        check_positive("blur_fade_kimg", blur_fade_kimg)
        # save_hyperparameters reads these arguments: plain dicts keep hparams.yaml and checkpoints plain data.
        generator, discriminator = dataclasses.asdict(generator_config), dataclasses.asdict(discriminator_config)
        stylegan3 = None if stylegan3_config is None else dataclasses.asdict(stylegan3_config)
        self.save_hyperparameters()
        # LightningCLI hands save_hyperparameters the parsed config, whose c_dim is the networks' own:
        # record the c_dim the labels gave, so checkpoints rebuild the networks built here.
        self.hparams.update(generator=generator, discriminator=discriminator, num_classes=num_classes, stylegan3=stylegan3)
        self.generator = self.build_generator()
        self.discriminator = Discriminator(resolution, channels, discriminator_config)
        freeze_discriminator_layers(self.discriminator, freeze_d)
        if ema_kimg is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.augment = AdaptiveAugment(p=augment_p, geometric=augment_geometric, color=augment_color)
        self.register_buffer("fixed_z", latents_for_seeds(seed_range(0, num_fixed_samples), self.generator.z_dim))
        self.register_buffer("pl_mean", torch.zeros(()))  # running mean path length a (checkpointed)
        self.register_buffer("batches_done", torch.zeros((), dtype=torch.int64))  # drives the lazy intervals
        # sum of sign(D(real)) and count since the last ADA update: checkpointed, so a resume between
        # two updates moves p exactly as the uninterrupted run does
        self.register_buffer("ada_stats", torch.zeros(2))

    class_conditional = True
    per_process_buffer_names = ("ada_stats",)  # each process's share of the interval: averaged by gan_ddp, kept by ddp

    def configure_optimizers(self):
        # Lazy regularization takes an extra optimizer step every `interval` batches: scale lr and
        # betas by interval / (interval + 1) so the optimizer sees the same averages (NVlabs' mb_ratio).
        # NVlabs keeps the lazy phases, and so the scaling, when a weight is 0 (their cifar preset).
        hp = self.hparams
        optimizers = []
        d_lr = hp.get("d_lr") or hp.lr
        # NVlabs' StyleGAN3 loop has no lazy G phase: its G settings are not rescaled
        g_interval = None if self.is_stylegan3 else hp.pl_interval
        for module, interval, lr in ((self.generator, g_interval, hp.lr), (self.discriminator, hp.r1_interval, d_lr)):
            ratio = 1.0 if interval is None else interval / (interval + 1)
            betas = (hp.betas[0] ** ratio, hp.betas[1] ** ratio)
            optimizers.append(torch.optim.Adam(trainable(module.parameters()), lr=lr * ratio, betas=betas, eps=1e-8))
        return tuple(optimizers)

    @property
    def is_stylegan3(self) -> bool:
        return self.hparams.get("stylegan3") is not None

    def setup(self, stage: str) -> None:
        super().setup(stage)
        # The discriminator sees batches of the data's batch size (drop_last): check it fits its
        # minibatch-std groups now, not at the first step after the sanity check.
        datamodule = self.trainer.datamodule
        batch_size = getattr(datamodule, "batch_size", None)
        data_classes = getattr(datamodule, "num_classes", None)
        if stage != "predict" and isinstance(data_classes, int) and data_classes != self.num_classes:
            raise UserError(
                f"the data gives {data_classes} classes (num_classes) but this StyleGAN is built for {self.num_classes} "
                "(its c_dim); allowed: data with the same labels (0 = none)"
            )
        if stage == "fit" and isinstance(batch_size, int):
            for layer in self.discriminator.modules():
                if isinstance(layer, MinibatchStdDev):
                    layer.check_batch_size(batch_size)
        # Before the optimizers are made; a resumed run (--ckpt_path) restores its own weights instead.
        if stage == "fit" and self.hparams.init_from and self.trainer.ckpt_path is None:
            report = init_from_checkpoint(
                self.hparams.init_from,
                self.hparams.resolution,
                self.hparams.channels,
                dict(self.hparams),
                {"generator": self.generator, "generator_ema": getattr(self, "generator_ema", None), "discriminator": self.discriminator},
                self.augment.p if self.hparams.init_augment_p else None,
            )
            rank_zero_info("init_from: " + "; ".join(report))

    # --- latents ---------------------------------------------------------------------------------

    def random_latents(self, num: int) -> Tensor:
        return torch.randn(num, self.generator.z_dim, device=self.device)

    def real_labels(self, batch) -> Tensor | None:
        """The batch's class labels as one-hot ``c`` (N, c_dim); None for an unconditional model."""
        return class_vectors(batch[1], self.num_classes, self.device) if self.num_classes > 0 else None

    def generated_labels(self, real_c: Tensor | None, num: int) -> Tensor | None:
        """``c`` for ``num`` generated images, drawn from the training labels (with replacement from
        this batch's, each a uniformly drawn training item's): NVlabs' gen_c, the data's label distribution."""
        if real_c is None:
            return None
        return real_c[torch.randint(real_c.shape[0], (num,), device=self.device)]

    def synthesized(self, ws: Tensor, update_emas: bool = False) -> Tensor:
        """G's images for ws; ``update_emas`` moves StyleGAN3's magnitude EMAs (Dmain, as NVlabs)."""
        return self.generator.synthesis(ws, update_emas=update_emas) if self.is_stylegan3 else self.generator.synthesis(ws)

    def discriminator_input(self, images: Tensor) -> Tensor:
        """What D sees: the images blurred (``blur_init_sigma``, fading out), then augmented."""
        sigma = self.hparams.get("blur_init_sigma", 0.0)
        if sigma > 0:
            sigma *= max(1 - host_scalar(self.images_seen) / (self.hparams.blur_fade_kimg * 1000), 0)
        if sigma > 0:
            radius = int(3 * sigma)
            taps = torch.exp2(-(torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32) / sigma).square())
            images = upfirdn2d(images, taps / taps.sum(), padding=radius)
        return self.augment(images)

    def mapped_latents(self, z: Tensor, c: Tensor | None = None, update_w_avg: bool = True) -> Tensor:
        """ws for the latents z (and labels c); with probability style_mixing_prob the rows from a
        random cutoff on come from a second z with the same c (style mixing regularization). The draws
        (cutoff, coin, second z) are made in NVlabs' order, every time, so a seeded step consumes the
        random stream as theirs does."""
        ws = self.generator.mapping(z, c, update_w_avg=update_w_avg)
        if self.hparams.style_mixing_prob > 0:
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            if not torch.rand(()).item() < self.hparams.style_mixing_prob:
                cutoff = ws.shape[1]
            mixed = self.generator.mapping(torch.randn_like(z), c, update_w_avg=False)
            ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        return ws

    # --- training --------------------------------------------------------------------------------

    def training_step(self, batch, batch_idx: int) -> None:
        with winograd_convolutions(self.hparams.get("winograd", False)):  # absent from older checkpoints' hparams
            self.train_batch(batch, batch_idx)

    def train_batch(self, batch, batch_idx: int) -> None:
        """One batch as NVlabs' loop runs it: the four phases, the generator EMA, progress, ADA."""
        hp = self.hparams
        real = batch[0]
        num = real.shape[0]
        real_c = self.real_labels(batch)  # labels go to G and D in every phase (None: unconditional)
        step = host_scalar(self.batches_done)  # counted on the host: no wait for the GPU per batch
        log_now = self.logging_step(batch_idx)  # gradient norms only on the batches the loggers record
        logs: Logs = {}
        # One draw of latents for all phases, in NVlabs' phase order (Dreg's go unused, as theirs). Their
        # StyleGAN3 loop has three (one G phase, Gboth, whose path length term takes Gmain's latents).
        if self.is_stylegan3:
            z_gmain, z_dmain, _ = self.random_latents(3 * num).split(num)
            z_greg = z_gmain
        else:
            z_gmain, z_greg, z_dmain, _ = self.random_latents(4 * num).split(num)

        with frozen(self.discriminator):  # the generator phases compute no D weight gradients
            g_loss = self.generator_main(z_gmain, real, real_c, logs, log_now)
            if hp.pl_weight > 0 and step % hp.pl_interval == 0:
                self.generator_regularization(z_greg, real_c, logs)
        d_loss, real_logits, fake_logits = self.discriminator_main(real, real_c, z_dmain, logs, log_now)
        if hp.r1_gamma > 0 and step % hp.r1_interval == 0:
            self.discriminator_regularization(real, real_c, logs)

        global_batch = num * self.trainer.world_size
        self.update_generator_ema(global_batch, logs, log_now)
        self.count_images(num)
        set_scalar(self.batches_done, step + 1)
        if hp.ada and (step + 1) % hp.ada_interval == 0:
            self.update_augment_p(hp.ada_interval * global_batch)
        augment_p = self.augment.p.clone()  # logged as a device tensor: read by the loggers on logging steps only
        logs.update(
            {
                "train/d_loss": d_loss.detach(),
                "train/g_loss": g_loss.detach(),
                "train/d_real": real_logits.detach().float().mean(),
                "train/d_fake": fake_logits.detach().float().mean(),
                "train/augment_p": augment_p,
            }
        )
        self.log_dict(logs)
        self.log_progress({"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "p": augment_p}, log_now)

    def generator_main(self, z: Tensor, real: Tensor, real_c: Tensor | None, logs: Logs, log_now: bool) -> Tensor:
        """Gmain: the generated images should fool the (augmented, frozen) discriminator, compared with
        the augmented reals for the relativistic loss; its loss."""
        opt_g, _ = self.optimizers()
        gan_loss = self.hparams.get("gan_loss", "non_saturating")  # absent from older checkpoints' hparams
        fake_c = self.generated_labels(real_c, z.shape[0])
        fake = self.synthesized(self.mapped_latents(z, fake_c, update_w_avg=not self.is_stylegan3))
        fake_logits = self.discriminator(self.discriminator_input(fake), fake_c)
        real_logits = self.discriminator(self.discriminator_input(real.detach()), real_c) if needs_real_logits(gan_loss) else None
        loss = generator_loss(gan_loss, fake_logits, real_logits)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if log_now:
            logs["train/g_grad_norm"] = grad_norm(self.generator.parameters(), self.loss_scale())
        opt_g.step()
        return loss

    def generator_regularization(self, z: Tensor, real_c: Tensor | None, logs: Logs) -> None:
        """Greg: lazy path length regularization on the first 1/pl_batch_shrink of ``z``, weighted by
        pl_weight * pl_interval; updates the running mean path length."""
        hp = self.hparams
        opt_g, _ = self.optimizers()
        pl_num = max(z.shape[0] // hp.pl_batch_shrink, 1)
        with self.eager():  # double backward
            ws = self.mapped_latents(z[:pl_num], self.generated_labels(real_c, pl_num))
            images = self.generator.synthesis(ws)
            penalty, _, new_mean = path_length_penalty(images, ws, self.pl_mean, hp.pl_decay)
        opt_g.zero_grad(set_to_none=True)
        # + 0 * image: every generator weight gets a (zero) gradient, as in NVlabs' Greg (Adam then
        # steps all of them, and DDP sees no unused parameters)
        self.manual_backward(penalty * hp.pl_weight * hp.pl_interval + images[:, 0, 0, 0].sum() * 0)
        opt_g.step()
        # lerp is linear: averaging the updated means over processes gives the global running mean;
        # a non-finite one (a float16 overflow, whose step the loss scaler skips) leaves a unchanged
        new_mean = self.trainer.strategy.reduce(new_mean, reduce_op="mean")
        self.pl_mean.copy_(torch.where(new_mean.isfinite(), new_mean, self.pl_mean))
        logs["train/pl_penalty"] = penalty.detach()
        logs["train/pl_mean"] = self.pl_mean.clone()

    def discriminator_main(self, real: Tensor, real_c: Tensor | None, z: Tensor, logs: Logs, log_now: bool) -> tuple[Tensor, Tensor, Tensor]:
        """Dmain: the loss pushes generated images down and real ones up, both through the same
        augmentation, with the non-lazy R1 and R2 when weighted; the loss and the real and fake logits."""
        hp = self.hparams
        _, opt_d = self.optimizers()
        lambda_r1, lambda_r2 = hp.get("lambda_r1", 0.0), hp.get("lambda_r2", 0.0)  # absent from older checkpoints' hparams
        with torch.no_grad():
            fake_c = self.generated_labels(real_c, z.shape[0])
            fake = self.synthesized(self.mapped_latents(z, fake_c), update_emas=True)
        fake_input = fake.requires_grad_(lambda_r2 > 0)
        real_input = real.detach().requires_grad_(lambda_r1 > 0)
        with self.eager(lambda_r1 > 0 or lambda_r2 > 0):  # double backward
            fake_logits = self.discriminator(self.discriminator_input(fake_input), fake_c)
            real_logits = self.discriminator(self.discriminator_input(real_input), real_c)
            loss = discriminator_loss(hp.get("gan_loss", "non_saturating"), real_logits, fake_logits)
            if lambda_r1 > 0:
                r1 = r1_penalty(real_logits, real_input)
                loss = loss + lambda_r1 / 2 * r1
                logs["train/r1_penalty"] = r1.detach()
            if lambda_r2 > 0:
                r2 = r2_penalty(fake_logits, fake_input)
                loss = loss + lambda_r2 / 2 * r2
                logs["train/r2_penalty"] = r2.detach()
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if log_now:
            logs["train/d_grad_norm"] = grad_norm(self.discriminator.parameters(), self.loss_scale())
        opt_d.step()
        self.count_real_signs(real_logits)
        return loss, real_logits, fake_logits

    def discriminator_regularization(self, real: Tensor, real_c: Tensor | None, logs: Logs) -> None:
        """Dreg: lazy R1 on the augmented reals, weighted by r1_gamma / 2 * r1_interval; the gradient is
        taken with respect to the un-augmented image."""
        hp = self.hparams
        _, opt_d = self.optimizers()
        real_input = real.detach().requires_grad_(True)
        with self.eager():  # double backward
            logits = self.discriminator(self.discriminator_input(real_input), real_c)
            penalty = r1_penalty(logits, real_input)
        opt_d.zero_grad(set_to_none=True)
        # + 0 * logits: every weight gets a gradient, as in stylegan2-ada's Dreg. NVlabs' stylegan3 loss
        # drops the term: there Adam skips the output bias (no part in R1) and leaves its state alone.
        zero = 0 if self.is_stylegan3 else logits.sum() * 0
        self.manual_backward(penalty * (hp.r1_gamma / 2) * hp.r1_interval + zero)
        opt_d.step()
        self.count_real_signs(logits)  # NVlabs' ADA statistic counts the R1 pass's reals too
        logs["train/r1_penalty"] = penalty.detach()

    def update_generator_ema(self, global_batch: int, logs: Logs, log_now: bool) -> None:
        """G_ema moves toward G by the EMA schedule (``ema_beta``); nothing without an EMA."""
        if not hasattr(self, "generator_ema"):
            return
        beta = self.ema_beta(global_batch)
        update_ema(self.generator_ema, self.generator, beta)
        if log_now:  # a Python number is copied to the device when logged, a wait per copy
            logs["train/ema_beta"] = beta

    def count_real_signs(self, real_logits: Tensor) -> None:
        """Add sign(D(real)) of one pass to the ADA statistic r_t."""
        signs = real_logits.detach().float().sign()
        self.ada_stats += torch.stack([signs.sum(), signs.new_full((), signs.numel())])  # no host-to-device copy

    def ema_beta(self, global_batch: int) -> float:
        """NVlabs' EMA schedule: half-life ema_kimg (in images), at most images_seen * ema_rampup early on."""
        ema_nimg = self.hparams.ema_kimg * 1000.0
        if self.hparams.ema_rampup is not None:
            ema_nimg = min(ema_nimg, host_scalar(self.images_seen) * self.hparams.ema_rampup)
        return 0.5 ** (global_batch / max(ema_nimg, 1e-8))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # checkpoints written before ada_stats was saved: start its interval empty, as they did
        checkpoint["state_dict"].setdefault("ada_stats", torch.zeros(2))

    def update_augment_p(self, num_images: int) -> None:
        """ADA: r_t = E[sign(D(real))] over the last interval and all processes; p steps toward
        r_t = target by ``num_images`` (the images of the interval, as NVlabs) / (ada_kimg * 1000)."""
        stats = self.trainer.strategy.reduce(self.ada_stats.clone(), reduce_op="sum")
        signs, count = stats.tolist()
        self.ada_stats.zero_()
        if count <= 0:
            return
        rt = signs / count
        self.augment.update_p(rt, num_images, self.hparams.ada_target, self.hparams.ada_kimg)
        self.log("train/ada_rt", rt)

    # --- sampling --------------------------------------------------------------------------------

    def class_labels(self, class_index: int | None, num: int, option: str = "class_index") -> Tensor | None:
        """``c`` for ``num`` images of class ``class_index`` (which a conditional model needs and an
        unconditional one refuses; errors name ``option``)."""
        check_class(class_index, self.num_classes, option)
        return None if class_index is None else class_vectors([class_index] * num, self.num_classes, self.device)

    @torch.no_grad()
    def generate(
        self,
        num: int,
        seed: int = 0,
        truncation_psi: float = 1.0,
        noise_mode: NoiseMode = "const",
        class_index: int | None = None,
    ) -> Tensor:
        """``num`` images in [-1, 1] from the EMA generator; image k comes from seed ``seed + k``
        (of class ``class_index`` for a class-conditional model)."""
        check_noise_mode(noise_mode)
        z = latents_for_seeds(seed_range(seed, num), self.generator.z_dim, self.device)
        c = self.class_labels(class_index, num)
        chunks = [(chunk, None if c is None else c[i : i + 64]) for chunk, i in zip(z.split(64), range(0, num, 64))]
        with eval_mode(self.sampling_generator) as generator:
            return torch.cat([generator(zs, cs, truncation_psi=truncation_psi, noise_mode=noise_mode) for zs, cs in chunks])

    def predict_step(self, batch: Tensor | list[Tensor], batch_idx: int) -> dict:
        """Batch = seeds (from the DataModule's predict loader), or (seeds, classes) with its
        predict_class -> one image per seed, named by it (and by its class)."""
        seeds_tensor, classes = (batch[0], batch[1]) if isinstance(batch, (list, tuple)) else (batch, None)
        seeds = seeds_tensor.tolist()
        class_index = None if classes is None else int(classes[0])
        c = self.class_labels(class_index, len(seeds), "--data.init_args.predict_class")
        z = latents_for_seeds(seeds, self.generator.z_dim, self.device)
        names = seed_names(seeds) if class_index is None else [f"class{class_index:03d}_{name}" for name in seed_names(seeds)]
        with eval_mode(self.sampling_generator) as generator:
            return {"images": generator(z, c, noise_mode="const"), "names": names}

    @property
    def sample_grid_columns(self) -> int | None:
        """Images per grid row: a conditional model's grids have one row per class."""
        return self.fixed_z.shape[0] if self.num_classes > 0 else None

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        """The fixed z (and for a conditional model, each z in each of the first MAX_GRID_CLASSES
        classes: one row per class, the same z down a column)."""
        psi = self.hparams.sample_truncation_psi
        z, c = self.fixed_z, None
        if self.num_classes > 0:
            rows = min(self.num_classes, MAX_GRID_CLASSES)
            c = class_vectors(torch.arange(rows).repeat_interleave(z.shape[0]), self.num_classes, self.device)
            z = z.repeat(rows, 1)
        with eval_mode(self.sampling_generator) as generator:
            return {
                "samples": generator(z, c, noise_mode="const"),
                f"samples_psi{psi:g}": generator(z, c, truncation_psi=psi, noise_mode="const"),
            }

    def fid_fake_images(self, batch) -> Tensor:
        # Conditional: the validation batch's labels, so the fakes have the real images' label distribution.
        with eval_mode(self.sampling_generator) as generator:
            return generator(self.random_latents(batch[0].shape[0]), self.real_labels(batch), noise_mode="random")

    def metric_fake_images(self, metric_set) -> tuple[ImagesOf, int]:
        # Conditional: image i gets the label of a random real item (the real set's label distribution).
        classes = drawn_labels(item_labels(metric_set), self.fid_num_samples) if self.num_classes > 0 else None
        return seeded_images(self.sampling_generator, self.device, classes, noise_mode="random"), self.fid_num_samples


__all__ = ["StyleGAN"]
