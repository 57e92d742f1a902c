"""Small pickles with the structure of NVlabs' stylegan2-ada-pytorch snapshots, made without their code.

Each network is pickled the way their ``torch_utils.persistence`` does it: a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with ``meta`` = {type, version,
module_src, class_name, state}, the state being the module's ``__dict__`` (``_parameters``,
``_buffers``, ``_modules``, ``_init_kwargs`` as a ``dnnlib.util.EasyDict``, plain attributes). The
referenced modules exist only while pickling (stand-ins in ``sys.modules``), as on a machine
without NVlabs' code. ``module_src`` is whatever the caller gives: the tests use source that would
create a file if anyone executed it.
"""

from __future__ import annotations

import collections
import pickle
import re
import sys
import types
from pathlib import Path
from typing import Any

import torch

from gan_lightning.core.nets.layers import DEFAULT_FIR, fir_filter
from gan_lightning.core.nets.stylegan2 import Discriminator, Generator

HARMLESS_SOURCE = "# the networks' source would be here\n"


def _reconstruct_persistent_obj(meta):  # the stand-in's name and module are what the pickle records
    raise AssertionError("only used to be pickled by reference")


class EasyDict(dict):
    pass


class Persistent:
    """Pickles as NVlabs' persistent objects do."""

    def __init__(self, class_name: str, state: dict, module_src: str) -> None:
        self.meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def _stand_in_modules() -> dict[str, types.ModuleType]:
    torch_utils, persistence = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    _reconstruct_persistent_obj.__module__ = persistence.__name__
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util.EasyDict = EasyDict
    torch_utils.persistence, dnnlib.util = persistence, util
    return {m.__name__: m for m in (torch_utils, persistence, dnnlib, util)}


def _easy(value: Any) -> Any:
    return EasyDict({k: _easy(v) for k, v in value.items()}) if isinstance(value, dict) else value


BUFFER_NAMES = ("noise_const", "w_avg", "resample_filter", "p")


def _tree(tensors: dict[str, torch.Tensor]) -> dict:
    """Nested {child: {...}, tensor name: tensor} from dotted names."""
    root: dict = {}
    for name, value in tensors.items():
        node = root
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return root


def _module(class_name: str, node: dict, module_src: str, init_kwargs: dict | None = None, attrs: dict | None = None) -> Persistent:
    params, buffers, modules = collections.OrderedDict(), collections.OrderedDict(), collections.OrderedDict()
    for name, value in node.items():
        if isinstance(value, dict):
            modules[name] = _module(name[:1].upper() + re.sub(r"\d+$", "", name[1:]) + "Layer", value, module_src)
        elif name in BUFFER_NAMES:
            buffers[name] = value.clone()
        else:
            params[name] = torch.nn.Parameter(value.clone(), requires_grad=False)
    state = {
        "training": False,
        "_parameters": params,
        "_buffers": buffers,
        "_non_persistent_buffers_set": set(),
        "_forward_hooks": collections.OrderedDict(),
        "_modules": modules,
        "_init_args": (),
        "_init_kwargs": _easy(init_kwargs or {}),
        "weight_gain": 0.125,
        **(attrs or {}),
    }
    return Persistent(class_name, state, module_src)


def nvlabs_generator_tensors(generator: Generator) -> dict[str, torch.Tensor]:
    """Our generator's tensors under NVlabs' names (the inverse of the conversion), with their 2-D filters."""
    out = {}
    for key, value in generator.state_dict().items():
        name = re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", key)
        name = re.sub(r"^synthesis\.blocks\.(\d+)x\d+\.", r"synthesis.b\1.", name)
        name = name.replace(".noise.strength", ".noise_strength").replace(".noise.noise_const", ".noise_const")
        out[name] = value
        if name.endswith(".const") or name.endswith("conv0.weight"):
            out[name.rsplit(".", 1)[0] + ".resample_filter"] = torch.outer(fir_filter(DEFAULT_FIR), fir_filter(DEFAULT_FIR))
    return out


def nvlabs_discriminator_tensors(discriminator: Discriminator) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in discriminator.state_dict().items():
        name = re.sub(r"^mapping\.layers\.(\d+)\.", r"mapping.fc\1.", key)
        name = re.sub(r"^blocks\.(\d+)x\d+\.", r"b\1.", name).replace("epilogue.", "b4.")
        out[name] = value
    return out


def generator_record(generator: Generator, module_src: str, synthesis_kwargs: dict | None = None) -> Persistent:
    cfg = generator.config
    kwargs = dict(
        z_dim=cfg.z_dim,
        w_dim=cfg.w_dim,
        mapping_kwargs={"num_layers": cfg.mapping_layers},
        synthesis_kwargs={"channel_base": cfg.channel_base, "channel_max": cfg.channel_max, "num_fp16_res": 0, "conv_clamp": None, **(synthesis_kwargs or {})},
        c_dim=cfg.c_dim,
        img_resolution=generator.resolution,
        img_channels=generator.channels,
    )
    tree = _tree(nvlabs_generator_tensors(generator))
    record = _module("Generator", tree, module_src, kwargs, attrs={"z_dim": cfg.z_dim})
    record.meta["state"]["_modules"]["mapping"].meta["class_name"] = "MappingNetwork"
    record.meta["state"]["_modules"]["synthesis"].meta["class_name"] = "SynthesisNetwork"
    return record


def discriminator_record(discriminator: Discriminator, module_src: str, architecture: str = "resnet") -> Persistent:
    cfg = discriminator.config
    kwargs = dict(
        block_kwargs={"freeze_layers": 0},
        mapping_kwargs={},
        epilogue_kwargs={"mbstd_group_size": cfg.mbstd_group_size},
        channel_base=cfg.channel_base,
        channel_max=cfg.channel_max,
        num_fp16_res=0,
        conv_clamp=None,
        architecture=architecture,
        c_dim=cfg.c_dim,
        img_resolution=discriminator.resolution,
        img_channels=discriminator.channels,
    )
    return _module("Discriminator", _tree(nvlabs_discriminator_tensors(discriminator)), module_src, kwargs)


def augment_pipe_record(p: float, module_src: str) -> Persistent:
    return _module("AugmentPipe", {"p": torch.tensor(p)}, module_src, {"xflip": 1, "rotate90": 1}, attrs={"xflip": 1.0})


def write_snapshot(path: Path, networks: dict[str, Any], resolution: int) -> Path:
    """``pickle.dump`` of {training_set_kwargs, **networks} with the stand-in modules present."""
    snapshot = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "path": "x.zip", "resolution": resolution}, **networks}
    stand_ins = _stand_in_modules()
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        with path.open("wb") as file:
            pickle.dump(snapshot, file)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return path


def with_embedded_source(asset: Path, module_src: str, path: Path) -> Path:
    """A copy of a snapshot pickle written by NVlabs' own code (a test asset), each network's embedded
    source replaced by ``module_src``; everything else (numpy arrays and scalars included) pickled
    again as their persistence module does. The asset is ours and trusted, so it is read with
    pickle's full loader here, with the stand-in modules answering NVlabs' names."""
    stand_ins = _stand_in_modules()

    class Reader(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if module in stand_ins:
                return _replace_source if name == "_reconstruct_persistent_obj" else getattr(stand_ins[module], name)
            return super().find_class(module, name)

    def _replace_source(meta):
        return Persistent(meta["class_name"], meta["state"], module_src)

    with asset.open("rb") as file:
        snapshot = Reader(file).load()
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        with path.open("wb") as file:
            pickle.dump(snapshot, file)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return path
