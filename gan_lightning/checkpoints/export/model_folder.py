"""The model folder: ``model.safetensors`` (the generator's weights), ``config.json`` (algorithm and
hyper-parameters) and a model card ``README.md``. No pickle: safetensors holds only tensors and JSON
only plain values, so opening a folder from a stranger runs no code.

``read_model_folder`` returns the same dict as reading a checkpoint, so every command that takes
``--ckpt`` takes a folder too (``gan_lightning.checkpoints.reading.load_checkpoint`` dispatches here).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.registry import GENERATORS, check_checkpoint_class_paths

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
SAMPLE_NAME = "sample.png"
FORMAT_VERSION = 1  # bumped when config.json changes meaning; readers refuse newer versions


def is_model_folder(path: str | os.PathLike) -> bool:
    return Path(path, CONFIG_NAME).is_file()


def json_values(hparams: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters JSON can hold (numbers, strings, booleans, None, lists and dicts of those;
    tuples become lists); Lightning's bookkeeping entries (``_class_path``, ``_instantiator``) are left out."""
    kept = {}
    for key, value in hparams.items():
        if key.startswith("_"):
            continue
        try:
            kept[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            pass  # not representable (an object, a tensor, NaN): not needed to rebuild the generator
    return kept


def write_model_folder(
    folder: Path,
    algorithm: str,
    hparams: dict[str, Any],
    weights: dict[str, torch.Tensor],
    metrics: dict[str, float],
    source: str,
    use_ema: bool,
) -> None:
    """Writes ``model.safetensors`` and ``config.json`` into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors that share memory; clone gives each its own contiguous storage.
    save_file({name: tensor.detach().cpu().contiguous().clone() for name, tensor in weights.items()}, str(folder / WEIGHTS_NAME))
    config = {
        "format_version": FORMAT_VERSION,
        "library": "gan_lightning",
        "algorithm": algorithm,
        "generator": "generator_ema" if use_ema else "generator",
        "hyper_parameters": json_values(hparams),
        "metrics": metrics,
        "source": source,
    }
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)  # bool is an int; true is no version or score


def read_model_folder(folder: str | os.PathLike) -> dict:
    """A model folder as a checkpoint dict (``algorithm``, ``hyper_parameters``, ``state_dict`` with
    ``generator.`` keys, ``path``). Errors name the folder and what is missing or wrong."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not config_path.is_file() or not weights_path.is_file():
        raise UserError(f"{str(folder)!r} is not a model folder: it needs {CONFIG_NAME} and {WEIGHTS_NAME} (from `export --format safetensors`)")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, OSError) as error:
        raise UserError(f"{str(config_path)!r} is not readable JSON ({error})") from None
    if not isinstance(config, dict) or config.get("algorithm") not in GENERATORS:
        found = config.get("algorithm") if isinstance(config, dict) else None
        raise UserError(f"{str(config_path)!r} has algorithm {found!r}; expected one of {', '.join(GENERATORS)}")
    version = config.get("format_version", 0)
    if not _is_number(version) or not float(version).is_integer() or version < 0:
        raise UserError(f"{str(config_path)!r}: format_version must be a whole number from 0 to {FORMAT_VERSION}, got {version!r}")
    if version > FORMAT_VERSION:
        raise UserError(f"{str(folder)!r} has format_version {version}; this gan_lightning reads up to {FORMAT_VERSION} (upgrade it)")
    hparams = config.get("hyper_parameters", {})
    if not isinstance(hparams, dict):
        raise UserError(f"{str(config_path)!r}: hyper_parameters must be a mapping of option names to values, got {hparams!r}")
    check_checkpoint_class_paths(hparams, str(config_path))
    metrics = config.get("metrics", {})
    if not isinstance(metrics, dict):
        raise UserError(f"{str(config_path)!r}: metrics must be a mapping of metric names to numbers, got {metrics!r}")
    for name, value in metrics.items():
        if not _is_number(value):
            raise UserError(f"{str(config_path)!r}: metrics {name!r} must be a number, got {value!r}")
    try:
        weights = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(f"{str(weights_path)!r} is not a readable safetensors file ({error})") from None
    return {
        "algorithm": config["algorithm"],
        "hyper_parameters": dict(hparams),
        "state_dict": {f"generator.{name}": tensor for name, tensor in weights.items()},
        "metrics": dict(metrics),
        "path": str(folder),
    }
