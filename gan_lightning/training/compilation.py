"""``compile``: the training networks run through ``torch.compile``, except in the phases that need
double backward (R1, path length, WGAN-GP), which torch.compile does not support: those run eagerly."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from lightning.pytorch.utilities import rank_zero_info


class CompiledNetworks:
    """Part of ``GANModule``, which sets ``_compile_backend`` (None: no compile). Subclasses name their
    training networks in ``compiled_networks``."""

    # Submodules whose forward (and backward) `compile` compiles: each algorithm's training networks.
    compiled_networks: tuple[str, ...] = ("generator", "discriminator")
    _compile_backend: str | None

    def compile_networks(self) -> None:
        """With ``compile``: compiles the training networks in place (nn.Module.compile keeps their
        state_dict keys, so checkpoints load with or without it; the EMA copy is left eager)."""
        if self._compile_backend is None or getattr(self, "_compiled", False):
            return
        for name in self.compiled_networks:
            self.get_submodule(name).compile(backend=self._compile_backend)
        self._compiled = True
        rank_zero_info(
            f"compile: {', '.join(self.compiled_networks)} compiled with torch.compile (backend {self._compile_backend}); "
            "phases with double backward (R1, path length, WGAN-GP) run eagerly: torch.compile does not support it"
        )

    @contextlib.contextmanager
    def eager(self, active: bool = True) -> Iterator[None]:
        """The compiled networks run eagerly inside (double-backward phases); a no-op without compile
        or with ``active`` False."""
        if not (active and getattr(self, "_compiled", False)):
            yield
            return
        with torch.compiler.set_stance("force_eager"):
            yield
