"""Reading our checkpoints safely, and bringing those written by older layouts up to date.

- ``load_checkpoint``: ``torch.load(weights_only=True)`` (no code from the file ever runs), checked
  to be one of ours, hyper-parameters migrated to the current names. A model folder from ``export``
  (safetensors + JSON) is read the same way, so every command takes one in place of a ``.ckpt``.
- ``load_generator``: only the generator (its EMA copy by default), built through the registry:
  no discriminator, optimizer, data or Lightning import.
- Hyper-parameters of older layouts are brought up to date by ``migration.migrate_hparams``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch
from torch import nn

from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.export.model_folder import read_model_folder
from gan_lightning.checkpoints.migration import migrate_hparams
from gan_lightning.checkpoints.registry import GENERATORS

def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_failure(error: BaseException) -> str:
    """One line on why torch.load failed. torch's weights_only refusal starts with generic advice;
    the reason (naming the refused global when there is one) is on a line of its own."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith("Weights only load failed"):
        reasons = [line for line in lines[1:] if not line.startswith(("Please file", "Check the documentation"))]
        named = [line for line in reasons if "GLOBAL" in line or "global" in line]
        return (named or reasons or ["the file holds objects other than tensors and plain data"])[0]
    return lines[0] if lines else type(error).__name__


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The dict a checkpoint file holds, read with ``weights_only=True`` (no code from the file runs).
    A missing, truncated, text or foreign file, or one that asks to run code, is a ``UserError``
    naming the file."""
    path = Path(path)
    if path.is_dir():  # a model folder from `export` (or a clear error saying what it lacks)
        return read_model_folder(path)
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = load_failure(error)
        if "GLOBAL" in reason:  # the file names a class or function to call
            raise UserError(
                f"{str(path)!r} holds objects other than tensors and plain values ({reason.rstrip('.')}); refused, "
                "since reading them would run code from the file (our checkpoints never need that)"
            ) from None
        raise UserError(f"{str(path)!r} is not a readable checkpoint, truncated or not written by torch.save ({reason})") from None
    except Exception as error:  # noqa: BLE001  any bytes can reach the unpickler (a text file gives a KeyError)
        reason = _first_line(error).split(". ")[0]  # torch's zip errors go on for several sentences
        raise UserError(f"{str(path)!r} is not a readable checkpoint, truncated or not written by torch.save ({type(error).__name__}: {reason})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{str(path)!r} is not a gan_lightning checkpoint (no state_dict)")
    if not isinstance(checkpoint.get("hyper_parameters", {}), dict):
        raise UserError(f"{str(path)!r} is not a gan_lightning checkpoint (its hyper_parameters are not a mapping)")
    return checkpoint


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint (``read_checkpoint``), checks that it is one of ours and migrates its
    hyper-parameters. Errors name the file and what is wrong."""
    path = Path(path)
    checkpoint = read_checkpoint(path)
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


def checkpoint_algorithm(checkpoint: dict) -> str | None:
    """The LightningModule class name that wrote a checkpoint (None when it does not say)."""
    class_path = checkpoint.get("hyper_parameters", {}).get("_class_path")
    return checkpoint.get("algorithm") or (class_path.rsplit(".", 1)[-1] if class_path else None)


def check_training_checkpoint(checkpoint: dict, path: str | os.PathLike, algorithm: str, resolution: int | None, channels: int | None, resume: bool) -> None:
    """For ``fit/validate/test/predict --ckpt_path``: the file must be written by ``fit``, of the
    config's ``algorithm`` and image shape (the data's ``resolution`` and ``channels``), and hold the
    optimizer states when training resumes (``resume``)."""
    name = str(path)
    if "pytorch-lightning_version" not in checkpoint:
        raise UserError(
            f"{name!r} was not written by `fit` (a `convert` result holds the generator only); --ckpt_path needs "
            "a training checkpoint; use this one with generate, style-mix, interpolate or project"
        )
    found = checkpoint_algorithm(checkpoint)
    if found is not None and found != algorithm:
        raise UserError(
            f"{name!r} is a {found} checkpoint, but this config builds {algorithm}; give the config it was trained "
            f"with (config.yaml beside its logs) or a {algorithm} checkpoint"
        )
    hparams = checkpoint.get("hyper_parameters", {})
    for option, value in (("resolution", resolution), ("channels", channels)):
        stored = hparams.get(option)
        if stored is not None and value is not None and stored != value:
            raise UserError(
                f"{name!r} was trained with data {option} {stored}, but the data gives {value}; "
                f"set --data.init_args.{option} {stored} (or use a checkpoint of {option} {value})"
            )
    if resume and "optimizer_states" not in checkpoint:
        raise UserError(
            f"{name!r} holds weights only (saved with save_weights_only), so `fit` cannot resume from it; "
            "validate, test, predict and generate can use it"
        )


def weights_that_do_not_fit(model: dict[str, torch.Tensor], stored: dict[str, torch.Tensor]) -> str | None:
    """None when the ``stored`` state dict loads into a module whose state dict is ``model``; else
    what differs, in a few words (shapes first: they name the option that changed)."""
    shapes = [f"{k} {tuple(stored[k].shape)} in the checkpoint, {tuple(v.shape)} here" for k, v in model.items() if k in stored and stored[k].shape != v.shape]
    missing = [k for k in model if k not in stored]
    unexpected = [k for k in stored if k not in model]
    if shapes:
        return f"{len(shapes)} tensors differ in shape, e.g. {shapes[0]}"
    if missing or unexpected:
        return f"{len(missing)} tensors missing from the checkpoint, {len(unexpected)} not in this model, e.g. {(missing or unexpected)[0]}"
    return None


def generator_state(state_dict: dict[str, torch.Tensor], use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The generator's weights from a module state dict: ``generator_ema.*`` when present and asked for."""
    prefix = "generator_ema." if use_ema and any(k.startswith("generator_ema.") for k in state_dict) else "generator."
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def check_finite_weights(state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """Refuses weights holding NaN or inf (a run that diverged before it saved): they make black or
    noise images that look like a result."""
    bad = [name for name, value in state_dict.items() if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise UserError(
            f"{str(path)!r}: {len(bad)} of {len(state_dict)} weight tensors hold NaN or inf (e.g. {bad[0]}); "
            "the run diverged before this save: use an earlier checkpoint"
        )


def generator_from_checkpoint(checkpoint: dict, device: torch.device | str = "cpu", use_ema: bool = True) -> nn.Module:
    """The generator of a checkpoint read by ``load_checkpoint`` (its EMA copy when there is one and
    ``use_ema``), in eval mode without gradients."""
    path = checkpoint.get("path", "checkpoint")
    try:
        generator = GENERATORS[checkpoint["algorithm"]](checkpoint["hyper_parameters"])
    except KeyError as error:
        raise UserError(f"{str(path)!r}: hyper_parameters lack {error} needed to rebuild the generator") from None
    state = generator_state(checkpoint["state_dict"], use_ema)
    check_finite_weights(state, path)
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        raise UserError(f"{str(path)!r}: generator weights do not fit its hyper_parameters ({_first_line(error)})") from None
    return generator.to(device).eval().requires_grad_(False)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu", use_ema: bool = True) -> tuple[nn.Module, dict]:
    """(generator, checkpoint) of the file at ``path``; see ``generator_from_checkpoint``."""
    checkpoint = load_checkpoint(path)
    return generator_from_checkpoint(checkpoint, device, use_ema), checkpoint
