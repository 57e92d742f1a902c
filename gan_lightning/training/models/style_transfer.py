"""StyleTransfer: the generator / style network / content network triple of CUT (Park et al. 2020).

Per batch of unpaired (content x, style y) images:
  1. G translates x (and y, for the identity term) in one pass; with flip equivariance the pass
     sees horizontally flipped inputs half of the time.
  2. Style step: the style network D (PatchGAN) learns real style patches from translated ones
     (loss: the mean of the real and fake terms, as CUT's).
  3. Generator + content step: G fools D, and PatchNCE makes each output patch match the input patch
     at the same place (positive) rather than the other patches of that image (negatives), in the
     feature space of G's own encoder projected by the content network H. G and H step together.
     Perceptual terms (Johnson et al. 2016) can join or replace both: the output's features in a
     frozen network should have the style images' Gram statistics and the input's content features.
     With lambda_gan 0 the style network is not trained (fast neural style: perceptual terms only).
Learning rates are constant for ``lr_constant_epochs`` and then decay linearly to zero over
``lr_decay_epochs`` (schedulers stepped once per epoch).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_lightning.common.checks import check_at_least, check_positive
from gan_lightning.common.errors import UserError
from gan_lightning.evaluation.suite import ImagesOf, dataset_images, translated_images
from gan_lightning.core.losses import AdversarialLoss, check_adversarial_loss, colour_statistics_loss, discriminator_loss, generator_loss, patch_nce_loss, r1_penalty
from gan_lightning.training.callbacks.style_collapse import CollapseMeasures, StyleCollapseDetector, measure_collapse
from gan_lightning.training.models.base import GANModule
from gan_lightning.training.perceptual_terms import PerceptualNormalisation, PerceptualTerms, StyleStatistics
from gan_lightning.core.nets.perceptual import PerceptualConfig
from gan_lightning.core.nets.patchgan import PatchGANConfig, PatchGANDiscriminator
from gan_lightning.core.nets.patchnce import PatchNCEHeads, sample_patch_ids
from gan_lightning.core.nets.resnet import GENERATOR_STRIDE, ResnetGeneratorConfig
from gan_lightning.core.nets.settings import as_config
from gan_lightning.common.tiling import DEFAULT_TILE_SIZE, apply_tiled
from gan_lightning.common.torch_utils import eval_mode, frozen, grad_norm

ColourTarget = Literal["style", "mapped_photo"]
COLOUR_TARGETS: tuple[str, ...] = get_args(ColourTarget)

# CUT's generator loss for least squares is MSE(D(G(x)), 1): the shared least-squares generator loss
# carries a 1/2, so it is doubled here to keep lambda_gan's meaning from the paper.
_REFERENCE_GENERATOR_SCALE = {"least_squares": 2.0}
# CUT's style-network (D) loss is the mean of its real and fake terms, (L_real + L_fake) / 2; the shared
# discriminator losses are their sum, except least squares, whose 1/2 already makes it CUT's.
_REFERENCE_STYLE_SCALE = {"non_saturating": 0.5, "hinge": 0.5}
# The lambda_texture term's features: filters that see no flat colour, so recolouring cannot match them.
TEXTURE_NETWORK = PerceptualConfig("random_spatial")


class StyleTransfer(GANModule):
    """CUT / FastCUT / single-image style transfer; the presets are configs/style_transfer*.yaml.

    Args:
        resolution: training crop side, linked from the DataModule.
        channels: image channels, linked from the DataModule.
        generator: the generator's shape (``ResnetGeneratorConfig``: width, residual blocks, residual output); on the
            command line ``--model.init_args.generator.width``.
        style_network: the PatchGAN style network's size (``PatchGANConfig``: width, layers).
        antialias: blur-based down/upsampling in generator and style network (CUT's default).
        gan_loss: "least_squares" (CUT's default), "non_saturating" or "hinge" (not wgan_gp: the
            style network takes no Lipschitz penalty).
        lambda_gan: weight of the adversarial (style) term.
        lambda_nce: weight of PatchNCE (1 for CUT, 10 for FastCUT).
        nce_identity: also apply PatchNCE to G(style image) vs the style image (CUT, not FastCUT).
        flip_equivariance: translate flipped inputs half of the time and compare with the unflipped
            input's patches (FastCUT's regulariser).
        nce_layers: encoder layer indices for PatchNCE; None: the paper's (RGB pixels, the two
            downsampling convs, residual blocks 1 and 5).
        num_patches: patches sampled per layer and image.
        nce_temperature: tau of PatchNCE.
        projection_dim: output size of the content network's MLP heads.
        nce_negatives_from_batch: draw negatives from all images of the batch (single-image
            training, where all crops come from one picture) instead of the same image only.
        lambda_identity: weight of an L1 loss |G(y) - y| on style images (single image preset).
        lambda_r1: weight of an R1 penalty on the style network's real inputs (single image preset);
            the style loss is (L_real + L_fake) / 2 + lambda_r1 / 2 * R1.
        lambda_style: weight of the perceptual style term (0: off); see ``training/perceptual_terms.py``.
        lambda_content: weight of the perceptual content term (0: off).
        lambda_colour: weight of a term pulling each output's per-channel pixel mean and standard
            deviation to a target (0: off; ``core.losses.colour_statistics_loss``).
        colour_target: the colour term's target. "style": the style images' statistics, the same for
            every crop; "mapped_photo": the crop's own photo statistics moved by the map that takes the
            batch's photo statistics to the style's, so a crop of a dark area keeps a darker target.
        lambda_texture: weight of a second Gram style term, in ``texture_network``'s features (0: off).
            Filters that see no flat colour (random_spatial) cannot be matched by recolouring, which
            colour-sensitive features let a short training settle for (docs/style_transfer.md).
        style_statistics: "gram" (Gatys et al. 2016) or "mean_std" (Huang & Belongie 2017) features statistics.
        content_layer: feature layer of the content term: relu1_1, relu2_1, relu3_1 or relu4_1.
        perceptual: the frozen feature network of the perceptual terms (``PerceptualConfig``: network,
            width, weights_path), as AdaIN's encoder is set.
        texture_network: the frozen feature network of the ``lambda_texture`` term.
        perceptual_normalisation: "absolute" (the papers' squared distances; the default, and what
            checkpoints from before this option trained with) or "relative" (each Gram layer and the
            content term divided by the target's squared norm: layers weigh alike, the presets' choice).
        lr: Adam learning rate of all three optimizers.
        betas: Adam betas.
        lr_constant_epochs: epochs at the initial learning rate.
        lr_decay_epochs: epochs of linear decay to zero after that.
        num_logged_images: validation images whose input / output / identity triplets are logged.
        stylize_size: the short side, in pixels, of the photos at the scale training saw them (the
            data's ``load_size``), recorded at the start of ``fit`` so that ``stylize`` can resize
            photos to it; None: unknown (checkpoints from before it was recorded).
        **kwargs: max_kimg and the FID options of ``GANModule``.
    """

    compiled_networks = ("generator", "style_network", "content_network")

    def __init__(
        self,
        resolution: int = 256,
        channels: int = 3,
        generator: ResnetGeneratorConfig = ResnetGeneratorConfig(),
        style_network: PatchGANConfig = PatchGANConfig(),
        antialias: bool = True,
        gan_loss: AdversarialLoss = "least_squares",
        lambda_gan: float = 1.0,
        lambda_nce: float = 1.0,
        nce_identity: bool = True,
        flip_equivariance: bool = False,
        nce_layers: list[int] | None = None,
        num_patches: int = 256,
        nce_temperature: float = 0.07,
        projection_dim: int = 256,
        nce_negatives_from_batch: bool = False,
        lambda_identity: float = 0.0,
        lambda_r1: float = 0.0,
        lambda_style: float = 0.0,
        lambda_content: float = 0.0,
        lambda_colour: float = 0.0,
        colour_target: ColourTarget = "style",
        lambda_texture: float = 0.0,
        style_statistics: StyleStatistics = "gram",
        content_layer: str = "relu3_1",
        perceptual: PerceptualConfig = PerceptualConfig(),
        texture_network: PerceptualConfig = TEXTURE_NETWORK,
        perceptual_normalisation: PerceptualNormalisation = "absolute",
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        lr_constant_epochs: int = 200,
        lr_decay_epochs: int = 200,
        num_logged_images: int = 4,
        stylize_size: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)
        if check_adversarial_loss(gan_loss) == "wgan_gp":
            raise UserError("gan_loss 'wgan_gp' is invalid for style transfer; allowed: least_squares, non_saturating, hinge")
        if resolution % GENERATOR_STRIDE != 0:
            raise UserError(f"resolution {resolution} is invalid; allowed: a multiple of {GENERATOR_STRIDE} (the generator's stride)")
        for name, value in (("lambda_gan", lambda_gan), ("lambda_nce", lambda_nce), ("lambda_identity", lambda_identity), ("lambda_r1", lambda_r1), ("lambda_style", lambda_style), ("lambda_content", lambda_content), ("lambda_colour", lambda_colour), ("lambda_texture", lambda_texture)):
            check_at_least(name, value, 0)
        if colour_target not in COLOUR_TARGETS:
            raise UserError(f"colour_target {colour_target!r} is invalid; allowed: {', '.join(COLOUR_TARGETS)}")
        check_positive("lr", lr)
        check_at_least("num_patches", num_patches, 1)
        check_positive("nce_temperature", nce_temperature)
        check_at_least("lr_constant_epochs", lr_constant_epochs, 0)
        check_at_least("lr_decay_epochs", lr_decay_epochs, 0)
        # Dicts of their fields in the hyper-parameters (a dict when loaded from a checkpoint).
        style_config, perceptual_config = as_config(PatchGANConfig, style_network), as_config(PerceptualConfig, perceptual)
        texture_config = as_config(PerceptualConfig, texture_network, default=TEXTURE_NETWORK)
        self.save_hyperparameters()
        self.hparams.update(
            generator=dataclasses.asdict(as_config(ResnetGeneratorConfig, generator)),
            style_network=dataclasses.asdict(style_config),
            perceptual=dataclasses.asdict(perceptual_config),
            texture_network=dataclasses.asdict(texture_config),
        )

        self.generator = self.build_generator()
        self.style_network = PatchGANDiscriminator(in_channels=channels, ndf=style_config.width, n_layers=style_config.layers, antialias=antialias)
        self.nce_layers = tuple(nce_layers) if nce_layers is not None else self.generator.paper_nce_layers
        # Built here from the encoder's channel counts (not lazily in a step): the optimizer,
        # checkpoints, resume and DDP all see the content network from the start.
        self.content_network = PatchNCEHeads(in_channels=self.generator.feature_channels(self.nce_layers), out_features=projection_dim)
        self._logged: tuple[Tensor, Tensor] | None = None
        self.perceptual: PerceptualTerms | None = None
        if lambda_style > 0 or lambda_content > 0:
            self.perceptual = PerceptualTerms(perceptual_config, style_statistics, content_layer, perceptual_normalisation)
        self.texture: PerceptualTerms | None = None
        if lambda_texture > 0:
            self.texture = PerceptualTerms(texture_config, "gram", content_layer, perceptual_normalisation)

    def configure_callbacks(self) -> list:
        return [StyleCollapseDetector()]

    def on_fit_start(self) -> None:
        # The scale of the photos in training, for ``stylize`` to resize to (an attribute of the data
        # modules of this family; other data leaves it unknown).
        load_size = getattr(self.trainer.datamodule, "load_size", None)
        if load_size is not None:
            self.hparams.stylize_size = int(load_size)
        super().on_fit_start()

    def configure_optimizers(self):
        hp = self.hparams
        adam = lambda module: torch.optim.Adam(module.parameters(), lr=hp.lr, betas=tuple(hp.betas))  # noqa: E731
        optimizers = [adam(self.generator), adam(self.style_network), adam(self.content_network)]

        def constant_then_linear(epoch: int) -> float:
            # Epochs 0..n-1 at lr; then lr * (1 - k / (d + 1)) for decay epoch k = 1..d, as in the paper's code.
            return 1.0 - max(0, epoch + 1 - hp.lr_constant_epochs) / float(hp.lr_decay_epochs + 1)

        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, constant_then_linear) for opt in optimizers]
        return optimizers, schedulers

    def on_train_epoch_start(self) -> None:
        # Manual optimization: Lightning does not step schedulers itself. Stepping up to the current
        # epoch (rather than once per epoch end) stays right after a resume from any checkpoint.
        for scheduler in self.lr_schedulers():
            while scheduler.last_epoch < self.current_epoch:
                scheduler.step()

    # --- the paper's losses ---------------------------------------------------------------------

    def patch_nce(self, source: Tensor, output: Tensor, flipped: bool) -> Tensor:
        """PatchNCE between ``output`` = G(source) (queries) and ``source`` (keys), averaged over layers."""
        query_feats = self.generator.encode(output, self.nce_layers)
        if flipped:  # output came from the flipped source: flip its features back into place
            query_feats = [f.flip(3) for f in query_feats]
        # Keys are targets (detached inside the loss), so their forward needs no graph.
        with torch.no_grad():
            key_feats = self.generator.encode(source, self.nce_layers)
        patch_ids = sample_patch_ids(key_feats, self.hparams.num_patches)
        queries = self.content_network(query_feats, patch_ids)
        with torch.no_grad():
            keys = self.content_network(key_feats, patch_ids)
        total = output.new_zeros((), dtype=torch.float32)
        for q, k in zip(queries, keys):
            if self.hparams.nce_negatives_from_batch:
                q, k = q.reshape(1, -1, q.shape[-1]), k.reshape(1, -1, k.shape[-1])
            total = total + patch_nce_loss(q, k, self.hparams.nce_temperature)
        return total / len(self.nce_layers)

    def training_step(self, batch, batch_idx: int) -> None:
        content, style = batch[0], batch[1]
        hp = self.hparams
        num = content.shape[0]
        opt_g, opt_s, opt_c = self.optimizers()
        log_now = self.logging_step(batch_idx)  # diagnostics (gradient norms) only on logged batches

        # 1. One generator pass over content (and style, for the identity terms).
        real = torch.cat([content, style]) if hp.nce_identity or hp.lambda_identity > 0 else content
        flipped = hp.flip_equivariance and bool(torch.rand(()) < 0.5)
        fake = self.generator(real.flip(3) if flipped else real)
        stylized = fake[:num]
        identity = fake[num:] if fake.shape[0] > num else None

        # 2. Style network step: real style patches up, translated patches down (skipped when its
        #    term has no weight: fast neural style trains the generator on perceptual terms only).
        adversarial = s_loss = real_logits = fake_logits = stylized.new_zeros(())
        penalty: Tensor | None = None  # R1, only where the style network trains
        if hp.lambda_gan > 0:
            style_in = style.detach().requires_grad_(hp.lambda_r1 > 0)
            with self.eager(hp.lambda_r1 > 0):  # R1 needs double backward
                real_logits = self.style_network(style_in)
            fake_logits = self.style_network(stylized.detach())
            s_loss = discriminator_loss(hp.gan_loss, real_logits, fake_logits) * _REFERENCE_STYLE_SCALE.get(hp.gan_loss, 1.0)
            if hp.lambda_r1 > 0:
                penalty = r1_penalty(real_logits, style_in)
                s_loss = s_loss + 0.5 * hp.lambda_r1 * penalty
            opt_s.zero_grad(set_to_none=True)
            self.manual_backward(s_loss)
            opt_s.step()

        # 3. Generator + content network step.
        if hp.lambda_gan > 0:
            with frozen(self.style_network):
                adversarial = generator_loss(hp.gan_loss, self.style_network(stylized)) * _REFERENCE_GENERATOR_SCALE.get(hp.gan_loss, 1.0)
        nce = self.patch_nce(content, stylized, flipped) if hp.lambda_nce > 0 else adversarial.new_zeros(())
        logs = {"train/nce": nce.detach()}
        if hp.nce_identity and hp.lambda_nce > 0:
            nce_identity = self.patch_nce(style, identity, flipped)
            logs["train/nce_identity"] = nce_identity.detach()
            nce = 0.5 * (nce + nce_identity)
        g_loss = hp.lambda_gan * adversarial + hp.lambda_nce * nce
        if hp.lambda_identity > 0:
            l1 = F.l1_loss(identity.flip(3) if flipped else identity, style)
            logs["train/identity_l1"] = l1.detach()
            g_loss = g_loss + hp.lambda_identity * l1
        unflipped = stylized.flip(3) if flipped else stylized  # the perceptual terms compare with the unflipped content
        if self.perceptual is not None:
            style_term, content_term = self.perceptual(content, style, unflipped)
            logs["train/perceptual_style"], logs["train/perceptual_content"] = style_term.detach(), content_term.detach()
            g_loss = g_loss + hp.lambda_style * style_term + hp.lambda_content * content_term
        if self.texture is not None:
            texture_term = self.texture.style_term(style, unflipped)
            logs["train/perceptual_texture"] = texture_term.detach()
            g_loss = g_loss + hp.lambda_texture * texture_term
        if hp.lambda_colour > 0:
            photos = content if hp.colour_target == "mapped_photo" else None
            colour = colour_statistics_loss(stylized, style, photos)  # statistics of the whole image: flips do not change them
            logs["train/colour"] = colour.detach()
            g_loss = g_loss + hp.lambda_colour * colour
        opt_g.zero_grad(set_to_none=True)
        opt_c.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        if log_now:
            scale = self.loss_scale()
            logs["train/g_grad_norm"] = grad_norm(self.generator.parameters(), scale)
            logs["train/content_grad_norm"] = grad_norm(self.content_network.parameters(), scale)
        opt_g.step()
        opt_c.step()

        self.count_images(num)
        if log_now:
            logs.update(
                {
                    "train/style_loss": s_loss.detach(),
                    "train/g_adversarial": adversarial.detach(),
                    "train/g_loss": g_loss.detach(),
                    "train/style_real": real_logits.detach().float().mean(),
                    "train/style_fake": fake_logits.detach().float().mean(),
                }
            )
            if penalty is not None:
                logs["train/r1_penalty"] = penalty.detach()
            self.log_dict(logs)
        progress = {"s_loss": s_loss.detach(), "nce": nce.detach()} if self.perceptual is None else {"style": style_term.detach(), "content": content_term.detach()}
        self.log_progress(progress, log_now)

    # --- inference ------------------------------------------------------------------------------

    @torch.no_grad()
    def stylize(self, content: Tensor) -> Tensor:
        """Images in [-1, 1] -> stylized images of the same size (whole images, no tiling)."""
        with eval_mode(self.generator) as generator:
            return generator(content)

    def predict_step(self, batch, batch_idx: int) -> dict:
        """Batch = (content images, names) -> stylized images (tiled above DEFAULT_TILE_SIZE a side)."""
        images, names = batch[0], batch[1]
        with eval_mode(self.generator) as generator:
            out = torch.cat([apply_tiled(generator, image[None], DEFAULT_TILE_SIZE, multiple=GENERATOR_STRIDE) for image in images])
        return {"images": out, "names": [str(n) for n in names]}

    # --- validation: FID and logged triplets ------------------------------------------------------

    def fid_real_images(self, batch) -> Tensor:
        return batch[1]  # real style images

    def fid_fake_images(self, batch) -> Tensor:
        return self.stylize(batch[0])  # stylized validation content

    def metric_real_images(self, metric_set) -> ImagesOf:
        return dataset_images(metric_set, 1, self.device)  # the style images

    def metric_fake_images(self, metric_set) -> tuple[ImagesOf, int]:
        return translated_images(self.generator, metric_set, self.device), min(self.fid_num_samples, len(metric_set))

    def validation_step(self, batch, batch_idx: int) -> None:
        # The first validation images (the loader is unshuffled: the same every time) are the logged set.
        have = 0 if self._logged is None else self._logged[0].shape[0]
        need = self.hparams.num_logged_images - have
        if need > 0 and (batch_idx == 0 or self._logged is not None):
            content, style = batch[0][:need].detach().clone(), batch[1][:need].detach().clone()
            if self._logged is not None:
                content, style = torch.cat([self._logged[0], content]), torch.cat([self._logged[1], style])
            self._logged = (content, style)
        super().validation_step(batch, batch_idx)

    def collapse_measures(self) -> CollapseMeasures | None:
        """Identity L1 and structure (``training/callbacks/style_collapse.py``) on the logged validation
        crops; identity only where an identity term trains G(style) towards the style image."""
        if self._logged is None:
            return None
        content, style = (t.to(self.device) for t in self._logged)
        with eval_mode(self.generator) as generator:
            return measure_collapse(generator, content, style, identity=self.trains_identity)

    @property
    def trains_identity(self) -> bool:
        """Whether a term pulls G(style image) towards the style image (identity L1 or PatchNCE)."""
        hp = self.hparams
        return hp.lambda_identity > 0 or (hp.nce_identity and hp.lambda_nce > 0)

    @property
    def perceptual_only(self) -> bool:
        """Fast neural style: the perceptual terms alone train the generator (no style network, no PatchNCE)."""
        hp = self.hparams
        return self.perceptual is not None and hp.lambda_gan == 0 and hp.lambda_nce == 0

    @property
    def collapse_bounds_apply(self) -> bool:
        """Whether the detector's bounds were measured on this kind of training: a perceptual style
        term beside an identity term (the single-image preset) or alone (the fast neural preset,
        benchmarks/results/style_benchmark_screen_fn_*.json). CUT's outputs may redraw outlines on
        purpose, so there the measures are logged and nothing is said."""
        return self.perceptual is not None and self.hparams.lambda_style > 0 and (self.trains_identity or self.perceptual_only)

    def collapse_remedy(self) -> str:
        """The option that undid the collapses measured (benchmarks/results/style_collapse.md for the
        single-image preset, docs/style_transfer.md for fast neural style)."""
        hp = self.hparams
        if self.perceptual_only and not hp.generator["residual"]:  # hparams hold every generator field (__init__)
            return "the generator has not learnt to redraw the photos yet: set --model.init_args.generator.residual true (it starts from the photo; the fast neural preset's setting)"
        return f"the style term outweighs the photo's structure: lower --model.init_args.lambda_style (now {hp.lambda_style}; the CUT single-image preset's is 1, the fast neural and single-image presets' 5)"

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        """One wide image per logged example: content input | stylized output | style image | identity
        G(style), side by side, so any grid layout keeps each quadruple together."""
        if self._logged is None:
            return {}
        content, style = (t.to(self.device) for t in self._logged)
        with eval_mode(self.generator) as generator:
            stylized, identity = generator(content), generator(style)
        return {"triplets": torch.cat([content, stylized, style, identity], dim=3)}
