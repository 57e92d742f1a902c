"""Loading a trained generator from a checkpoint and writing images: what the inference commands
share. Only the generator is built; the discriminator, optimizers and data are never touched."""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.utils import make_grid, save_image

from gan_lightning.errors import UserError

# algorithm name stored in checkpoints -> "module:class" that knows how to build its generator
ALGORITHMS: dict[str, str] = {
    "VanillaGAN": "gan_lightning.models.vanilla_gan:VanillaGAN",
    "StyleGAN": "gan_lightning.models.stylegan:StyleGAN",
    "StyleTransfer": "gan_lightning.models.style_transfer:StyleTransfer",
}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but no CUDA GPU is available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N") from None


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Reads a checkpoint with ``weights_only=True`` (no code runs from the file) and checks that
    it is one of ours. Errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{str(path)!r} is not a readable checkpoint ({first_line})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{str(path)!r} is not a gan_lightning checkpoint (no state_dict)")
    algorithm = checkpoint.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise UserError(
            f"{str(path)!r} has algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)} "
            "(a checkpoint written by `python -m gan_lightning fit` or `convert`)"
        )
    if "hyper_parameters" not in checkpoint:
        raise UserError(f"{str(path)!r} has no hyper_parameters; cannot rebuild its generator")
    return checkpoint


def model_class(algorithm: str):
    module, name = ALGORITHMS[algorithm].split(":")
    return getattr(importlib.import_module(module), name)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu", use_ema: bool = True) -> tuple[nn.Module, dict]:
    """The generator of a checkpoint (its EMA copy when there is one and ``use_ema``), in eval mode.

    Returns (generator, checkpoint) so callers can read ``checkpoint["algorithm"]`` and its hparams.
    """
    checkpoint = load_checkpoint(path)
    generator = model_class(checkpoint["algorithm"]).generator_from_hparams(checkpoint["hyper_parameters"])
    state = checkpoint["state_dict"]
    prefix = "generator_ema." if use_ema and any(k.startswith("generator_ema.") for k in state) else "generator."
    weights = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        generator.load_state_dict(weights)
    except RuntimeError as error:
        raise UserError(f"{str(path)!r}: generator weights do not fit its hyper_parameters ({str(error).splitlines()[0]})") from None
    return generator.to(device).eval().requires_grad_(False), checkpoint


def latent_dim_of(generator: nn.Module) -> int:
    """z size: DCGAN calls it latent_dim, StyleGAN (after the official code) z_dim."""
    for name in ("z_dim", "latent_dim"):
        if isinstance(getattr(generator, name, None), int):
            return getattr(generator, name)
    raise UserError(f"{type(generator).__name__} is not a latent-variable generator")


def to_grid(images: Tensor, nrow: int | None = None) -> Tensor:
    """(N, C, H, W) in [-1, 1] -> one (C, H', W') grid in [0, 1] on the CPU (square by default)."""
    nrow = nrow or max(1, int(len(images) ** 0.5))
    return make_grid(images.detach().float().clamp(-1, 1).cpu(), nrow=nrow, padding=2, normalize=True, value_range=(-1, 1))


def save_image_grid(images: Tensor, path: str | os.PathLike, nrow: int | None = None) -> Path:
    """(N, C, H, W) in [-1, 1] -> one PNG grid (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(to_grid(images, nrow), path)
    return path


def save_images(images: Tensor, folder: str | os.PathLike, names: list[str]) -> list[Path]:
    """One PNG per image: ``folder/<name>.png`` (a name may hold subfolders)."""
    folder = Path(folder)
    paths = []
    for image, name in zip(images, names):
        path = folder / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(image.detach().float().clamp(-1, 1).cpu() * 0.5 + 0.5, path)
        paths.append(path)
    return paths
