"""A training order that a resumed run can continue exactly, part-way through an epoch.

A plain shuffled DataLoader draws its order from the global RNG when an epoch starts, and random
augmentations draw from it per item, so after a restart neither the remaining order of the epoch
nor the flips and crops can be reproduced. Here both are functions of (seed, epoch, position):

- ``EpochOrder`` yields ``(index, item_seed)``: the permutation of epoch e comes from (seed, e),
  and it can start after the batches a checkpoint says were trained.
- ``SeededItems`` loads an item with the torch RNG seeded by its ``item_seed`` (in workers too), and
  leaves the caller's RNG untouched, so loading never shifts the model's random streams.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler


class EpochOrder(Sampler[tuple[int, int]]):
    """Shuffled ``(index, item_seed)`` pairs; a new permutation per epoch, fixed by ``seed``.

    Lightning calls ``set_epoch`` before each epoch; a wrapper that does not (DDP's sampler wrapper)
    gets the next epoch's order at each new iteration instead of the same order again.
    """

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0
        self.skip = 0  # items of ``epoch`` already trained (a resumed run starts after them)
        self._epoch_is_new = True

    def __len__(self) -> int:
        return self.num_items

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch
        self._epoch_is_new = True

    def resume_at(self, epoch: int, items_done: int) -> None:
        """Continue epoch ``epoch`` after its first ``items_done`` items."""
        self.epoch = epoch
        self.skip = items_done
        self._epoch_is_new = True

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if not self._epoch_is_new:
            self.epoch += 1
        self._epoch_is_new = False
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.num_items, generator=generator)
        item_seeds = torch.randint(0, 2**62, (self.num_items,), generator=generator)
        start, self.skip = self.skip, 0
        return iter(list(zip(order[start:].tolist(), item_seeds[start:].tolist())))


class SeededItems(Dataset):
    """``dataset[index]`` computed with the torch RNG seeded by ``item_seed`` (random augmentations
    and random pairings become functions of the seed), restoring the RNG afterwards."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        index, item_seed = key
        # the CPU generator only: torch.manual_seed would also seed every accelerator (~1 ms an item)
        state = torch.default_generator.get_state()
        torch.default_generator.manual_seed(item_seed)
        try:
            return self.dataset[index]
        finally:
            torch.default_generator.set_state(state)
