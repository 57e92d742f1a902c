"""ArbitraryStyleTransfer: AdaIN (Huang & Belongie 2017), one decoder for any style image.

Per batch of unpaired (content c, style s) images:
  1. t = AdaIN(f(c), f(s)) in the frozen encoder's relu4_1 features; the decoder makes g(t).
  2. Content loss: f(g(t)) at relu4_1 should equal t (eq. 12); style loss: the channel means and
     standard deviations of f(g(t)) should equal those of f(s) at relu1_1 .. relu4_1 (eq. 13).
Only the decoder is trained. At inference any style image works: ``stylize --style PAINTING``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.core.losses import feature_content_loss, mean_std, mean_std_style_loss
from gan_lightning.training.models.base import GANModule
from gan_lightning.core.nets.adain import adaptive_instance_norm
from gan_lightning.core.nets.perceptual import PerceptualConfig
from gan_lightning.core.nets.settings import as_config
from gan_lightning.common.torch_utils import eval_mode, grad_norm


class ArbitraryStyleTransfer(GANModule):
    """AdaIN arbitrary style transfer; the preset is configs/style_transfer_adain.yaml.

    Args:
        resolution: training crop side, linked from the DataModule.
        channels: image channels, linked from the DataModule (3: the encoders read RGB).
        perceptual: the frozen encoder (``PerceptualConfig``: network "random" / "random_wide" / "random_spatial" (fixed
            random filters, offline), "vgg19" (the paper's) or "vgg16"; width of the random ones;
            weights_path, a local VGG state dict for offline clusters), as the perceptual terms' is set.
        lambda_style: weight of the style loss (10 in the paper) against the content loss.
        lr: Adam learning rate of the decoder (1e-4 in the paper).
        betas: Adam betas.
        num_logged_images: validation (content, style) pairs whose results are logged.
        **kwargs: max_kimg and the FID options of ``GANModule``.
    """

    compiled_networks = ("generator.encoder", "generator.decoder")  # the step calls them separately

    def __init__(
        self,
        resolution: int = 256,
        channels: int = 3,
        perceptual: PerceptualConfig = PerceptualConfig(),
        lambda_style: float = 10.0,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        num_logged_images: int = 4,
        **kwargs,
    ) -> None:
        super().__init__(resolution=resolution, channels=channels, **kwargs)
        if channels != 3:
            raise UserError(f"channels {channels} is invalid for arbitrary style transfer; allowed: 3 (the encoders read RGB)")
        check_at_least("lambda_style", lambda_style, 0)
        self.save_hyperparameters()
        self.hparams.update(perceptual=dataclasses.asdict(as_config(PerceptualConfig, perceptual)))  # a dict, as checkpoints hold it
        self.generator = self.build_generator()
        if resolution % self.generator.stride != 0:
            raise UserError(f"resolution {resolution} is invalid; allowed: a multiple of {self.generator.stride} (the encoder's stride)")
        self._logged: tuple[Tensor, Tensor] | None = None

    def build_generator(self):
        generator = super().build_generator()
        # The registry builds the encoder's shape only (inference reads its weights from the checkpoint);
        # training needs the real weights, loaded once here.
        generator.encoder = as_config(PerceptualConfig, self.hparams.perceptual).build(load_weights=True)
        return generator

    def configure_optimizers(self):
        return torch.optim.Adam(self.generator.decoder.parameters(), lr=self.hparams.lr, betas=tuple(self.hparams.betas))

    def training_step(self, batch, batch_idx: int) -> None:
        content, style = batch[0], batch[1]
        encoder, decoder = self.generator.encoder, self.generator.decoder
        with torch.no_grad():
            style_features = encoder(style)
            target = adaptive_instance_norm(encoder(content)[-1], *mean_std(style_features[-1]))
        output = decoder(target)
        output_features = encoder(output)
        # Huang & Belongie 2017, eq. 11-13: L = L_c(f(g(t)), t) + lambda L_s(f(g(t)), f(s))
        content_loss = feature_content_loss(output_features[-1], target)
        style_loss = mean_std_style_loss(output_features, style_features)
        loss = content_loss + self.hparams.lambda_style * style_loss
        optimizer = self.optimizers()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        log_now = self.logging_step(batch_idx)
        if log_now:
            self.log_dict({"train/content": content_loss.detach(), "train/style": style_loss.detach(), "train/loss": loss.detach(),
                           "train/decoder_grad_norm": grad_norm(decoder.parameters(), self.loss_scale())})
        optimizer.step()
        self.count_images(content.shape[0])
        self.log_progress({"content": content_loss.detach(), "style": style_loss.detach()}, log_now)

    # --- inference ------------------------------------------------------------------------------

    @torch.no_grad()
    def stylize(self, content: Tensor, style: Tensor, alpha: float = 1.0) -> Tensor:
        """Content images in [-1, 1] in the style of ``style`` (one image for all, or one per content image)."""
        with eval_mode(self.generator) as generator:
            return generator(content, *generator.style_statistics(style), alpha=alpha)

    def predict_step(self, batch, batch_idx: int) -> dict:
        raise UserError("predict needs a style image for arbitrary style transfer; use `python -m gan_lightning stylize --ckpt CKPT --style IMAGE --input PHOTOS --out DIR`")

    # --- validation: FID and logged examples ------------------------------------------------------

    def fid_real_images(self, batch) -> Tensor:
        return batch[1]  # real style images

    def fid_fake_images(self, batch) -> Tensor:
        return self.stylize(batch[0], batch[1])

    def validation_step(self, batch, batch_idx: int) -> None:
        if self._logged is None and batch_idx == 0:
            n = self.hparams.num_logged_images
            self._logged = (batch[0][:n].detach().clone(), batch[1][:n].detach().clone())
        super().validation_step(batch, batch_idx)

    @torch.no_grad()
    def fixed_samples(self) -> dict[str, Tensor]:
        """One wide image per logged pair: content | style | stylized."""
        if self._logged is None:
            return {}
        content, style = (t.to(self.device) for t in self._logged)
        return {"triplets": torch.cat([content, style, self.stylize(content, style)], dim=3)}
