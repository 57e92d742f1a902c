"""Building blocks shared by the CUT networks (generator, PatchGAN, PatchNCE heads): CUT's
initialisation, its instance normalisation, and the fixed anti-aliasing filters (Zhang 2019) that
replace stride-2 steps when ``antialias=True``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def init_xavier_(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """CUT's default initialisation: Xavier-normal weights with a small gain, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class Float32InstanceNorm2d(nn.InstanceNorm2d):
    """Instance normalisation computed in float32 under any autocast: CUT's small initialisation
    gives activations of tiny variance, and the R1 double backward through a float16 normalisation
    (terms in 1 / sigma^3) is NaN at any loss scale."""

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float()).to(x.dtype)


def instance_norm(channels: int) -> nn.InstanceNorm2d:
    # No affine parameters and no running statistics, as in the reference networks.
    return Float32InstanceNorm2d(channels, affine=False, track_running_stats=False)


def _binomial_kernel(taps: int) -> Tensor:
    row = torch.tensor([1.0, 2.0, 1.0]) if taps == 3 else torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


class BlurDownsample(nn.Module):
    """Anti-aliased stride-2 subsampling: reflect pad, fixed 3x3 binomial blur, keep every 2nd pixel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        # Fixed filter: a non-persistent buffer, so it moves with .to() but is not in checkpoints.
        self.register_buffer("kernel", _binomial_kernel(3).expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        assert x.ndim == 4 and x.shape[1] == self.channels, (tuple(x.shape), self.channels)
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.kernel.to(x.dtype), stride=2, groups=self.channels)


class BlurUpsample(nn.Module):
    """Anti-aliased x2 upsampling: zero-insertion then a fixed 4x4 binomial blur (one transposed conv).

    A 1-pixel replicate pad before and a crop after keep the borders as bright as the interior.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        # x4 so that each output pixel, which receives 2x2 of the 16 taps, keeps unit gain.
        self.register_buffer("kernel", (_binomial_kernel(4) * 4).expand(channels, 1, 4, 4).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        assert x.ndim == 4 and x.shape[1] == self.channels, (tuple(x.shape), self.channels)
        height, width = x.shape[2:]
        # The edge rows and columns concatenated, not F.pad(mode="replicate"): the same values, and
        # inductor on CPU (torch 2.14) fails a stride assertion in replication_pad2d's backward.
        x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
        x = torch.cat([x[:, :, :, :1], x, x[:, :, :, -1:]], dim=3)
        # (H + 2 - 1) * 2 - 2 * 3 + 4 = 2H: padding=3 drops exactly the pad's contribution.
        y = F.conv_transpose2d(x, self.kernel.to(x.dtype), stride=2, padding=3, groups=self.channels)
        assert y.shape[2:] == (2 * height, 2 * width), (tuple(y.shape), height, width)
        return y
