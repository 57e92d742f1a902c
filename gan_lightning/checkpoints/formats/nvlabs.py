"""NVlabs network pickles (stylegan2-ada-pytorch snapshots and released ``.pkl`` files, stylegan3's
StyleGAN2 and StyleGAN3 networks) as our StyleGAN checkpoints; a stylegan3 generator (config T or
R) is read by ``nvlabs_stylegan3``, the rest here.

Reading: ``formats.safe_pickle`` (no code from the file runs; NVlabs' own loader executes the
source embedded in the file). A snapshot is a dict with ``G``, ``D``, ``G_ema`` (persistent network
objects), ``augment_pipe`` and ``training_set_kwargs``; each network object carries its
``init_kwargs`` (the architecture) and its parameters and buffers.

Architecture: their ``init_kwargs`` become ``GeneratorConfig`` / ``DiscriminatorConfig``; what we
do not build is refused with the class and option named: a synthesis network that is neither
StyleGAN2's nor stylegan3's, a generator architecture other than ``skip``, a discriminator
architecture other than ``resnet`` or ``orig``, other resampling filters or activations, mapping-network
feature sizes other than ``w_dim``. Both implement the same parameterisation (equalized lr, weights
stored divided by the lr multiplier), so each tensor is copied unchanged; only the names differ:

=====================================  =========================================================
NVlabs                                 ours
=====================================  =========================================================
mapping.fc{i}.*                        mapping.layers.{i}.*
mapping.embed.* / mapping.w_avg        mapping.embed.* / mapping.w_avg
synthesis.b{R}.*                       synthesis.blocks.{R}x{R}.*
*.noise_strength / *.noise_const       *.noise.strength / *.noise.noise_const
D b{R}.{fromrgb,conv0,conv1,skip}.*    blocks.{R}x{R}.{fromrgb,conv0,conv1,skip}.*
D b4.{conv,fc,out}.*                   epilogue.{conv,fc,out}.*
*.resample_filter (buffers)            checked to be the [1, 3, 3, 1] filter ours always uses
augment_pipe.p                         augment.p (the ADA probability)
=====================================  =========================================================

Images, discriminator logits and p of converted snapshots match NVlabs' own code
(benchmarks/compare_nvlabs.py).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gan_lightning.common.errors import UserError
from gan_lightning.checkpoints.formats.nvlabs_stylegan3 import UnsupportedStyleGAN3, is_stylegan3, stylegan3_generator_from_nvlabs
from gan_lightning.checkpoints.formats.converted_weights import UnsupportedNetwork, load_converted_weights
from gan_lightning.checkpoints.formats.safe_pickle import PersistentObject, plain_data, read_pickle_file, safe_load
from gan_lightning.core.nets import stylegan3
from gan_lightning.core.nets.layers import DEFAULT_FIR, fir_filter
from gan_lightning.core.nets.stylegan2 import DISCRIMINATOR_ARCHITECTURES, Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

NETWORKS = ("G", "D", "G_ema", "augment_pipe")


# --- reading ---------------------------------------------------------------------------------------


def load_nvlabs_pickle(path: Path) -> dict[str, Any]:
    """The snapshot dict of an NVlabs ``.pkl``, read by the restricted unpickler."""
    data = read_pickle_file(path, safe_load, "an NVlabs network pickle")
    if isinstance(data, tuple) and data and all(type(item).__name__ == "tuple" for item in data):
        raise UserError(f"{str(path)!r} looks like a TensorFlow-era pickle; only stylegan2-ada-pytorch / stylegan3 pickles are read")
    if not isinstance(data, dict) or not any(isinstance(data.get(name), PersistentObject) for name in ("G_ema", "G")):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{str(path)!r} is not an NVlabs network pickle: expected a dict with 'G_ema' or 'G', got {keys}")
    return data


# --- architecture ----------------------------------------------------------------------------------


def _expect_class(obj: Any, class_name: str, where: str) -> PersistentObject:
    if not isinstance(obj, PersistentObject):
        raise UnsupportedNetwork(f"{where} is {type(obj).__name__}, not an NVlabs network object")
    if obj.class_name != class_name:
        raise UnsupportedNetwork(f"{where} is {obj.class_name}; only the StyleGAN2 {class_name} is supported")
    if obj.state.get("_init_args"):
        raise UnsupportedNetwork(f"{where} {class_name} was built with positional arguments; cannot read its settings")
    return obj


def _take(options: dict[str, Any], where: str, supported: dict[str, Any], ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """``options`` with NVlabs' defaults filled in; an unknown option or one set to a value we do
    not build (``supported`` values other than None are the only ones allowed) is refused."""
    unknown = sorted(set(options) - set(supported) - set(ignored))
    if unknown:
        raise UnsupportedNetwork(f"{where}: option(s) {', '.join(unknown)} are not supported")
    values = {name: options.get(name, default) for name, default in supported.items()}
    return values


def _require_value(where: str, option: str, value: Any, allowed: Any) -> None:
    if value != allowed:
        raise UnsupportedNetwork(f"{where} {option}={value!r} is not supported (only {allowed!r})")


_CHANNELS_LAST = ("fp16_channels_last", "channels_last")


def generator_config_from_nvlabs(obj: PersistentObject) -> tuple[int, int, GeneratorConfig]:
    """(resolution, channels, config) of our Generator from an NVlabs ``Generator``'s init_kwargs."""
    _expect_class(obj, "Generator", "generator")
    synthesis = obj.modules.get("synthesis")
    if isinstance(synthesis, PersistentObject) and (
        synthesis.class_name != "SynthesisNetwork" or "input" in synthesis.modules
    ):
        raise UnsupportedNetwork(
            "the generator's synthesis is neither StyleGAN2's nor stylegan3's (a SynthesisNetwork starting with a SynthesisInput)"
        )
    own = {"z_dim": None, "c_dim": 0, "w_dim": None, "img_resolution": None, "img_channels": None, "mapping_kwargs": {}}
    init = obj.init_kwargs
    kw = _take({k: v for k, v in init.items() if k in own}, "Generator", own)
    # stylegan2-ada-pytorch nests the synthesis options; stylegan3's networks_stylegan2 takes them flat.
    synthesis_options = {**dict(init.get("synthesis_kwargs") or {}), **{k: v for k, v in init.items() if k not in own and k != "synthesis_kwargs"}}
    m = _take(
        dict(kw["mapping_kwargs"]),
        "Generator mapping_kwargs",
        {"num_layers": 8, "embed_features": None, "layer_features": None, "activation": "lrelu", "lr_multiplier": 0.01, "w_avg_beta": 0.995},
    )
    for option in ("embed_features", "layer_features"):
        if m[option] is not None and m[option] != kw["w_dim"]:
            raise UnsupportedNetwork(f"MappingNetwork {option}={m[option]!r} is not supported (only w_dim)")
    _require_value("MappingNetwork", "activation", m["activation"], "lrelu")
    if m["w_avg_beta"] is None:
        raise UnsupportedNetwork("MappingNetwork w_avg_beta=None is not supported (the generator tracks w_avg)")
    s = _take(
        synthesis_options,
        "Generator synthesis options",
        {
            "channel_base": 32768,
            "channel_max": 512,
            "num_fp16_res": 0,
            "conv_clamp": None,
            "architecture": "skip",
            "resample_filter": list(DEFAULT_FIR),
            "activation": "lrelu",
            "use_noise": True,
            "kernel_size": 3,
        },
        ignored=(*_CHANNELS_LAST, "fused_modconv_default"),  # speed choices, not the function
    )
    _require_value("SynthesisBlock", "architecture", s["architecture"], "skip")
    _require_value("SynthesisBlock", "resample_filter", list(s["resample_filter"]), list(DEFAULT_FIR))
    _require_value("SynthesisLayer", "activation", s["activation"], "lrelu")
    _require_value("SynthesisLayer", "use_noise", s["use_noise"], True)
    _require_value("SynthesisLayer", "kernel_size", s["kernel_size"], 3)
    config = GeneratorConfig(
        z_dim=int(kw["z_dim"]),
        w_dim=int(kw["w_dim"]),
        c_dim=int(kw["c_dim"]),
        mapping_layers=int(m["num_layers"]),
        mapping_lr_multiplier=float(m["lr_multiplier"]),
        w_avg_beta=float(m["w_avg_beta"]),
        channel_base=int(s["channel_base"]),
        channel_max=int(s["channel_max"]),
        num_fp16_res=int(s["num_fp16_res"]),
        conv_clamp=None if s["conv_clamp"] is None else float(s["conv_clamp"]),
    )
    return int(kw["img_resolution"]), int(kw["img_channels"]), config


