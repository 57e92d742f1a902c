"""rosinality/stylegan2-pytorch checkpoints (``train.py`` / ``convert_weight.py`` ``.pt`` files) as ours.

Reading: ``torch.load(weights_only=True)``; only ``argparse.Namespace`` (train.py stores its arguments)
is allowed beyond tensors and containers. Conversion: the generator state dicts (``g_ema``, optional
``g``) are mapped onto our StyleGAN2 ``Generator``; the result is an inference checkpoint in our
layout that `generate`, `style-mix`, `interpolate` and `project` load like one trained here.

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

The mapping network's lr multiplier (it scales the stored weights at run time) is not in the file:
rosinality's default ``lr_mlp`` equals ``GeneratorConfig``'s default, which the converted generator
keeps. Images of converted generators match rosinality's own code (benchmarks/compare_rosinality.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from gan_lightning.checkpoints.reading import load_failure
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.stylegan2 import Generator, GeneratorConfig, channels_at


def _get(state: dict[str, Tensor], key: str) -> Tensor:
    if key not in state:
        raise ValueError(f"not a rosinality StyleGAN2 generator state dict: key {key!r} is missing")
    return state[key]


# --- reading ---------------------------------------------------------------------------------------


def load_rosinality_checkpoint(path: Path) -> dict:
    """torch.load with weights_only=True; train.py checkpoints also hold an argparse.Namespace, allowed here."""
    if not path.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist or is not a file")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"cannot read {str(path)!r} as a PyTorch checkpoint: {load_failure(err)}") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("g_ema"), dict):
        raise UserError(f"{str(path)!r} is not a rosinality StyleGAN2 checkpoint: it has no 'g_ema' state dict")
    return checkpoint


# --- architecture and weights ----------------------------------------------------------------------


def architecture_from_rosinality(state: dict[str, Tensor]) -> tuple[int, int, GeneratorConfig]:
    """(resolution, channels, config) of our Generator, inferred from the tensors (size, style_dim,
    n_mlp, channel widths); every other setting keeps GeneratorConfig's default (see the module note)."""
    n_mlp = len([k for k in state if re.fullmatch(r"style\.\d+\.weight", k)])
    if n_mlp == 0:
        raise ValueError("not a rosinality StyleGAN2 generator state dict: no 'style.<i>.weight' mapping layers")
    style_dim = int(_get(state, "style.1.weight").shape[1])
    num_upsampling_blocks = len([k for k in state if re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)])
    resolution = 2 ** (num_upsampling_blocks + 2)
    widths = {4: int(_get(state, "input.input").shape[1])}
    for k in range(num_upsampling_blocks):
        widths[2 ** (k + 3)] = int(_get(state, f"convs.{2 * k}.conv.weight").shape[1])
    # Recover (channel_base, channel_max) of NVlabs' width formula from the widths.
    channel_max = widths[4]
    channel_base = widths[resolution] * resolution
    expected = {res: channels_at(res, channel_base, channel_max) for res in widths}
    if expected != widths:
        raise ValueError(
            f"channel widths {widths} do not follow min(channel_base // resolution, channel_max); not supported"
        )
    channels = int(_get(state, "to_rgb1.bias").shape[1])
    config = GeneratorConfig(
        z_dim=style_dim, w_dim=style_dim, mapping_layers=n_mlp, channel_base=channel_base, channel_max=channel_max
    )
    return resolution, channels, config


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


def generator_state_from_rosinality(state: dict[str, Tensor], resolution: int, mapping_layers: int) -> dict[str, Tensor]:
    """Our Generator's state dict from rosinality's (w_avg is left out: it is not in their generator)."""
    ours: dict[str, Tensor] = {}
    for i in range(mapping_layers):
        ours[f"mapping.layers.{i}.weight"] = _get(state, f"style.{i + 1}.weight")
        ours[f"mapping.layers.{i}.bias"] = _get(state, f"style.{i + 1}.bias")
    ours["synthesis.blocks.4x4.const"] = _get(state, "input.input").squeeze(0)
    _layer(ours, "synthesis.blocks.4x4.conv1", state, "conv1", 0)
    _torgb(ours, "synthesis.blocks.4x4.torgb", state, "to_rgb1")
    num_blocks = int(math.log2(resolution)) - 2
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
) -> Generator:
    """Our Generator holding rosinality's weights, in eval mode.

    w_avg comes from the checkpoint's ``latent_avg`` when present, else from the mean of
    mapping(z) over ``w_avg_samples`` seeded draws (what rosinality's ``mean_latent`` estimates).
    """
    _check_blur_kernels(state)
    resolution, channels, config = architecture_from_rosinality(state)
    generator = Generator(resolution, channels, config)
    ours = generator_state_from_rosinality(state, resolution, config.mapping_layers)
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
        z = torch.randn(w_avg_samples, config.z_dim, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            generator.mapping.w_avg.copy_(generator.mapping(z, update_w_avg=False)[:, 0].mean(dim=0))
    return generator


# --- our checkpoint --------------------------------------------------------------------------------


def stylegan_hyper_parameters(generator: Generator) -> dict:
    """What our StyleGAN checkpoints store to rebuild this generator (plain data)."""
    return {"resolution": generator.resolution, "channels": generator.channels, "generator": dataclasses.asdict(generator.config)}


def convert_rosinality(checkpoint: dict, w_avg_samples: int = 10_000) -> dict:
    """Inference checkpoint dict from a loaded rosinality checkpoint ('g_ema', optional 'g' and 'latent_avg')."""
    latent_avg = checkpoint.get("latent_avg")
    try:
        generator_ema = generator_from_rosinality(checkpoint["g_ema"], latent_avg=latent_avg, w_avg_samples=w_avg_samples)
        # The training generator, when stored, lets a fine-tuning run start from both copies.
        has_g = isinstance(checkpoint.get("g"), dict)
        generator = generator_from_rosinality(checkpoint["g"], latent_avg=generator_ema.mapping.w_avg) if has_g else generator_ema
    except ValueError as err:
        raise UserError(f"cannot convert the rosinality checkpoint: {err}") from None
    state_dict = {f"generator_ema.{k}": v for k, v in generator_ema.state_dict().items()}
    state_dict.update({f"generator.{k}": v.clone() for k, v in generator.state_dict().items()})
    return {"algorithm": "StyleGAN", "hyper_parameters": stylegan_hyper_parameters(generator_ema), "state_dict": state_dict}
