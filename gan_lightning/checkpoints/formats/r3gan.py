"""Official R3GAN snapshot pickles (brownvc/R3GAN's ``network-snapshot-*.pkl`` and released ``.pkl``
files) as our R3GAN checkpoints.

Reading: their training loop pickles ``dict(G, D, G_ema, training_set_kwargs, cur_nimg, *_opt_state)``
with ``pickle.dump``. Unlike NVlabs' StyleGAN networks, theirs are not persistent classes: the file
names each class (``training.networks.Generator``, ``R3GAN.Networks.ResidualBlock``,
``torch.nn.modules.conv.Conv2d`` ...) and their loader imports it. Here a class is looked up in
``CLASSES`` and answered by ``ModuleRecord``, a record of the module's attributes that is never a
module: nothing is imported or run. Every other global goes through ``safe_pickle``'s allow-list.

Architecture: read off the tensor shapes (their networks keep no init arguments): per stage the
width, the cardinality of the grouped convolution, the residual blocks; the expansion factor, kernel
size, class embedding, the resampling filter from the ``Resampler.Kernel`` buffers and the bfloat16
stages from each stage's ``DataType``. The parameterisation is the same as ours, so each tensor is
copied unchanged; only the names differ (``OFFICIAL_NAMES``). Images of a converted pickle match
their code's (tests/checkpoints/test_r3gan_pickles.py, on a pickle written by
benchmarks/r3gan_fixture.py).
"""

from __future__ import annotations

import dataclasses
import pickle
import re
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor, nn

from gan_lightning.checkpoints.formats.converted_weights import UnsupportedNetwork, load_converted_weights
from gan_lightning.checkpoints.formats.safe_pickle import (
    PersistentObject,
    RestrictedUnpickler,
    plain_data,
    read_pickle_file,
)
from gan_lightning.common.errors import UserError
from gan_lightning.core.nets.r3gan import (
    R3GANDiscriminator,
    R3GANDiscriminatorConfig,
    R3GANGenerator,
    R3GANGeneratorConfig,
    interpolation_taps,
)

NETWORKS = ("G", "D", "G_ema")

# The classes their networks are made of, by the module that defines them.
CLASSES: dict[str, tuple[str, ...]] = {
    "training.networks": ("Generator", "Discriminator"),
    "R3GAN.Networks": (
        "Convolution",
        "ResidualBlock",
        "UpsampleLayer",
        "DownsampleLayer",
        "GenerativeBasis",
        "DiscriminativeBasis",
        "GeneratorStage",
        "DiscriminatorStage",
        "Generator",
        "Discriminator",
    ),
    "R3GAN.Resamplers": ("InterpolativeUpsamplerCUDA", "InterpolativeDownsamplerCUDA", "InterpolativeUpsamplerReference", "InterpolativeDownsamplerReference"),
    "R3GAN.FusedOperators": ("BiasedActivationCUDA", "BiasedActivationReference"),
    "torch.nn.modules.conv": ("Conv2d",),
    "torch.nn.modules.linear": ("Linear",),
    "torch.nn.modules.container": ("ModuleList",),
}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}  # a stage's DataType

# Their parameter names -> ours (their wrappers hold R3GAN.Networks' module as ``Model``).
OFFICIAL_NAMES = [
    (r"^Model\.", ""),
    (r"MainLayers\.(\d+)\.Layers\.", r"stages.\1.layers."),
    (r"LinearLayer1\.Layer\.", "expand."),
    (r"LinearLayer2\.Layer\.", "grouped."),
    (r"LinearLayer3\.Layer\.", "compress."),
    (r"NonLinearity(\d)\.Bias$", r"act\1.bias"),
    (r"LinearLayer\.Layer\.", "linear."),
    (r"LinearLayer\.", "linear."),
    (r"\.Basis(\.weight)?$", r".basis\1"),
    (r"^AggregationLayer\.Layer\.", "to_rgb."),
    (r"^ExtractionLayer\.Layer\.", "from_rgb."),
    (r"^EmbeddingLayer\.", "embedding."),
]
RESAMPLER_KERNEL = "Resampler.Kernel"  # theirs a buffer, ours fixed taps: checked, not copied
_DEFAULTS = R3GANGeneratorConfig()  # their networks' defaults too (expansion, kernel size, filter)


