"""Transfer learning for StyleGAN (Karras et al. 2020, "Training GANs with limited data", sec. 4):
start a run from another checkpoint's networks, and Freeze-D.

- ``init_from``: G, G_ema, D (and optionally ADA p) of a checkpoint written by ``fit`` or by
  ``convert`` (read with ``weights_only=True``), without its optimizer, step counts or schedules;
  what NVlabs' ``--resume`` does with a network pickle (all parameters and buffers, w_avg included).
  Resolution, image channels and the settings that shape the weights must be the run's; a mismatch
  is named with the option to set.
- Freeze-D (Mo et al. 2020): the first ``freeze_d`` discriminator layers, counted from the highest
  resolution as NVlabs' ``--freezed`` counts them (per block: fromrgb, conv0, conv1, skip), get no
  gradients and no optimizer; the ADA paper freezes the high-resolution layers when fine-tuning.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gan_lightning.checkpoints.reading import load_checkpoint
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.stylegan2 import Discriminator

# Settings that change the weights' shapes or meaning; the others (fp16, clamping, w_avg decay,
# minibatch-std group size) are the new run's to choose.
GENERATOR_FIELDS = ("z_dim", "w_dim", "c_dim", "mapping_layers", "mapping_lr_multiplier", "channel_base", "channel_max")
DISCRIMINATOR_FIELDS = ("c_dim", "channel_base", "channel_max", "mbstd_num_channels", "architecture")
# StyleGAN3's also set each layer's frequencies, sizes and filters, which the weights were trained for
STYLEGAN3_FIELDS = (
    "z_dim", "w_dim", "c_dim", "mapping_layers", "mapping_lr_multiplier", "channel_base", "channel_max", "num_layers",
    "num_critical", "first_cutoff", "first_stopband", "last_stopband_rel", "margin_size", "output_scale", "conv_kernel",
    "filter_size", "lrelu_upsampling", "use_radial_filters",
)  # fmt: skip
LAYER_ORDER = ("fromrgb", "conv0", "conv1", "skip")


def _prefixed(state_dict: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _check_settings(path: str, network: str, theirs: dict[str, Any], ours: dict[str, Any], fields: tuple[str, ...]) -> None:
    for name in fields:
        if name in theirs and theirs[name] != ours[name]:
            raise UserError(
                f"init_from {path!r}: {network} {name} is {theirs[name]!r} there, {ours[name]!r} here; "
                f"set --model.init_args.{network}.{name} {theirs[name]!r}"
            )


def _load(path: str, what: str, module: nn.Module, state: dict[str, Tensor]) -> None:
    own = module.state_dict()
    for key, value in state.items():
        if key in own and value.shape != own[key].shape:
            raise UserError(f"init_from {path!r}: {what} {key} has shape {tuple(value.shape)} there, {tuple(own[key].shape)} here")
    missing = sorted(set(own) - set(state))
    if missing:
        raise UserError(f"init_from {path!r}: the {what} weights lack {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
    module.load_state_dict({k: v for k, v in state.items() if k in own})


def init_from_checkpoint(
    path: str,
    resolution: int,
    channels: int,
    hparams: dict[str, Any],
    networks: dict[str, nn.Module | None],
    augment_p: Tensor | None,
    algorithm: str = "StyleGAN",
) -> list[str]:
    """Copies the checkpoint's ``generator``, ``generator_ema`` and ``discriminator`` weights into
    ``networks`` (same keys; None = the run has no such network) and, when ``augment_p`` is given,
    its ADA p into it; the checkpoint must be of ``algorithm``. Returns one line per network about
    where its weights came from."""
    checkpoint = load_checkpoint(path)
    if checkpoint["algorithm"] != algorithm:
        raise UserError(f"init_from {path!r} is a {checkpoint['algorithm']} checkpoint; {algorithm} needs a {algorithm} one")
    hp = checkpoint["hyper_parameters"]
    if (hp.get("resolution"), hp.get("channels")) != (resolution, channels):
        raise UserError(
            f"init_from {path!r} is {hp.get('resolution')} px with {hp.get('channels')} channels; this run is "
            f"{resolution} px with {channels}: train on images of its resolution and channels (--data.init_args.resolution)"
        )
    theirs_sg3, ours_sg3 = hp.get("stylegan3"), hparams.get("stylegan3")
    if (theirs_sg3 is None) != (ours_sg3 is None):
        there, here = ("StyleGAN3", "StyleGAN2") if ours_sg3 is None else ("StyleGAN2", "StyleGAN3")
        raise UserError(
            f"init_from {path!r} holds a {there} generator, this run builds a {here} one; allowed: a checkpoint of the "
            "run's generator (--model.init_args.stylegan3: the StyleGAN3 settings, null for StyleGAN2)"
        )
    if ours_sg3 is not None:
        _check_settings(path, "stylegan3", theirs_sg3, ours_sg3, STYLEGAN3_FIELDS)
    else:
        _check_settings(path, "generator", hp.get("generator", {}), hparams["generator"], GENERATOR_FIELDS)
    if "discriminator" in hp:
        _check_settings(path, "discriminator", hp["discriminator"], hparams["discriminator"], DISCRIMINATOR_FIELDS)

    state = checkpoint["state_dict"]
    stored = {name: _prefixed(state, f"{name}.") for name in ("generator", "generator_ema", "discriminator")}
    # A checkpoint with one generator copy starts both copies from it.
    stored["generator"] = stored["generator"] or stored["generator_ema"]
    stored["generator_ema"] = stored["generator_ema"] or stored["generator"]
    report = []
    for name, module in networks.items():
        if module is None:
            continue
        if not stored[name]:
            report.append(f"{name}: not in {path}, starts from random weights")
            continue
        _load(path, name, module, stored[name])
        report.append(f"{name}: weights from {path}")
    if augment_p is not None:
        if "augment.p" not in state:
            raise UserError(f"init_from {path!r} has no ADA p (augment.p); set init_augment_p false")
        augment_p.copy_(state["augment.p"].reshape(()))
        report.append(f"augment p: {float(augment_p):.4f} from {path}")
    return report


def discriminator_layers(discriminator: Discriminator) -> list[tuple[str, nn.Module]]:
    """The block layers in NVlabs' Freeze-D order: highest resolution first, per block fromrgb, conv0, conv1, skip."""
    layers = []
    for resolution, block in discriminator.blocks.items():
        for name in LAYER_ORDER:
            layer = getattr(block, name, None)
            if layer is not None:
                layers.append((f"blocks.{resolution}.{name}", layer))
    return layers


def freeze_discriminator_layers(discriminator: Discriminator, freeze_d: int) -> list[str]:
    """Freeze-D: no gradients for the first ``freeze_d`` layers (see ``discriminator_layers``); their names."""
    layers = discriminator_layers(discriminator)
    if not 0 <= freeze_d <= len(layers):
        raise UserError(f"freeze_d must be from 0 to {len(layers)} (this discriminator's block layers), got {freeze_d}")
    for _, layer in layers[:freeze_d]:
        layer.requires_grad_(False)
    return [name for name, _ in layers[:freeze_d]]


def trainable(parameters) -> list[torch.nn.Parameter]:
    return [p for p in parameters if p.requires_grad]
