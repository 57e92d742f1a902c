"""Gradient cleaning for networks with float16 layers, as NVlabs' stylegan2-ada training loop does it
before every optimizer step: NaN becomes 0 and +-inf becomes +-1e5, so one overflow in a float16
backward costs one odd step instead of the run."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor, nn

from gan_lightning.core.nets.stylegan2 import runs_fp16_layers

GRADIENT_LIMIT = 1e5  # what +-inf becomes (NVlabs' value)


def clean_gradients(parameters: Iterable[Tensor]) -> None:
    """In place: NaN -> 0, +inf -> GRADIENT_LIMIT, -inf -> -GRADIENT_LIMIT in every gradient."""
    for parameter in parameters:
        if parameter.grad is not None:
            torch.nan_to_num_(parameter.grad, nan=0.0, posinf=GRADIENT_LIMIT, neginf=-GRADIENT_LIMIT)


def cleans_gradients(module: nn.Module, scaler_enabled: bool) -> bool:
    """Whether a training run of ``module`` cleans its gradients.

    Only where float16 layers run, and only without an enabled GradScaler. There, a non-finite
    gradient is a float16 overflow that NVlabs' recipe expects and steps over; in float32 it is a
    divergence the NonFiniteGuard must report, not a step to take silently. A GradScaler must see
    the inf itself: it skips that step and lowers its scale, and a cleaned gradient would hide the
    overflow from it (its gradients are also still scaled when the backward ends).
    """
    return runs_fp16_layers(module) and not scaler_enabled


class GradientCleaning:
    """Part of ``GANModule``: cleans after every backward, so every optimizer step (several may
    follow one backward) and every ``on_before_optimizer_step`` callback (the NonFiniteGuard, which
    Lightning calls before the module's own hook) sees the cleaned gradients, as NVlabs' step does;
    decided once per run, when training starts. Under ``gan_ddp`` this comes before its all-reduce:
    each process cleans its own gradients (NVlabs cleans the average), and all end up equal."""

    _cleans_gradients: bool = False

    def on_train_start(self) -> None:
        super().on_train_start()
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        self._cleans_gradients = cleans_gradients(self, scaler is not None and scaler.is_enabled())

    def on_after_backward(self) -> None:
        super().on_after_backward()
        if self._cleans_gradients:  # frozen networks (the other phase's, the EMA copy) got no gradient here
            clean_gradients(p for p in self.parameters() if p.requires_grad)
