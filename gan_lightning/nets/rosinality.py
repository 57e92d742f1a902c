"""Map a rosinality/stylegan2-pytorch generator state dict (``g_ema``) onto our StyleGAN2 ``Generator``.

Both implement the same config-F network with the same parameterisation (equalized lr, transposed
convolution then FIR blur for upsampling), so each tensor is copied, only reshaped:

=====================================  =========================================================
rosinality                             ours
=====================================  =========================================================
style.{i}.weight / bias  (i = 1..L)    mapping.layers.{i-1}.weight / bias
input.input  (1, C, 4, 4)              synthesis.blocks.4x4.const  (C, 4, 4)
conv1.* / to_rgb1.*                    synthesis.blocks.4x4.conv1.* / .torgb.*
convs.{2k} / convs.{2k+1}              synthesis.blocks.{R}x{R}.conv0 / .conv1, R = 2**(k+3)
to_rgbs.{k}                            synthesis.blocks.{R}x{R}.torgb
*.conv.weight  (1, O, I, k, k)         *.weight  (O, I, k, k)
*.conv.modulation.weight / bias        *.affine.weight / bias
*.noise.weight  (1,)                   *.noise.strength  ()
*.activate.bias                        *.bias
to_rgb*.bias  (1, 3, 1, 1)             torgb.bias  (3,)
noises.noise_{j}  (1, 1, R, R)         j-th layer's noise.noise_const  (R, R)
=====================================  =========================================================

The mapping network's lr multiplier is not stored in the file; rosinality's default (0.01) is assumed.
"""

from __future__ import annotations

import math
import re

import torch
from torch import Tensor

from gan_lightning.nets.stylegan2 import Generator, channels_at

ROSINALITY_LR_MLP = 0.01