def our_name(name: str) -> str:
    """Our parameter name for one of their networks' (see ``OFFICIAL_NAMES``)."""
    for pattern, replacement in OFFICIAL_NAMES:
        name = re.sub(pattern, replacement, name)
    return name


# --- reading ---------------------------------------------------------------------------------------


class ModuleRecord:
    """One of their modules, as data: the class name and the attributes its pickle restores."""

    class_name = ""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.class_name} with state of type {type(state).__name__}")
        self.state = state

    def attribute(self, name: str) -> Any:
        return getattr(self, "state", {}).get(name)

    @property
    def modules(self) -> dict[str, Any]:
        return dict(self.attribute("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, Tensor]:
        """Parameters and persistent buffers of this module and its children, by dotted name."""
        out: dict[str, Tensor] = {}
        for name, value in (self.attribute("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value.detach()
        skip = set(self.attribute("_non_persistent_buffers_set") or ())
        for name, value in (self.attribute("_buffers") or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value
        for name, child in self.modules.items():
            if not isinstance(child, ModuleRecord):
                raise UnsupportedNetwork(f"module {prefix}{name} is a {type(child).__name__}, not one of the R3GAN network's modules")
            out.update(child.tensors(f"{prefix}{name}."))
        return out


class R3GANUnpickler(RestrictedUnpickler):
    """``RestrictedUnpickler`` that also answers their network classes with ``ModuleRecord``s."""

    def find_class(self, module: str, name: str) -> Any:
        if name in CLASSES.get(module, ()):
            # A fresh subclass per lookup: an opcode aimed at it can only change this copy.
            return type(name, (ModuleRecord,), {"class_name": f"{module}.{name}"})
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        return super().find_class(module, name)


def safe_load_r3gan(file: BinaryIO) -> Any:
    return R3GANUnpickler(file).load()


def load_r3gan_pickle(path: Path) -> dict[str, Any]:
    """The snapshot dict of an official R3GAN ``.pkl``, read without running code from it."""
    data = read_pickle_file(path, safe_load_r3gan, "an R3GAN snapshot pickle")
    if not isinstance(data, dict) or data.get("G_ema", data.get("G")) is None:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise UserError(f"{str(path)!r} is not an R3GAN snapshot pickle: expected a dict with 'G_ema' or 'G', got {keys}")
    return data


def is_r3gan_pickle(path: Path) -> bool:
    """Whether ``path`` reads as an official R3GAN snapshot (for naming ``--from r3gan`` when another
    reader refused it); read as ``load_r3gan_pickle`` does, nothing run."""
    try:
        data = load_r3gan_pickle(path)
    except UserError:
        return False
    network = data.get("G_ema", data.get("G"))
    return isinstance(network, ModuleRecord) and network.class_name == "training.networks.Generator"


# --- architecture ----------------------------------------------------------------------------------


def _expect(record: Any, class_name: str, where: str) -> ModuleRecord:
    if not isinstance(record, ModuleRecord) or record.class_name != class_name:
        if isinstance(record, ModuleRecord):
            found = record.class_name
        elif isinstance(record, PersistentObject):  # NVlabs' StyleGAN networks are persistent classes
            found = f"an NVlabs persistent {record.class_name} (a StyleGAN pickle: use --from nvlabs)"
        else:
            found = type(record).__name__
        raise UnsupportedNetwork(f"{where} is {found}; only {class_name} is supported")
    return record


def _stage_records(network: ModuleRecord, wrapper: str) -> list[ModuleRecord]:
    model = _expect(network.modules.get("Model"), f"R3GAN.Networks.{wrapper}", f"{wrapper}.Model")
    stages = model.modules.get("MainLayers")
    if not isinstance(stages, ModuleRecord) or not stages.modules:
        raise UnsupportedNetwork(f"{wrapper} has no MainLayers")
    return [stages.modules[key] for key in sorted(stages.modules, key=int)]


def _bf16_stages(stages: list[ModuleRecord], highest_first: bool, where: str) -> int:
    """How many of the highest-resolution stages run in bfloat16 (ours: a count from the top)."""
    dtypes = [stage.attribute("DataType") for stage in stages]
    for dtype in dtypes:
        if dtype not in (torch.float32, torch.bfloat16):
            raise UnsupportedNetwork(f"{where} stage DataType {dtype!r} is not supported (only torch.float32 or torch.bfloat16)")
    from_top = dtypes if highest_first else dtypes[::-1]
    count = sum(dtype == torch.bfloat16 for dtype in dtypes)
    if any(dtype == torch.bfloat16 for dtype in from_top[count:]):
        raise UnsupportedNetwork(f"{where} runs a lower-resolution stage in bfloat16 but not all above it; only the highest stages can be")
    return count


def _resampling_filter(tensors: dict[str, Tensor], where: str) -> tuple[int, ...]:
    """Their filter taps (ours are convolved with [1, 1] and normalised as theirs) from the Kernel buffers."""
    kernels = [value for key, value in tensors.items() if key.endswith(RESAMPLER_KERNEL)]
    if not kernels:
        return _DEFAULTS.resampling_filter
    kernel = kernels[0].double()
    # the kernel is outer(k, k) with k summing to 1: its row sums are k; k = filter * [1, 1]
    taps = kernel.sum(dim=1)
    found = [float(taps[0])]
    for value in taps[1:-1]:
        found.append(float(value) - found[-1])
    scale = min(abs(v) for v in found if abs(v) > 1e-9)
    candidate = tuple(round(v / scale) for v in found)
    expected = torch.outer(interpolation_taps(candidate), interpolation_taps(candidate))
    for value in kernels:
        if value.shape != expected.shape or not torch.allclose(value.float(), expected, atol=1e-6):
            raise UnsupportedNetwork(f"{where} resampling kernels differ from one another or from any integer filter; only one integer filter is supported")
    return candidate



def _stage_layout(stage: ModuleRecord, where: str) -> tuple[list[ModuleRecord], ModuleRecord | None]:
    layers_record = stage.modules.get("Layers")
    if not isinstance(layers_record, ModuleRecord):
        raise UnsupportedNetwork(f"{where} has no Layers")
    layers = [layers_record.modules[key] for key in sorted(layers_record.modules, key=int)]
    blocks = [layer for layer in layers if isinstance(layer, ModuleRecord) and layer.class_name == "R3GAN.Networks.ResidualBlock"]
    others = [layer for layer in layers if layer not in blocks]
    if len(others) != 1:
        raise UnsupportedNetwork(f"{where} has {len(others)} layers besides its residual blocks; one transition layer expected")
    return blocks, others[0]


def _block_shape(blocks: list[ModuleRecord], width: int, where: str) -> tuple[int, int, int] | None:
    """(cardinality, expansion, kernel size) of a stage's residual blocks, None without blocks."""
    shapes = set()
    for block in blocks:
        tensors = block.tensors()
        expand, grouped = tensors["LinearLayer1.Layer.weight"], tensors["LinearLayer2.Layer.weight"]
        expanded = expand.shape[0]
        shapes.add((expanded // grouped.shape[1], expanded // width, grouped.shape[-1]))
    if len(shapes) > 1:
        raise UnsupportedNetwork(f"{where} has residual blocks of different shapes {sorted(shapes)}")
    return shapes.pop() if shapes else None


def _shared(values: set, name: str, where: str, default: int) -> int:
    values.discard(None)
    if len(values) > 1:
        raise UnsupportedNetwork(f"{where} {name} differs between stages ({sorted(values)}); ours is one value per network")
    return values.pop() if values else default


def generator_config_from_official(network: Any) -> R3GANGeneratorConfig:
    """Our generator settings from one of their ``training.networks.Generator`` records."""
    network = _expect(network, "training.networks.Generator", "generator")
    stages = _stage_records(network, "Generator")
    tensors = network.tensors()
    widths, cardinalities, blocks, expansions, kernels = [], [], [], set(), set()
    for index, stage in enumerate(stages):
        where = f"Generator stage {index}"
        _expect(stage, "R3GAN.Networks.GeneratorStage", where)
        stage_blocks, _ = _stage_layout(stage, where)
        width = tensors[f"Model.MainLayers.{index}.Layers.0.Basis"].shape[0] if index == 0 else None
        if index > 0:
            linear = tensors.get(f"Model.MainLayers.{index}.Layers.0.LinearLayer.Layer.weight")
            width = widths[-1] if linear is None else linear.shape[0]
        shape = _block_shape(stage_blocks, width, where)
        widths.append(int(width))
        cardinalities.append(shape[0] if shape else 1)
        blocks.append(len(stage_blocks))
        expansions.add(shape[1] if shape else None)
        kernels.add(shape[2] if shape else None)
    z_dim = int(network.attribute("z_dim"))
    c_dim = int(network.attribute("c_dim") or 0)
    embedding = tensors.get("Model.EmbeddingLayer.weight")
    return R3GANGeneratorConfig(
        widths=tuple(widths),
        cardinalities=tuple(cardinalities),
        blocks=tuple(blocks),
        expansion=_shared(expansions, "expansion factor", "Generator", _DEFAULTS.expansion),
        kernel_size=_shared(kernels, "kernel size", "Generator", _DEFAULTS.kernel_size),
        resampling_filter=_resampling_filter(tensors, "Generator"),
        c_dim=c_dim,
        embedding_dim=int(embedding.shape[0]) if embedding is not None else 0,
        bf16_stages=_bf16_stages(stages, highest_first=False, where="Generator"),
        z_dim=z_dim,
    )


def discriminator_config_from_official(network: Any) -> R3GANDiscriminatorConfig:
    """Our discriminator settings (from 4x4 up) from one of their ``training.networks.Discriminator`` records."""
    network = _expect(network, "training.networks.Discriminator", "discriminator")
    stages = _stage_records(network, "Discriminator")
    tensors = network.tensors()
    width = int(tensors["Model.ExtractionLayer.Layer.weight"].shape[0])
    widths, cardinalities, blocks, expansions, kernels = [], [], [], set(), set()
    for index, stage in enumerate(stages):  # from the image's resolution down
        where = f"Discriminator stage {index}"
        _expect(stage, "R3GAN.Networks.DiscriminatorStage", where)
        stage_blocks, _ = _stage_layout(stage, where)
        shape = _block_shape(stage_blocks, width, where)
        widths.append(width)
        cardinalities.append(shape[0] if shape else 1)
        blocks.append(len(stage_blocks))
        expansions.add(shape[1] if shape else None)
        kernels.add(shape[2] if shape else None)
        linear = tensors.get(f"Model.MainLayers.{index}.Layers.{len(stage_blocks)}.LinearLayer.Layer.weight")
        if index < len(stages) - 1 and linear is not None:
            width = int(linear.shape[0])
    c_dim = int(tensors["Model.EmbeddingLayer.weight"].shape[1]) if "Model.EmbeddingLayer.weight" in tensors else 0
    embedding = tensors.get("Model.EmbeddingLayer.weight")
    return R3GANDiscriminatorConfig(
        widths=tuple(widths[::-1]),
        cardinalities=tuple(cardinalities[::-1]),
        blocks=tuple(blocks[::-1]),
        expansion=_shared(expansions, "expansion factor", "Discriminator", _DEFAULTS.expansion),
        kernel_size=_shared(kernels, "kernel size", "Discriminator", _DEFAULTS.kernel_size),
        resampling_filter=_resampling_filter(tensors, "Discriminator"),
        c_dim=c_dim,
        embedding_dim=int(embedding.shape[0]) if embedding is not None else 0,
        bf16_stages=_bf16_stages(stages, highest_first=True, where="Discriminator"),
    )


# --- weights ---------------------------------------------------------------------------------------


def _load(network: nn.Module, tensors: dict[str, Tensor], where: str) -> None:
    ours = {our_name(key): value.detach().float().clone() for key, value in tensors.items() if not key.endswith(RESAMPLER_KERNEL)}
    load_converted_weights(network, ours, where)


def _channels(tensors: dict[str, Tensor], key: str, dim: int) -> int:
    return int(tensors[key].shape[dim])


def generator_from_official(network: Any) -> R3GANGenerator:
    """Our generator holding the weights of one of their generators, in eval mode."""
    config = generator_config_from_official(network)
    tensors = network.tensors()
    generator = R3GANGenerator(config, _channels(tensors, "Model.AggregationLayer.Layer.weight", 0))
    _load(generator, tensors, "Generator")
    return generator.eval()


def discriminator_from_official(network: Any) -> R3GANDiscriminator:
    config = discriminator_config_from_official(network)
    tensors = network.tensors()
    discriminator = R3GANDiscriminator(config, _channels(tensors, "Model.ExtractionLayer.Layer.weight", 1))
    _load(discriminator, tensors, "Discriminator")
    return discriminator.eval()


# --- our checkpoint --------------------------------------------------------------------------------


def convert_r3gan(snapshot: dict[str, Any]) -> dict:
    """An R3GAN checkpoint (generator, EMA generator and discriminator when present) from a
    snapshot read by ``load_r3gan_pickle``; their optimizer states are not carried over."""
    try:
        generator_ema = generator_from_official(snapshot.get("G_ema", snapshot.get("G")))
        generator = generator_from_official(snapshot["G"]) if snapshot.get("G") is not None else generator_ema
        discriminator = discriminator_from_official(snapshot["D"]) if snapshot.get("D") is not None else None
    except (UnsupportedNetwork, UserError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"cannot convert the R3GAN pickle: {err}") from None
    if generator.config != generator_ema.config:
        raise UserError("cannot convert the R3GAN pickle: G and G_ema have different architectures")
    channels = generator_ema.to_rgb.out_channels
    if discriminator is not None:
        if (discriminator.resolution, discriminator.from_rgb.in_channels) != (generator_ema.resolution, channels):
            raise UserError(
                f"cannot convert the R3GAN pickle: D is {discriminator.resolution} px with {discriminator.from_rgb.in_channels} channels, "
                f"G is {generator_ema.resolution} px with {channels}"
            )
        if discriminator.config.c_dim != generator_ema.config.c_dim:
            raise UserError(f"cannot convert the R3GAN pickle: D has c_dim {discriminator.config.c_dim}, G {generator_ema.config.c_dim}")
    state_dict = {f"generator_ema.{k}": v for k, v in generator_ema.state_dict().items()}
    state_dict.update({f"generator.{k}": v.clone() for k, v in generator.state_dict().items()})
    hyper_parameters: dict[str, Any] = {
        "resolution": generator_ema.resolution,
        "channels": channels,
        "num_classes": generator_ema.config.c_dim,
        "generator": dataclasses.asdict(generator_ema.config),
    }
    if discriminator is not None:
        state_dict.update({f"discriminator.{k}": v for k, v in discriminator.state_dict().items()})
        hyper_parameters["discriminator"] = dataclasses.asdict(discriminator.config)
    checkpoint: dict[str, Any] = {"algorithm": "R3GAN", "hyper_parameters": hyper_parameters, "state_dict": state_dict}
    if isinstance(snapshot.get("cur_nimg"), int):
        checkpoint["r3gan_cur_nimg"] = snapshot["cur_nimg"]
    if isinstance(snapshot.get("training_set_kwargs"), dict):
        checkpoint["r3gan_training_set_kwargs"] = plain_data(snapshot["training_set_kwargs"])
    return checkpoint
