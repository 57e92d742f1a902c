"""StyleGAN: StyleGAN2 (Karras et al. 2020) with adaptive discriminator augmentation (ADA), trained
after NVlabs' stylegan2-ada-pytorch (``training/loss.py`` StyleGAN2Loss and its training loop).

Per batch, in this order:
  Dmain  logistic loss on augmented real and generated images;
  Dreg   lazy R1 on real images, every ``r1_interval`` batches, weighted by gamma/2 * interval;
  Gmain  non-saturating loss through the augmented (frozen) discriminator;
  Greg   path length regularization, every ``pl_interval`` batches, weighted by pl_weight * interval;
then the generator EMA (half-life ``ema_kimg`` with ramp-up) and, every ``ada_interval`` batches,
the ADA probability update from r_t = E[sign(D(real))]. Latents are style-mixed with probability
``style_mixing_prob``. All schedules are in images seen (kimg), so they do not depend on batch size.

Not verified against NVlabs (see the StyleGAN fidelity issue): no training step has been compared
with theirs (NVlabs runs the G phases before the D phases); the augmentation differs (see
``gan_lightning.augment``); the presets in configs/ are not NVlabs' cfg_specs (e.g. their paper256
uses minibatch-std group 8; their cifar preset turns off path length and style mixing and uses the
'orig' discriminator, which is not built here).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from gan_lightning.augment import AdaptiveAugment
from gan_lightning.errors import UserError
from gan_lightning.evaluation.suite import ImagesOf, seeded_images
from gan_lightning.losses import d_logistic_loss, g_nonsaturating_loss, path_length_penalty, r1_penalty
from gan_lightning.models.base import GANModule, check_learning_rates
from gan_lightning.models.fine_tuning import freeze_discriminator_layers, init_from_checkpoint, trainable
from gan_lightning.nets.layers import MinibatchStdDev, NoiseMode, check_noise_mode
from gan_lightning.nets.stylegan2 import Discriminator, DiscriminatorConfig, GeneratorConfig, as_config, check_resolution
from gan_lightning.sampling import latents_for_seeds, seed_names, seed_range
from gan_lightning.torch_utils import eval_mode, frozen, grad_norm, host_scalar, set_scalar, update_ema


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
        r1_gamma: R1 weight gamma (0 disables R1).
        r1_interval: lazy R1 every N batches.
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
        r1_gamma: float = 10.0,
        r1_interval: int = 16,
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
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)
        check_resolution(resolution)
        check_learning_rates(lr=lr)
        generator_config = as_config(GeneratorConfig, generator)  # a dict when loaded from a checkpoint
        discriminator_config = as_config(DiscriminatorConfig, discriminator)
        for name, value in (("r1_interval", r1_interval), ("pl_interval", pl_interval), ("ada_interval", ada_interval), ("pl_batch_shrink", pl_batch_shrink)):
            if value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise UserError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob}")
        if not 0.0 < ada_target < 1.0:
            raise UserError(f"ada_target must be in (0, 1), got {ada_target}")
        if ema_kimg is not None and ema_kimg <= 0:
            raise UserError(f"ema_kimg must be positive or null (no EMA), got {ema_kimg}")
        # save_hyperparameters reads these arguments: plain dicts keep hparams.yaml and checkpoints plain data.
        generator, discriminator = dataclasses.asdict(generator_config), dataclasses.asdict(discriminator_config)
        self.save_hyperparameters()
        self.generator = self.build_generator()
        self.discriminator = Discriminator(resolution, channels, discriminator_config)
        freeze_discriminator_layers(self.discriminator, freeze_d)
        if ema_kimg is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.augment = AdaptiveAugment(p=augment_p, geometric=augment_geometric, color=augment_color)
        self.register_buffer("fixed_z", latents_for_seeds(seed_range(0, num_fixed_samples), generator_config.z_dim))
        self.register_buffer("pl_mean", torch.zeros(()))  # running mean path length a (checkpointed)
        self.register_buffer("batches_done", torch.zeros((), dtype=torch.int64))  # drives the lazy intervals
        # sum of sign(D(real)) and count since the last ADA update: checkpointed, so a resume between
        # two updates moves p exactly as the uninterrupted run does
        self.register_buffer("ada_stats", torch.zeros(2))

    def configure_optimizers(self):
        # Lazy regularization takes an extra optimizer step every `interval` batches: scale lr and
        # betas by interval / (interval + 1) so the optimizer sees the same averages (NVlabs' mb_ratio).
        hp = self.hparams
        optimizers = []
        for module, interval, active in (
            (self.generator, hp.pl_interval, hp.pl_weight > 0),
            (self.discriminator, hp.r1_interval, hp.r1_gamma > 0),
        ):
            ratio = interval / (interval + 1) if active else 1.0
            betas = (hp.betas[0] ** ratio, hp.betas[1] ** ratio)
            optimizers.append(torch.optim.Adam(trainable(module.parameters()), lr=hp.lr * ratio, betas=betas, eps=1e-8))
        return tuple(optimizers)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        # The discriminator sees batches of the data's batch size (drop_last): check it fits its
        # minibatch-std groups now, not at the first step after the sanity check.
        batch_size = getattr(self.trainer.datamodule, "batch_size", None)
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

    def mapped_latents(self, num: int) -> Tensor:
        """ws for ``num`` random z; with probability style_mixing_prob the rows from a random
        cutoff on come from a second z (style mixing regularization)."""
        z = self.random_latents(num)
        ws = self.generator.mapping(z)
        if self.hparams.style_mixing_prob > 0 and torch.rand(()).item() < self.hparams.style_mixing_prob:
            cutoff = int(torch.randint(1, ws.shape[1], ()))
            mixed = self.generator.mapping(self.random_latents(num), update_w_avg=False)
            ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        return ws

    # --- training --------------------------------------------------------------------------------

    def training_step(self, batch, batch_idx: int) -> None:
        hp = self.hparams
        real = batch[0]
        num = real.shape[0]
        opt_g, opt_d = self.optimizers()
        step = host_scalar(self.batches_done)  # counted on the host: no wait for the GPU per batch
        log_now = self.logging_step(batch_idx)  # gradient norms only on the batches the loggers record
        logs: dict[str, Tensor | float] = {}

        # Dmain: real images up, generated images down, both through the same augmentation.
        with torch.no_grad():
            fake = self.generator.synthesis(self.mapped_latents(num))
        real_logits = self.discriminator(self.augment(real))
        fake_logits = self.discriminator(self.augment(fake))
        d_loss = d_logistic_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss)
        if log_now:
            logs["train/d_grad_norm"] = grad_norm(self.discriminator.parameters(), self.loss_scale())
        opt_d.step()
        self.ada_stats += torch.stack([real_logits.detach().float().sign().sum(), real_logits.new_full((), num, dtype=torch.float32)])  # no host-to-device copy

        # Dreg: lazy R1 on (augmented) reals; the gradient is taken w.r.t. the un-augmented image.
        if hp.r1_gamma > 0 and step % hp.r1_interval == 0:
            real_input = real.detach().requires_grad_(True)
            with self.eager():  # double backward
                penalty = r1_penalty(self.discriminator(self.augment(real_input)), real_input, self.loss_scale())
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(penalty * (hp.r1_gamma / 2) * hp.r1_interval)
            opt_d.step()
            logs["train/r1_penalty"] = penalty.detach()

        with frozen(self.discriminator):  # the generator phases compute no D weight gradients
            # Gmain: fool the discriminator.
            fake = self.generator.synthesis(self.mapped_latents(num))
            g_loss = g_nonsaturating_loss(self.discriminator(self.augment(fake)))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            if log_now:
                logs["train/g_grad_norm"] = grad_norm(self.generator.parameters(), self.loss_scale())
            opt_g.step()

            # Greg: path length regularization on a smaller batch.
            if hp.pl_weight > 0 and step % hp.pl_interval == 0:
                with self.eager():  # double backward
                    ws = self.mapped_latents(max(num // hp.pl_batch_shrink, 1))
                    images = self.generator.synthesis(ws)
                    penalty, lengths, new_mean = path_length_penalty(images, ws, self.pl_mean, hp.pl_decay, self.loss_scale())
                opt_g.zero_grad(set_to_none=True)
                self.manual_backward(penalty * hp.pl_weight * hp.pl_interval)
                opt_g.step()
                # lerp is linear: averaging the updated means over processes gives the global running mean
                self.pl_mean.copy_(self.trainer.strategy.reduce(new_mean, reduce_op="mean"))
                logs["train/pl_penalty"] = penalty.detach()
                logs["train/pl_mean"] = self.pl_mean.clone()

        global_batch = num * self.trainer.world_size
        if hasattr(self, "generator_ema"):
            beta = self.ema_beta(global_batch)
            update_ema(self.generator_ema, self.generator, beta)
            if log_now:  # a Python number is copied to the device when logged, a wait per copy
                logs["train/ema_beta"] = beta
        self.count_images(num)
        set_scalar(self.batches_done, step + 1)
        if hp.ada and (step + 1) % hp.ada_interval == 0:
            self.update_augment_p()
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

    def ema_beta(self, global_batch: int) -> float:
        """NVlabs' EMA schedule: half-life ema_kimg (in images), at most images_seen * ema_rampup early on."""
        ema_nimg = self.hparams.ema_kimg * 1000.0
        if self.hparams.ema_rampup is not None:
            ema_nimg = min(ema_nimg, host_scalar(self.images_seen) * self.hparams.ema_rampup)
        return 0.5 ** (global_batch / max(ema_nimg, 1e-8))

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # checkpoints written before ada_stats was saved: start its interval empty, as they did
        checkpoint["state_dict"].setdefault("ada_stats", torch.zeros(2))

    def update_augment_p(self) -> None:
        """ADA: r_t = E[sign(D(real))] over the last interval and all processes; p steps toward r_t = target."""
        stats = self.trainer.strategy.reduce(self.ada_stats.clone(), reduce_op="sum")
        signs, count = stats.tolist()
        self.ada_stats.zero_()
        if count <= 0:
            return
        rt = signs / count
        self.augment.update_p(rt, int(count), self.hparams.ada_target, self.hparams.ada_kimg)
        self.log("train/ada_rt", rt)

    # --- sampling --------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(
        self, num: int, seed: int = 0, truncation_psi: float = 1.0, noise_mode: NoiseMode = "const"
    ) -> Tensor:
        """``num`` images in [-1, 1] from the EMA generator; image k comes from seed ``seed + k``."""
        check_noise_mode(noise_mode)
        z = latents_for_seeds(seed_range(seed, num), self.generator.z_dim, self.device)
        with eval_mode(self.sampling_generator) as generator:
            return torch.cat([generator(chunk, truncation_psi=truncation_psi, noise_mode=noise_mode) for chunk in z.split(64)])

    def predict_step(self, batch: Tensor, batch_idx: int) -> dict:
        """Batch = seeds (from the DataModule's predict loader) -> one image per seed, named by it."""
        seeds = batch.tolist()
        z = latents_for_seeds(seeds, self.generator.z_dim, self.device)
        with eval_mode(self.sampling_generator) as generator:
            return {"images": generator(z, noise_mode="const"), "names": seed_names(seeds)}

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        psi = self.hparams.sample_truncation_psi
        with eval_mode(self.sampling_generator) as generator:
            return {
                "samples": generator(self.fixed_z, noise_mode="const"),
                f"samples_psi{psi:g}": generator(self.fixed_z, truncation_psi=psi, noise_mode="const"),
            }

    def fid_fake_images(self, batch) -> Tensor:
        with eval_mode(self.sampling_generator) as generator:
            return generator(self.random_latents(batch[0].shape[0]), noise_mode="random")

    def metric_fake_images(self, metric_set) -> tuple[ImagesOf, int]:
        return seeded_images(self.sampling_generator, self.device, noise_mode="random"), self.fid_num_samples


__all__ = ["StyleGAN"]
