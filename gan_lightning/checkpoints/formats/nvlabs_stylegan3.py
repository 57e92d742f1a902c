"""NVlabs stylegan3 generators (configs T and R, ``training/networks_stylegan3.py``) as our StyleGAN3
``Generator``. The pickle is read by ``formats.nvlabs`` (restricted unpickler, numpy values from an
allow-list); this module turns one ``Generator`` object into ours.

Architecture: their ``init_kwargs`` (train.py passes the synthesis and layer options flat) become a
``StyleGAN3Config``; an option we do not know is refused with its name. Both use the same
parameterisation, so each tensor is copied unchanged; only the names differ:

=======================================  =============================================
NVlabs                                   ours
=======================================  =============================================
mapping.fc{i}.* / mapping.w_avg          mapping.layers.{i}.* / mapping.w_avg
synthesis.input.*                        synthesis.input.*
synthesis.L{i}_{size}_{channels}.*       synthesis.layers.{i}.*
*.up_filter / *.down_filter              checked to equal the filters ours designs
=======================================  =============================================
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import torch
from torch import Tensor

from gan_lightning.checkpoints.formats.converted_weights import load_converted_weights
from gan_lightning.checkpoints.formats.safe_pickle import PersistentObject
from gan_lightning.core.nets.settings import StyleGAN3Config
from gan_lightning.core.nets.stylegan3 import Generator


class UnsupportedStyleGAN3(ValueError):
    """The pickle's stylegan3 generator has an option or tensor we do not build; the message names it."""


_SPEED_ONLY = ("fused_modconv_default",)  # not the function


def is_stylegan3(obj: Any) -> bool:
    """Whether an NVlabs ``Generator`` object is stylegan3's (its synthesis starts with a Fourier input)."""
    if not isinstance(obj, PersistentObject) or obj.class_name != "Generator":
        return False
    synthesis = obj.modules.get("synthesis")
    if not isinstance(synthesis, PersistentObject) or synthesis.class_name != "SynthesisNetwork":
        return False
    first = synthesis.modules.get("input")
    return isinstance(first, PersistentObject) and first.class_name == "SynthesisInput"


def stylegan3_config_from_nvlabs(obj: PersistentObject) -> tuple[int, int, StyleGAN3Config]:
    """(resolution, channels, config) from an NVlabs stylegan3 ``Generator``'s init_kwargs."""
    if obj.state.get("_init_args"):
        raise UnsupportedStyleGAN3("stylegan3 Generator was built with positional arguments; cannot read its settings")
    init = dict(obj.init_kwargs)
    missing = [name for name in ("z_dim", "w_dim", "img_resolution", "img_channels") if name not in init]
    if missing:
        raise UnsupportedStyleGAN3(f"stylegan3 Generator init_kwargs lack {', '.join(missing)}")
    ours = {field.name for field in dataclasses.fields(StyleGAN3Config)}
    mapping = dict(init.pop("mapping_kwargs", None) or {})
    options: dict[str, Any] = {"z_dim": init.pop("z_dim"), "w_dim": init.pop("w_dim"), "c_dim": init.pop("c_dim", 0)}
    for name, ours_name in (("num_layers", "mapping_layers"), ("lr_multiplier", "mapping_lr_multiplier"), ("w_avg_beta", "w_avg_beta")):
        if name in mapping:
            options[ours_name] = mapping.pop(name)
    if mapping:
        raise UnsupportedStyleGAN3(f"stylegan3 MappingNetwork option(s) {', '.join(sorted(mapping))} are not supported")
    resolution, channels = int(init.pop("img_resolution")), int(init.pop("img_channels"))
    # stylegan3's train.py gives the synthesis and layer options flat; a nested dict is read too
    init.update(init.pop("synthesis_kwargs", None) or {})
    unknown = sorted(set(init) - ours - set(_SPEED_ONLY))
    if unknown:
        raise UnsupportedStyleGAN3(f"stylegan3 Generator option(s) {', '.join(unknown)} are not supported")
    options.update({name: value for name, value in init.items() if name in ours})
    if options.get("w_avg_beta", 1) is None:
        raise UnsupportedStyleGAN3("stylegan3 MappingNetwork w_avg_beta=None is not supported (the generator tracks w_avg)")
    # their numbers may be numpy values or ints where we keep floats
    kinds = {field.name: str(field.type) for field in dataclasses.fields(StyleGAN3Config)}
    for name, value in options.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            options[name] = int(value) if kinds[name] == "int" else float(value)
    return resolution, channels, StyleGAN3Config(**options)


_NAMES = [
    (re.compile(r"^mapping\.fc(\d+)\."), r"mapping.layers.\1."),
    (re.compile(r"^synthesis\.L(\d+)_\d+_\d+\."), r"synthesis.layers.\1."),
]


def _designed_filters(generator: Generator) -> dict[str, Tensor | None]:
    out: dict[str, Tensor | None] = {}
    for index, layer in enumerate(generator.synthesis.layers):
        out[f"synthesis.layers.{index}.up_filter"] = layer.up_filter
        out[f"synthesis.layers.{index}.down_filter"] = layer.down_filter
    return out


def stylegan3_generator_from_nvlabs(obj: PersistentObject) -> Generator:
    """Our StyleGAN3 Generator holding the weights and buffers (w_avg, Fourier frequencies, phases and
    transform, magnitude EMAs) of an NVlabs stylegan3 Generator, in eval mode."""
    resolution, channels, config = stylegan3_config_from_nvlabs(obj)
    generator = Generator(resolution, channels, config)
    designed = _designed_filters(generator)
    tensors: dict[str, Tensor] = {}
    for key, value in obj.tensors().items():
        name = key
        for pattern, replacement in _NAMES:
            name = pattern.sub(replacement, name)
        if name.endswith(("up_filter", "down_filter")):
            ours = designed.get(name)
            if ours is None or value.shape != ours.shape or not torch.allclose(value.float(), ours, atol=1e-6):
                raise UnsupportedStyleGAN3(f"{key} is not the filter these settings design; only designed filters are supported")
            continue
        tensors[name] = value.detach().float().clone()
    load_converted_weights(generator, tensors, "stylegan3 Generator")
    return generator.eval()
