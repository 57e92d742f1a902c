"""Numeric precision of training: TensorFloat-32 in cuDNN convolutions and matmuls, and the loss
scaling of 16-mixed for the manual multi-optimizer steps of the GAN modules."""

from __future__ import annotations

from typing import Any, Callable

import torch
from lightning.fabric.plugins.precision.amp import _optimizer_handles_unscaling
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import Tensor
from torch.optim import Optimizer


class BackwardOutsideAutocast(MixedPrecision):
    """Mixed precision (16-mixed or bf16-mixed) whose backward runs outside autocast."""

    def backward(self, tensor: Tensor, model: LightningModule, optimizer: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Manual optimization calls backward inside training_step's autocast, and an autograd backward
        # started under autocast casts again: the backward of a float32 island (a layer run with
        # autocast disabled, a loss head on .float() inputs) would run in float16 or bfloat16, and
        # overflow at 16-mixed's loss scale. Outside it, each backward op runs in its forward's dtype.
        with torch.autocast(self.device, enabled=False):
            super().backward(tensor, model, optimizer, *args, **kwargs)


class PerBackwardLossScaling(BackwardOutsideAutocast):
    """16-mixed for manual optimization with several optimizers: one loss scale and one verdict per
    scaled backward.

    Lightning's plugin updates the scale after each optimizer step: when one backward feeds several
    optimizers (StyleTransfer's generator and content network) the later ones are unscaled with a
    scale that has already moved, so their gradients come out 2x or 0.5x. Here the update waits until
    the next loss is scaled (or the scale is saved). Once per batch is not possible with PyTorch's
    GradScaler: StyleGAN steps the generator's optimizer twice per batch (Gmain, Greg), which the
    scaler refuses between updates. ``skipped_steps`` counts the steps the scaler skipped (non-finite
    gradients: how it searches its scale).
    """

    def __init__(self, precision: str, device: str, scaler: torch.amp.GradScaler) -> None:
        super().__init__(precision, device, scaler)  # type: ignore[arg-type]
        self._update_pending = False
        self.skipped_steps = 0

    def apply_pending_update(self) -> None:
        if self._update_pending:
            self._update_pending = False
            self.scaler.update()

    def pre_backward(self, tensor: Tensor, module: LightningModule) -> Tensor:  # type: ignore[override]
        self.apply_pending_update()
        return super().pre_backward(tensor, module)

    def optimizer_step(self, optimizer: Optimizer, model: LightningModule, closure: Callable[[], Any], **kwargs: Any) -> Any:  # type: ignore[override]
        closure()  # manual optimization: the backward ran already
        if all(p.grad is None for group in optimizer.param_groups for p in group["params"]):
            # a network whose loss terms are all off (fast neural style's style and content networks):
            # nothing to step, and the scaler refuses an optimizer without gradients
            self._after_closure(model, optimizer)
            return None
        if _optimizer_handles_unscaling(optimizer):
            raise RuntimeError(f"16-mixed: {type(optimizer).__name__} unscales its gradients itself (fused); use a plain one")
        self.scaler.unscale_(optimizer)  # before on_before_optimizer_step, as Lightning's plugin
        self._after_closure(model, optimizer)
        output = self.scaler.step(optimizer, **kwargs)  # reads found-inf on the host to decide
        self.skipped_steps += int(sum(self.scaler._found_inf_per_device(optimizer).values()) > 0)
        self._update_pending = True
        return output

    def state_dict(self) -> dict[str, Any]:
        self.apply_pending_update()  # the saved scale is the one the next batch uses
        return super().state_dict()

    # Saved under Lightning's plugin's key (its class name): a run resumes its scale with either plugin.
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if type(self).__qualname__ in checkpoint:
            checkpoint[MixedPrecision.__qualname__] = checkpoint.pop(type(self).__qualname__)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if MixedPrecision.__qualname__ in checkpoint:
            self.load_state_dict(checkpoint[MixedPrecision.__qualname__])


def set_tf32(enabled: bool) -> None:
    """TF32 for cuBLAS matmuls and cuDNN convolutions through PyTorch's per-backend ``fp32_precision``
    only: mixing it with the legacy ``allow_tf32`` flags (as ``torch.set_float32_matmul_precision``
    plus ``allow_tf32`` did) makes ``torch.get_float32_matmul_precision()`` raise."""
    if not hasattr(torch.backends.cudnn, "conv"):  # torch before the per-backend API: the legacy flags are all there is
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
        return
    mode = "tf32" if enabled else "ieee"
    torch.backends.cuda.matmul.fp32_precision = mode
    torch.backends.cudnn.conv.fp32_precision = mode


class NumericPrecision:
    """Part of ``GANModule``, which sets ``tf32`` (None: PyTorch's defaults)."""

    tf32: bool | None
    trainer: Trainer

    def apply_tf32(self) -> None:
        """Process-wide, so set when fit starts; no effect on CPU."""
        if self.tf32 is not None:
            set_tf32(self.tf32)

    def scale_losses_per_backward(self) -> None:
        """Replaces the Trainer's 16-mixed plugin by ``PerBackwardLossScaling`` on the same scaler, and
        its bf16-mixed plugin by ``BackwardOutsideAutocast``."""
        plugin = self.trainer.strategy.precision_plugin
        if type(plugin) is MixedPrecision and plugin.scaler is not None:
            self.trainer.strategy.precision_plugin = PerBackwardLossScaling(plugin.precision, plugin.device, plugin.scaler)
        elif type(plugin) is MixedPrecision:
            self.trainer.strategy.precision_plugin = BackwardOutsideAutocast(plugin.precision, plugin.device)

    def loss_scale(self) -> float:
        """The GradScaler's current scale under 16-mixed, else 1 (gradient norms are read unscaled)."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
