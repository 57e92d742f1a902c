"""Features of a set split over processes come back in item order, whatever the number of processes."""

from __future__ import annotations

import torch
from torch import nn

from gan_lightning.evaluation.extraction import Shard, extract_features, gather_rows, single_process_gather


class Identity(nn.Module):
    """Returns each uint8 image's first pixel value as its one feature, and no logits."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return images[:, :1, 0, 0].float(), None


def images_of(indices: list[int]) -> torch.Tensor:
    """Item i is a flat image of value i (in [-1, 1], quantized back to i)."""
    return torch.tensor(indices, dtype=torch.float32)[:, None, None, None].expand(-1, 3, 2, 2) / 127.5 - 1


def test_split_over_three_processes_merges_back_in_item_order() -> None:
    count, world_size = 11, 3  # ranks get items 0,3,6,9 / 1,4,7,10 / 2,5,8 (+ one repeated as padding)
    local: dict[int, torch.Tensor] = {}

    def keep(rank: int):
        def gather(tensor: torch.Tensor) -> torch.Tensor:
            local[rank] = tensor
            return tensor[None]

        return gather

    for rank in range(world_size):
        extract_features(images_of, Identity(), count, batch_size=2, shard=Shard(rank, world_size), gather=keep(rank))
    assert [t.shape[0] for t in local.values()] == [4, 4, 4]  # equal lengths, as all_gather needs
    gathered = torch.stack([local[rank] for rank in range(world_size)])  # what all_gather gives each process
    assert Shard(1, world_size).merge(gathered, count).flatten().tolist() == list(range(count))
    alone = extract_features(images_of, Identity(), count, batch_size=4)["features"]
    assert alone.flatten().tolist() == list(range(count))


def test_rows_of_unequal_length_are_gathered_in_process_order() -> None:
    mine, theirs = torch.arange(3.0)[:, None], 100 + torch.arange(5.0)[:, None]

    def gather(tensor: torch.Tensor) -> torch.Tensor:  # process 0 of two; process 1 holds `theirs`
        other = torch.tensor([len(theirs)]) if tensor.dtype == torch.int64 else theirs
        assert tensor.shape == other.shape  # all_gather needs equal shapes
        return torch.stack([tensor, other])

    assert gather_rows(mine, gather).flatten().tolist() == [0, 1, 2, 100, 101, 102, 103, 104]
    assert torch.equal(gather_rows(mine, single_process_gather), mine)