def discriminator_config_from_nvlabs(obj: PersistentObject) -> tuple[int, int, DiscriminatorConfig]:
    """(resolution, channels, config) of our Discriminator from an NVlabs ``Discriminator``'s init_kwargs."""
    _expect_class(obj, "Discriminator", "discriminator")
    kw = _take(
        obj.init_kwargs,
        "Discriminator",
        {
            "c_dim": 0,
            "img_resolution": None,
            "img_channels": None,
            "architecture": "resnet",
            "channel_base": 32768,
            "channel_max": 512,
            "num_fp16_res": 0,
            "conv_clamp": None,
            "cmap_dim": None,
            "block_kwargs": {},
            "mapping_kwargs": {},
            "epilogue_kwargs": {},
        },
    )
    if kw["architecture"] not in DISCRIMINATOR_ARCHITECTURES:
        raise UnsupportedNetwork(f"Discriminator architecture={kw['architecture']!r} is not supported (only {' or '.join(map(repr, DISCRIMINATOR_ARCHITECTURES))})")
    b = _take(
        dict(kw["block_kwargs"]),
        "Discriminator block_kwargs",
        {"activation": "lrelu", "resample_filter": list(DEFAULT_FIR)},
        ignored=(*_CHANNELS_LAST, "freeze_layers"),  # Freeze-D is a training choice (our freeze_d), not the network
    )
    _require_value("DiscriminatorBlock", "activation", b["activation"], "lrelu")
    _require_value("DiscriminatorBlock", "resample_filter", list(b["resample_filter"]), list(DEFAULT_FIR))
    e = _take(
        dict(kw["epilogue_kwargs"]),
        "Discriminator epilogue_kwargs",
        {"mbstd_group_size": 4, "mbstd_num_channels": 1, "activation": "lrelu"},
    )
    _require_value("DiscriminatorEpilogue", "activation", e["activation"], "lrelu")
    if e["mbstd_group_size"] is None:  # theirs: the whole batch; ours needs a number
        raise UnsupportedNetwork("DiscriminatorEpilogue mbstd_group_size=None (whole batch) is not supported (only a number)")
    c_dim = int(kw["c_dim"])
    if c_dim > 0:
        # our label mapping has NVlabs' MappingNetwork defaults (GeneratorConfig's depth and lr multiplier)
        m = _take(
            dict(kw["mapping_kwargs"]),
            "Discriminator mapping_kwargs",
            {"num_layers": 8, "lr_multiplier": 0.01, "activation": "lrelu", "embed_features": None, "layer_features": None},
        )
        _require_value("Discriminator mapping", "num_layers", m["num_layers"], GeneratorConfig.mapping_layers)
        _require_value("Discriminator mapping", "lr_multiplier", m["lr_multiplier"], GeneratorConfig.mapping_lr_multiplier)
        _require_value("Discriminator mapping", "activation", m["activation"], "lrelu")
        for option in ("embed_features", "layer_features"):
            if m[option] is not None and m[option] != kw["cmap_dim"]:
                raise UnsupportedNetwork(f"Discriminator mapping {option}={m[option]!r} is not supported (only cmap_dim)")
    config = DiscriminatorConfig(
        c_dim=c_dim,
        channel_base=int(kw["channel_base"]),
        channel_max=int(kw["channel_max"]),
        num_fp16_res=int(kw["num_fp16_res"]),
        conv_clamp=None if kw["conv_clamp"] is None else float(kw["conv_clamp"]),
        mbstd_group_size=int(e["mbstd_group_size"]),
        mbstd_num_channels=int(e["mbstd_num_channels"]),
        architecture=str(kw["architecture"]),
    )
    cmap_dim = kw["cmap_dim"]
    width4 = min(config.channel_base // 4, config.channel_max)
    if c_dim > 0 and cmap_dim is not None and cmap_dim != width4:
        raise UnsupportedNetwork(f"Discriminator cmap_dim={cmap_dim!r} is not supported (only the 4x4 width {width4})")
    return int(kw["img_resolution"]), int(kw["img_channels"]), config


# --- weights ---------------------------------------------------------------------------------------

_GENERATOR_NAMES = [
    (re.compile(r"^mapping\.fc(\d+)\."), r"mapping.layers.\1."),
    (re.compile(r"^synthesis\.b(\d+)\."), lambda m: f"synthesis.blocks.{m[1]}x{m[1]}."),
    (re.compile(r"\.noise_strength$"), ".noise.strength"),
    (re.compile(r"\.noise_const$"), ".noise.noise_const"),
]
_DISCRIMINATOR_NAMES = [
    (re.compile(r"^mapping\.fc(\d+)\."), r"mapping.layers.\1."),
    (re.compile(r"^b4\."), "epilogue."),
    (re.compile(r"^b(\d+)\."), lambda m: f"blocks.{m[1]}x{m[1]}."),
]


def _renamed(tensors: dict[str, Tensor], rules: list) -> dict[str, Tensor]:
    taps = fir_filter(DEFAULT_FIR)
    references = {1: taps, 2: torch.outer(taps, taps)}  # NVlabs stores the 2-D filter for 4 taps
    ours: dict[str, Tensor] = {}
    for key, value in tensors.items():
        if key.endswith("resample_filter"):  # ours is a fixed non-persistent buffer: check it is the same filter
            reference = references.get(value.ndim)
            if reference is None or value.shape != reference.shape or not torch.allclose(value.float(), reference, atol=1e-6):
                raise UnsupportedNetwork(f"{key} is not the [1, 3, 3, 1] filter; only that filter is supported")
            continue
        name = key
        for pattern, replacement in rules:
            name = pattern.sub(replacement, name)
        ours[name] = value.detach().float().clone()
    return ours


def generator_from_nvlabs(obj: PersistentObject) -> Generator | stylegan3.Generator:
    """Our Generator holding the weights and buffers (w_avg, noise_const) of an NVlabs Generator, in
    eval mode; a stylegan3 one becomes our StyleGAN3 generator (``nvlabs_stylegan3``)."""
    if is_stylegan3(obj):
        return stylegan3_generator_from_nvlabs(obj)
    resolution, channels, config = generator_config_from_nvlabs(obj)
    generator = Generator(resolution, channels, config)
    load_converted_weights(generator, _renamed(obj.tensors(), _GENERATOR_NAMES), "Generator")
    return generator.eval()


def discriminator_from_nvlabs(obj: PersistentObject) -> Discriminator:
    resolution, channels, config = discriminator_config_from_nvlabs(obj)
    discriminator = Discriminator(resolution, channels, config)
    load_converted_weights(discriminator, _renamed(obj.tensors(), _DISCRIMINATOR_NAMES), "Discriminator")
    return discriminator.eval()


def augment_p_from_nvlabs(obj: Any) -> Tensor:
    """The ADA probability of an NVlabs ``AugmentPipe`` (its transform settings are not carried over:
    our augmentation has its own, see gan_lightning.core.augment)."""
    pipe = _expect_class(obj, "AugmentPipe", "augment_pipe")
    p = pipe.tensors().get("p")
    if p is None or p.numel() != 1:
        raise UnsupportedNetwork("augment_pipe has no scalar buffer p")
    return p.detach().float().reshape(())


# --- our checkpoint --------------------------------------------------------------------------------


def convert_nvlabs(snapshot: dict[str, Any]) -> dict:
    """A full StyleGAN checkpoint (generator, EMA generator, discriminator when present, ADA p) from
    an NVlabs snapshot read by ``load_nvlabs_pickle``."""
    try:
        generator_ema = generator_from_nvlabs(snapshot.get("G_ema", snapshot.get("G")))
        generator = generator_from_nvlabs(snapshot["G"]) if snapshot.get("G") is not None else generator_ema
        discriminator = discriminator_from_nvlabs(snapshot["D"]) if snapshot.get("D") is not None else None
        augment_p = augment_p_from_nvlabs(snapshot["augment_pipe"]) if snapshot.get("augment_pipe") is not None else None
    except (UnsupportedNetwork, UnsupportedStyleGAN3, UserError) as err:
        raise UserError(f"cannot convert the NVlabs pickle: {err}") from None
    if type(generator) is not type(generator_ema) or generator.config != generator_ema.config:
        raise UserError("cannot convert the NVlabs pickle: G and G_ema have different architectures")
    if discriminator is not None and (discriminator.resolution, discriminator.channels) != (generator.resolution, generator.channels):
        raise UserError(
            f"cannot convert the NVlabs pickle: D is {discriminator.resolution} px with {discriminator.channels} channels, "
            f"G is {generator.resolution} px with {generator.channels}"
        )
    state_dict = {f"generator_ema.{k}": v for k, v in generator_ema.state_dict().items()}
    state_dict.update({f"generator.{k}": v.clone() for k, v in generator.state_dict().items()})
    hyper_parameters: dict[str, Any] = {
        "resolution": generator_ema.resolution,
        "channels": generator_ema.channels,
        # the registry builds a StyleGAN3 generator where "stylegan3" is given
        ("stylegan3" if isinstance(generator_ema, stylegan3.Generator) else "generator"): dataclasses.asdict(generator_ema.config),
    }
    if discriminator is not None:
        state_dict.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
        hyper_parameters["discriminator"] = dataclasses.asdict(discriminator.config)
    if augment_p is not None:
        state_dict["augment.p"] = augment_p
    checkpoint = {"algorithm": "StyleGAN", "hyper_parameters": hyper_parameters, "state_dict": state_dict}
    if isinstance(snapshot.get("training_set_kwargs"), dict):
        checkpoint["nvlabs_training_set_kwargs"] = plain_data(snapshot["training_set_kwargs"])
    return checkpoint
