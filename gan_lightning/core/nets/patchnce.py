"""The content network of CUT: PatchNCE projection heads H_l over the generator's encoder features.

For each tapped encoder layer l, a few spatial positions (patches) are sampled; the features there
go through a 2-layer MLP H_l to a 256-d vector and are L2-normalised. The same positions are used
for the input image and for the generated image, so that position s in both is the positive pair
(Park et al. 2020, sec. 3.2). The heads are built from channel counts in ``__init__`` so that the
optimizer, checkpoints and DDP see them from the start.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from gan_lightning.common.checks import check_at_least
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.cut_blocks import init_xavier_


class ProjectionHead(nn.Module):
    """H_l: Linear(c, d) - ReLU - Linear(d, d), then L2 normalisation over the last dimension."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.mlp = nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(), nn.Linear(out_features, out_features))

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape[-1] == self.in_features, (tuple(x.shape), self.in_features)
        # float32 under any autocast: at init the outputs are tiny, so the normalisation's gradient
        # (about 1 / ||v||) overflows float16 at any loss scale; the heads see a few patches only
        with torch.autocast(x.device.type, enabled=False):
            v = self.mlp(x.float())
        # Additive epsilon (not a clamp): at init the outputs are tiny, and this keeps them comparable.
        return v / (v.norm(dim=-1, keepdim=True) + 1e-7)


def sample_patch_ids(
    features: Sequence[Tensor], num_patches: int, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Random distinct spatial positions (flat indices into H*W) per layer, at most ``num_patches`` each.

    One set per layer is shared by all images of the batch, as in the reference implementation.
    """
    check_at_least("num_patches", num_patches, 1)
    ids = []
    for feat in features:
        positions = feat.shape[2] * feat.shape[3]
        # randperm on the CPU (seedable, and avoids device-specific randperm issues), then moved.
        perm = torch.randperm(positions, generator=generator)[: min(num_patches, positions)]
        ids.append(perm.to(feat.device))
    return ids


class PatchNCEHeads(nn.Module):
    """``forward(features, patch_ids) -> [ (N, P_l, out_features) ]``, one entry per tapped layer."""

    def __init__(self, *, in_channels: Sequence[int], out_features: int = 256, init_gain: float = 0.02) -> None:
        super().__init__()
        if len(in_channels) == 0 or any(c < 1 for c in in_channels):
            raise UserError(f"in_channels={list(in_channels)} is invalid; allowed: a non-empty list of positive ints")
        check_at_least("out_features", out_features, 1)
        self.in_channels = tuple(int(c) for c in in_channels)
        self.out_features = out_features
        self.heads = nn.ModuleList(ProjectionHead(c, out_features) for c in self.in_channels)
        init_xavier_(self, init_gain)

    @staticmethod
    def gather_patches(feature: Tensor, patch_ids: Tensor) -> Tensor:
        """(N, C, H, W) features at flat positions ``patch_ids`` -> (N, P, C)."""
        assert feature.ndim == 4 and patch_ids.ndim == 1, (tuple(feature.shape), tuple(patch_ids.shape))
        return feature.flatten(2).index_select(2, patch_ids).transpose(1, 2)

    def forward(self, features: Sequence[Tensor], patch_ids: Sequence[Tensor]) -> list[Tensor]:
        if not len(features) == len(patch_ids) == len(self.heads):
            raise ValueError(
                f"got {len(features)} feature maps and {len(patch_ids)} patch id sets; "
                f"allowed: exactly {len(self.heads)} (one per head)"
            )
        out = []
        for head, feature, ids in zip(self.heads, features, patch_ids):
            if feature.shape[1] != head.in_features:
                raise ValueError(f"feature with {feature.shape[1]} channels is invalid; this head takes {head.in_features}")
            projected = head(self.gather_patches(feature, ids))
            assert projected.shape == (feature.shape[0], ids.numel(), self.out_features), tuple(projected.shape)
            out.append(projected)
        return out
