"""Features of many images, split over processes, and the on-disk cache of the real set's features.

Plain torch: the caller says which process this is (``Shard``) and how to gather a tensor from all
processes (Lightning's ``all_gather`` in training, Fabric's in ``evaluate``), so one loop serves both.
Item i of a set is always computed from index i, whatever the number of processes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn
from tqdm import tqdm

from gan_lightning.evaluation.detectors import to_uint8_rgb

Gather = Callable[[Tensor], Tensor]  # (L, ...) on each process -> (world_size, L, ...)


@dataclass(frozen=True)
class Shard:
    """This process's part of the work: items rank, rank + world_size, ... (padded to equal lengths)."""

    rank: int = 0
    world_size: int = 1

    def indices(self, count: int) -> list[int]:
        per_process = math.ceil(count / self.world_size)
        mine = list(range(self.rank, count, self.world_size))
        return mine + [mine[-1] if mine else 0] * (per_process - len(mine))

    def merge(self, gathered: Tensor, count: int) -> Tensor:
        """(world_size, L, ...) gathered per-process results -> (count, ...) in item order."""
        return gathered.transpose(0, 1).reshape(-1, *gathered.shape[2:])[:count]


def single_process_gather(tensor: Tensor) -> Tensor:
    return tensor[None]


def gather_rows(rows: Tensor, gather: Gather) -> Tensor:
    """(L, ...) on each process, L possibly different -> every process's rows, process by process
    (a gather needs equal shapes: padded to the longest, then cut back)."""
    lengths = gather(torch.tensor([rows.shape[0]], device=rows.device)).flatten().tolist()
    padded = torch.cat([rows, rows.new_zeros(max(lengths) - rows.shape[0], *rows.shape[1:])])
    return torch.cat([part[:length] for part, length in zip(gather(padded), lengths)])


def float32(device: torch.device) -> torch.autocast:
    """Autocast off: the metrics measure the model, not the training precision (a float16 or bfloat16
    Inception moves FID by more than its figures' precision)."""
    return torch.autocast(device.type, enabled=False)


@torch.no_grad()
def detect(detector: nn.Module, images: Tensor) -> tuple[Tensor, Tensor | None]:
    """(features, logits or None) in float32 of images in [-1, 1], quantized to uint8 as NVlabs does."""
    with float32(images.device):
        features, logits = detector(to_uint8_rgb(images))
    return features.float(), None if logits is None else logits.float()


@torch.no_grad()
def extract_features(
    images_of: Callable[[list[int]], Tensor],
    detector: nn.Module,
    count: int,
    batch_size: int,
    shard: Shard = Shard(),
    gather: Gather = single_process_gather,
    description: str | None = None,
) -> dict[str, Tensor]:
    """``{"features": (count, D), "logits": (count, K)}`` (logits when the detector gives them) of
    images ``images_of(indices)`` in [-1, 1], quantized to uint8 as NVlabs does."""
    indices = shard.indices(count)
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    parts: dict[str, list[Tensor]] = {"features": [], "logits": []}
    show = description is not None and shard.rank == 0
    for batch in tqdm(batches, desc=description, unit="batch", disable=not show, leave=False):
        features, logits = detect(detector, images_of(batch))
        parts["features"].append(features)
        if logits is not None:
            parts["logits"].append(logits)
    return {key: shard.merge(gather(torch.cat(values)), count) for key, values in parts.items() if values}


def dataset_key(description: dict[str, Any]) -> str:
    """A short stable hash of what defines a real set (DataModule class and the options that change
    its images), for cache file names."""
    return hashlib.sha1(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()[:12]


class FeatureCache:
    """Real-set features on disk, one file per dataset + resolution + detector + image count, so a
    second evaluation of the same data skips them."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, dataset: str, resolution: int, detector: str, count: int) -> Path:
        return self.root / f"{dataset}-{resolution}px-{detector}-{count}.pt"

    def load(self, dataset: str, resolution: int, detector: str, count: int) -> dict[str, Tensor] | None:
        path = self.path(dataset, resolution, detector, count)
        return torch.load(path, map_location="cpu", weights_only=True) if path.is_file() else None

    def save(self, features: dict[str, Tensor], dataset: str, resolution: int, detector: str, count: int) -> Path:
        path = self.path(dataset, resolution, detector, count)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        torch.save({key: value.cpu() for key, value in features.items()}, partial)
        partial.replace(path)  # never a half-written cache file
        return path
