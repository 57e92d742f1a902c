"""Seeded latents: image k of a run depends on its seed only, not on the batch, device or other seeds."""

from __future__ import annotations

import torch
from torch import Tensor


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
