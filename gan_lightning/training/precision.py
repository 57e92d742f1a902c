"""Numeric precision of training: TensorFloat-32 in cuDNN convolutions and matmuls, and the loss
scale of 16-mixed, which gradient penalties divide out of the input gradients they take."""

from __future__ import annotations

import torch


def set_tf32(enabled: bool) -> None:
    """TF32 for cuBLAS matmuls and cuDNN convolutions through PyTorch's per-backend ``fp32_precision``
    only: mixing it with the legacy ``allow_tf32`` flags (as ``torch.set_float32_matmul_precision``
    plus ``allow_tf32`` did) makes ``torch.get_float32_matmul_precision()`` raise."""
    mode = "tf32" if enabled else "ieee"
    torch.backends.cuda.matmul.fp32_precision = mode
    torch.backends.cudnn.conv.fp32_precision = mode


class NumericPrecision:
    """Part of ``GANModule``, which sets ``tf32`` (None: PyTorch's defaults)."""

    tf32: bool | None

    def apply_tf32(self) -> None:
        """Process-wide, so set when fit starts; no effect on CPU."""
        if self.tf32 is not None:
            set_tf32(self.tf32)

    def loss_scale(self) -> float:
        """The GradScaler's current scale under 16-mixed, else 1 (gradient penalties need it)."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None)
        return float(scaler.get_scale()) if scaler is not None and scaler.is_enabled() else 1.0
