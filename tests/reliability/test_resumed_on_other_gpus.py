"""A run saved on a node with two GPUs visible resumes on a node with one (or more): each GPU present
that was there gets its random stream back, and none that is absent is asked for. Simulated on CPU
by standing in for torch.cuda's device count and stream setter."""

from __future__ import annotations

import pytest
import torch

from gan_lightning.training.callbacks.random_streams import collect_random_streams, set_random_streams


@pytest.mark.parametrize("present", [1, 3])
def test_cuda_streams_restored_for_the_gpus_present(present: int, monkeypatch: pytest.MonkeyPatch) -> None:
    restored: dict[int, torch.Tensor] = {}

    def set_rng_state(state: torch.Tensor, device: int | str | torch.device = "cuda") -> None:
        index = torch.device(device).index if not isinstance(device, int) else device
        index = 0 if index is None else index
        if index >= present:  # what torch.cuda does for a device that is not there
            raise IndexError("tuple index out of range")
        restored[index] = state

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: present)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_rng_state)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", set_rng_state)
    saved_on_two = [torch.full((16,), 1, dtype=torch.uint8), torch.full((16,), 2, dtype=torch.uint8)]
    streams = {**collect_random_streams(), "cuda": saved_on_two}

    set_random_streams(streams)

    assert sorted(restored) == list(range(min(present, 2)))
    for device, state in restored.items():
        assert torch.equal(state, saved_on_two[device])
