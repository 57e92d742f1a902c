"""``gan_lightning.load_pretrained(folder)``: a generator from an exported model folder, ready to use,
with plain torch (no Lightning, no pickle)."""

from __future__ import annotations

import os

import torch
from torch import nn

from gan_lightning.checkpoints.reading import generator_from_checkpoint
from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.export.model_folder import CONFIG_NAME, is_model_folder, read_model_folder


def load_pretrained(folder: str | os.PathLike, device: torch.device | str = "cpu") -> nn.Module:
    """The generator stored in ``folder`` (``model.safetensors`` + ``config.json``), in eval mode
    without gradients. Its ``algorithm`` and ``hyper_parameters`` are attributes of the returned
    module, so the caller knows what it takes (``z_dim`` for latent models, images for StyleTransfer)."""
    if not is_model_folder(folder):
        raise UserError(f"{str(folder)!r} is not a model folder (no {CONFIG_NAME}); make one with `python -m gan_lightning export --format safetensors`")
    checkpoint = read_model_folder(folder)
    generator = generator_from_checkpoint(checkpoint, device, use_ema=False)
    generator.algorithm = checkpoint["algorithm"]
    generator.hyper_parameters = checkpoint["hyper_parameters"]
    return generator
