"""Loading weights read from another codebase's file into our network, with one line naming what
does not fit: shared by the NVlabs and R3GAN converters."""

from __future__ import annotations

from torch import Tensor, nn


class UnsupportedNetwork(ValueError):
    """The file holds a network variant we do not build; the message names what differs."""


def load_converted_weights(network: nn.Module, ours: dict[str, Tensor], where: str) -> None:
    """``ours`` (already renamed to our names) into ``network``: every tensor present, none extra,
    each of our shape; otherwise ``UnsupportedNetwork`` naming the first that differ."""
    own = network.state_dict()
    missing, unexpected = sorted(set(own) - set(ours)), sorted(set(ours) - set(own))
    if missing or unexpected:
        raise UnsupportedNetwork(f"{where}: tensors do not match our network (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, value in ours.items():
        if value.shape != own[key].shape:
            raise UnsupportedNetwork(f"{where}: {key} has shape {tuple(value.shape)}, our network expects {tuple(own[key].shape)}")
    network.load_state_dict(ours)
