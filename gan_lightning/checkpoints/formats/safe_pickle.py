"""A pickle reader that rebuilds tensors and plain containers and nothing else.

NVlabs' network pickles (stylegan2-ada-pytorch, stylegan3) store each network as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` holds the class name,
the module's ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs`` ...) and
the Python source of the module that defines it. Their loader ``exec``s that source; a file from an
untrusted place can therefore run anything. Here the call is answered by ``PersistentObject``, a
record of those fields: the source is kept as text and never compiled.

Every other global a pickle names must be in ``ALLOWED``: tensor and parameter rebuilding (storages
are read by ``torch.load(weights_only=True)``), ``OrderedDict``/``set``, numpy number scalars, and
``dnnlib.util.EasyDict`` (read as a plain dict). Anything else is refused with one line naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable

import torch

PERSISTENT_RECONSTRUCT = ("torch_utils.persistence", "_reconstruct_persistent_obj")


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global that is not in ``ALLOWED`` (it could run code)."""


@dataclass
class PersistentObject:
    """One NVlabs persistent network object, as data: never instantiated, its source never run."""

    class_name: str
    state: dict[str, Any]
    module_src: str = field(repr=False)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def modules(self) -> dict[str, Any]:
        return dict(self.state.get("_modules") or {})

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this object and its children, by dotted name (what
        ``state_dict()`` of the original module would give)."""
        out: dict[str, torch.Tensor] = {}
        for name, value in (self.state.get("_parameters") or {}).items():
            if value is not None:
                out[prefix + name] = value.detach()
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for name, value in (self.state.get("_buffers") or {}).items():
            if value is not None and name not in skip:
                out[prefix + name] = value
        for name, child in self.modules.items():
            if isinstance(child, PersistentObject):
                out.update(child.tensors(f"{prefix}{name}."))
            elif child is not None:
                raise pickle.UnpicklingError(f"module {prefix}{name} is a {type(child).__name__}, not a network object")
        return out


def _reconstruct_persistent_obj(meta: dict) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError(f"persistent object of unknown type {meta.get('type') if isinstance(meta, dict) else meta!r}")
    state = meta.get("state")
    if not isinstance(state, dict) or not isinstance(meta.get("class_name"), str):
        raise pickle.UnpicklingError("persistent object without class_name and state")
    return PersistentObject(class_name=meta["class_name"], state=dict(state), module_src=str(meta.get("module_src", "")))


def _load_storage_from_bytes(data: bytes) -> Any:
    # torch pickles a storage as torch.save(storage) bytes; read them without code execution too.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


_NUMPY_NUMBER_KINDS = "biuf"


def _numpy_dtype(name: str, align: bool = False, copy: bool = True) -> Any:
    import numpy

    dtype = numpy.dtype(name)
    if dtype.kind not in _NUMPY_NUMBER_KINDS:
        raise RefusedGlobal(f"numpy dtype {name!r} is not a number type; refused")
    return dtype


def _numpy_scalar(dtype: Any, data: bytes = b"") -> int | float | bool:
    import numpy

    if not isinstance(dtype, numpy.dtype) or dtype.kind not in _NUMPY_NUMBER_KINDS or not isinstance(data, bytes):
        raise RefusedGlobal(f"numpy scalar of dtype {dtype!r} is not a number; refused")
    return numpy.frombuffer(data, dtype=dtype)[0].item()


def _torch_size(*args: Any) -> torch.Size:
    return torch.Size(*args)


ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    PERSISTENT_RECONSTRUCT: _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): _torch_size,
    ("dnnlib.util", "EasyDict"): dict,  # theirs only adds attribute access
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from ``ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            allowed = ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"the pickle needs {module}.{name}, which could run code; refused") from None
        if isinstance(allowed, type):
            return allowed  # built-in types only: their attributes cannot be set
        # A fresh function per lookup: a BUILD opcode aimed at it can only change this copy.
        return lambda *args, **kwargs: allowed(*args, **kwargs)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"persistent id {pid!r} is not supported")


def safe_load(file: BinaryIO) -> Any:
    """The object pickled in ``file``, rebuilt without running code from it (see the module note)."""
    return RestrictedUnpickler(file).load()
