"""Seeded latents: image k of a run depends on its seed only, not on the batch, device or other seeds."""

from __future__ import annotations

import torch
from torch import Tensor

from gan_lightning.common.errors import UserError


def latents_for_seeds(seeds: list[int], z_dim: int, device: torch.device | str = "cpu") -> Tensor:
    """(len(seeds), z_dim): one standard-normal z per seed, each drawn from its own CPU generator."""
    z = [torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.stack(z).to(device)


def seed_range(first: int, num: int) -> list[int]:
    """Seeds ``first .. first + num - 1``: what ``--seed S --num N`` asks for."""
    return list(range(first, first + num))


def seed_names(seeds: list[int]) -> list[str]:
    """File stems of seeded images: seed000042."""
    return [f"seed{seed:06d}" for seed in seeds]


def class_vectors(classes: Tensor | list[int], c_dim: int, device: torch.device | str = "cpu") -> Tensor:
    """(N, c_dim) one-hot rows for class indices: the label input ``c`` of a conditional generator
    or discriminator (NVlabs' dataset gives labels this way)."""
    classes = torch.as_tensor(classes, dtype=torch.int64, device=device)
    return torch.nn.functional.one_hot(classes, c_dim).float()


def check_class(class_index: int | None, c_dim: int, option: str = "--class") -> None:
    """A class-conditional generator needs a class in 0..c_dim-1; an unconditional one takes none."""
    if c_dim == 0 and class_index is not None:
        raise UserError(f"{option} {class_index}: this generator is unconditional (no classes); drop {option}")
    if c_dim > 0 and class_index is None:
        raise UserError(f"this generator is class-conditional ({c_dim} classes): give {option} K with K in 0..{c_dim - 1}")
    if c_dim > 0 and not 0 <= class_index < c_dim:  # type: ignore[operator]
        raise UserError(f"{option} {class_index} is out of range; allowed: 0..{c_dim - 1} ({c_dim} classes)")