def _get(state: dict[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise ValueError(f"not a rosinality StyleGAN2 generator state dict: key {key!r} is missing")
    return state[key]


def generator_kwargs_from_rosinality(state: dict[str, Tensor]) -> dict:
    """Infer our Generator's constructor kwargs (size, style_dim, n_mlp, channel widths) from the tensors."""
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    if n_mlp == 0:
        raise ValueError("not a rosinality StyleGAN2 generator state dict: no 'style.<i>.weight' mapping layers")
    style_dim = int(_get(state, "style.1.weight").shape[1])
    num_upsampling_blocks = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    resolution = 2 ** (num_upsampling_blocks + 2)
    widths = {4: int(_get(state, "input.input").shape[1])}
    for k in range(num_upsampling_blocks):
        widths[2 ** (k + 3)] = int(_get(state, f"convs.{2 * k}.conv.weight").shape[1])
    # Recover (channel_base, channel_max) of the official formula from the widths.
    channel_max = widths[4]
    channel_base = widths[resolution] * resolution
    expected = {res: channels_at(res, channel_base, channel_max) for res in widths}
    if expected != widths:
        raise ValueError(
            f"channel widths {widths} do not follow min(channel_base // resolution, channel_max); not supported"
        )
    return {
        "resolution": resolution,
        "channels": int(_get(state, "to_rgb1.bias").shape[1]),
        "z_dim": style_dim,
        "w_dim": style_dim,
        "mapping_layers": n_mlp,
        "mapping_lr_multiplier": ROSINALITY_LR_MLP,
        "channel_base": channel_base,
        "channel_max": channel_max,
    }


def _layer(ours: dict[str, Tensor], prefix: str, state: dict[str, Tensor], src: str, noise_index: int) -> None:
    """One StyledConv -> SynthesisLayer."""
    ours[f"{prefix}.weight"] = _get(state, f"{src}.conv.weight").squeeze(0)
    ours[f"{prefix}.affine.weight"] = _get(state, f"{src}.conv.modulation.weight")
    ours[f"{prefix}.affine.bias"] = _get(state, f"{src}.conv.modulation.bias")
    ours[f"{prefix}.noise.strength"] = _get(state, f"{src}.noise.weight").reshape([])
    ours[f"{prefix}.bias"] = _get(state, f"{src}.activate.bias")
    noise_key = f"noises.noise_{noise_index}"
    if noise_key in state:
        ours[f"{prefix}.noise.noise_const"] = state[noise_key].reshape(state[noise_key].shape[-2:])


def _torgb(ours: dict[str, Tensor], prefix: str, state: dict[str, Tensor], src: str) -> None:
    ours[f"{prefix}.weight"] = _get(state, f"{src}.conv.weight").squeeze(0)
    ours[f"{prefix}.affine.weight"] = _get(state, f"{src}.conv.modulation.weight")
    ours[f"{prefix}.affine.bias"] = _get(state, f"{src}.conv.modulation.bias")
    ours[f"{prefix}.bias"] = _get(state, f"{src}.bias").flatten()


def generator_state_from_rosinality(state: dict[str, Tensor], kwargs: dict) -> dict[str, Tensor]:
    """Our Generator's state dict from rosinality's (w_avg is left out: it is not in their generator)."""
    ours: dict[str, Tensor] = {}
    for i in range(kwargs["mapping_layers"]):
        ours[f"mapping.layers.{i}.weight"] = _get(state, f"style.{i + 1}.weight")
        ours[f"mapping.layers.{i}.bias"] = _get(state, f"style.{i + 1}.bias")
    ours["synthesis.blocks.4x4.const"] = _get(state, "input.input").squeeze(0)
    _layer(ours, "synthesis.blocks.4x4.conv1", state, "conv1", 0)
    _torgb(ours, "synthesis.blocks.4x4.torgb", state, "to_rgb1")
    num_blocks = int(math.log2(kwargs["resolution"])) - 2
    for k in range(num_blocks):
        res = 2 ** (k + 3)
        prefix = f"synthesis.blocks.{res}x{res}"
        _layer(ours, f"{prefix}.conv0", state, f"convs.{2 * k}", 2 * k + 1)
        _layer(ours, f"{prefix}.conv1", state, f"convs.{2 * k + 1}", 2 * k + 2)
        _torgb(ours, f"{prefix}.torgb", state, f"to_rgbs.{k}")
    return {k: v.detach().float().clone() for k, v in ours.items()}


def _check_blur_kernels(state: dict[str, Tensor]) -> None:
    # rosinality stores its FIR kernels; ours are fixed to [1, 3, 3, 1], so refuse anything else.
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    expected = torch.outer(f, f) / torch.outer(f, f).sum()
    for key, kernel in state.items():
        if key.endswith("kernel") and kernel.ndim == 2:
            scale = kernel.sum()
            if kernel.shape != expected.shape or not torch.allclose(kernel.float() / scale, expected, atol=1e-6):
                raise ValueError(f"{key} is not the [1, 3, 3, 1] FIR kernel; only that filter is supported")


def generator_from_rosinality(
    state: dict[str, Tensor], latent_avg: Tensor | None = None, w_avg_samples: int = 10_000, seed: int = 0
) -> tuple[Generator, dict]:
    """Build our Generator holding rosinality's weights; returns (generator in eval mode, constructor kwargs).

    w_avg comes from the checkpoint's ``latent_avg`` when present, else from the mean of
    mapping(z) over ``w_avg_samples`` seeded draws (what rosinality's ``mean_latent`` estimates).
    """
    _check_blur_kernels(state)
    kwargs = generator_kwargs_from_rosinality(state)
    generator = Generator(**kwargs)
    ours = generator_state_from_rosinality(state, kwargs)
    if latent_avg is None:
        ours["mapping.w_avg"] = generator.mapping.w_avg  # placeholder, estimated below
    else:
        ours["mapping.w_avg"] = latent_avg.detach().float().reshape(-1)
    own = generator.state_dict()
    for key in own:  # files without stored noise keep our own random draws
        if key.endswith("noise_const") and key not in ours:
            ours[key] = own[key]
    missing = sorted(set(own) - set(ours))
    if missing:
        raise ValueError(f"rosinality state dict does not provide {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    for key, value in ours.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{key}: shape {tuple(value.shape)} from the checkpoint, expected {tuple(own[key].shape)}")
    generator.load_state_dict(ours)
    generator.eval()
    if latent_avg is None:
        z = torch.randn(w_avg_samples, kwargs["z_dim"], generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            generator.mapping.w_avg.copy_(generator.mapping(z, update_w_avg=False)[:, 0].mean(dim=0))
    return generator, kwargs
