"""Reading our checkpoints safely, and bringing those written by older layouts up to date.

- ``load_checkpoint``: ``torch.load(weights_only=True)`` (no code from the file ever runs), checked
  to be one of ours, hyper-parameters migrated to the current names.
- ``load_generator``: only the generator (its EMA copy by default), built through the registry:
  no discriminator, optimizer, data or Lightning import.
- ``migrate_hparams``: the renames of earlier releases, applied wherever hyper-parameters are read
  (inference, ``fit --ckpt_path FILE``, ``load_from_checkpoint``).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gan_lightning.errors import UserError
from gan_lightning.nets.stylegan2 import DiscriminatorConfig, GeneratorConfig
from gan_lightning.registry import GENERATORS

# Classes that moved, by the dotted path configs and old checkpoints name them.
MOVED_CLASSES: dict[str, str] = {
    "gan_lightning.data.shape_looks.LookFeatures": "gan_lightning.evaluation.features.LookFeatures",
}
# Options renamed so that one thing has one name across the algorithms.
RENAMED: dict[str, dict[str, str]] = {
    "VanillaGAN": {"latent_dim": "z_dim", "loss": "gan_loss"},
}


def _field_names(config: type) -> list[str]:
    return [field.name for field in dataclasses.fields(config)]


def _group_stylegan_networks(hparams: dict[str, Any]) -> None:
    """Before: every network setting flat beside the training options. Now: ``generator`` and
    ``discriminator`` groups (shared settings such as channel_base go to both, as they did)."""
    if "generator" in hparams:
        return
    flat = dict(hparams)
    hparams["generator"] = {name: flat[name] for name in _field_names(GeneratorConfig) if name in flat}
    if any(name in flat for name in ("mbstd_group_size", "r1_gamma")):  # a training checkpoint, not a converted one
        hparams["discriminator"] = {name: flat[name] for name in _field_names(DiscriminatorConfig) if name in flat}
    for name in {*_field_names(GeneratorConfig), *_field_names(DiscriminatorConfig)}:
        hparams.pop(name, None)


def _moved_class_paths(value: Any) -> Any:
    if isinstance(value, dict):
        value = {key: _moved_class_paths(item) for key, item in value.items()}
        if value.get("class_path") in MOVED_CLASSES:
            value["class_path"] = MOVED_CLASSES[value["class_path"]]
    return value


def migrate_hparams(algorithm: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters of any earlier layout -> the current one (a new dict; current ones pass unchanged)."""
    hparams = {key: _moved_class_paths(value) for key, value in hparams.items()}
    for old, new in RENAMED.get(algorithm, {}).items():
        if old in hparams and new not in hparams:
            hparams[new] = hparams.pop(old)
    if algorithm == "StyleGAN":
        _group_stylegan_networks(hparams)
    return hparams


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_failure(error: BaseException) -> str:
    """One line on why torch.load failed: for a weights_only refusal the line naming the refused
    global (torch's first line is generic advice), else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        named = [line for line in lines[1:] if "GLOBAL" in line or "global" in line]
        return named[0] if named else "the file holds objects other than tensors and plain data"
    return lines[0] if lines else type(error).__name__


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint with ``weights_only=True``, checks that it is one of ours and migrates its
    hyper-parameters. Errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise UserError(f"{str(path)!r} is not a readable checkpoint ({load_failure(error)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{str(path)!r} is not a gan_lightning checkpoint (no state_dict)")
    algorithm = checkpoint.get("algorithm")
    if algorithm not in GENERATORS:
        raise UserError(
            f"{str(path)!r} has algorithm {algorithm!r}; expected one of {', '.join(GENERATORS)} "
            "(a checkpoint written by `python -m gan_lightning fit` or `convert`)"
        )
    if "hyper_parameters" not in checkpoint:
        raise UserError(f"{str(path)!r} has no hyper_parameters; cannot rebuild its generator")
    checkpoint["hyper_parameters"] = migrate_hparams(algorithm, dict(checkpoint["hyper_parameters"]))
    checkpoint["path"] = str(path)  # for messages about this file further on
    return checkpoint


def generator_state(state_dict: dict[str, torch.Tensor], use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The generator's weights from a module state dict: ``generator_ema.*`` when present and asked for."""
    prefix = "generator_ema." if use_ema and any(k.startswith("generator_ema.") for k in state_dict) else "generator."
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def generator_from_checkpoint(checkpoint: dict, device: torch.device | str = "cpu", use_ema: bool = True) -> nn.Module:
    """The generator of a checkpoint read by ``load_checkpoint`` (its EMA copy when there is one and
    ``use_ema``), in eval mode without gradients."""
    path = checkpoint.get("path", "checkpoint")
    try:
        generator = GENERATORS[checkpoint["algorithm"]](checkpoint["hyper_parameters"])
    except KeyError as error:
        raise UserError(f"{str(path)!r}: hyper_parameters lack {error} needed to rebuild the generator") from None
    try:
        generator.load_state_dict(generator_state(checkpoint["state_dict"], use_ema))
    except RuntimeError as error:
        raise UserError(f"{str(path)!r}: generator weights do not fit its hyper_parameters ({_first_line(error)})") from None
    return generator.to(device).eval().requires_grad_(False)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu", use_ema: bool = True) -> tuple[nn.Module, dict]:
    """(generator, checkpoint) of the file at ``path``; see ``generator_from_checkpoint``."""
    checkpoint = load_checkpoint(path)
    return generator_from_checkpoint(checkpoint, device, use_ema), checkpoint
