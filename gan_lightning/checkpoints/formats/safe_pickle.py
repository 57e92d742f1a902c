"""A pickle reader that rebuilds tensors and plain containers and nothing else.

NVlabs' network pickles (stylegan2-ada-pytorch, stylegan3) store each network as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta`` holds the class name,
the module's ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ``_init_kwargs`` ...) and
the Python source of the module that defines it. Their loader ``exec``s that source; a file from an
untrusted place can therefore run anything. Here the call is answered by ``PersistentObject``, a
record of those fields: the source is kept as text and never compiled.

Every other global a pickle names must be in ``ALLOWED``: tensor and parameter rebuilding (storages
are read by ``torch.load(weights_only=True)``), ``OrderedDict``/``set``, ``dnnlib.util.EasyDict``
(read as a plain dict), and numpy number scalars and arrays (stylegan3 keeps layer sizes and
sampling rates as numpy values): ``numpy.dtype``, ``multiarray.scalar``, ``multiarray._reconstruct``
and ``ndarray``, each answered by our own function or class that accepts number dtypes and raw bytes
of the right length only (``NumpyDtype``, ``NumpyArray``). Anything else is refused with one line
naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy
import torch

from gan_lightning.common.errors import UserError

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
_BYTE_ORDERS = ("<", ">", "=", "|")


class NumpyDtype:
    """``numpy.dtype(name)`` as a pickle rebuilds it, for number types only. The pickle's state for
    it goes to ``__setstate__`` below, which accepts only a byte order (numpy's own would also take
    fields, sub-arrays and flags from the file)."""

    __slots__ = ("dtype",)

    def __init__(self, name: Any, align: Any = False, copy: Any = True) -> None:
        dtype = numpy.dtype(name) if isinstance(name, str) else None
        if dtype is None or dtype.kind not in _NUMPY_NUMBER_KINDS:
            raise RefusedGlobal(f"numpy dtype {name!r} is not a number type; refused")
        self.dtype = dtype

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in _BYTE_ORDERS
                and state[2:5] == (None, None, None) and state[5:] == (-1, -1, 0)):  # fmt: skip
            raise RefusedGlobal(f"numpy dtype state {state!r} is not a plain number type's; refused")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def _dtype_of(value: Any, what: str) -> Any:
    if not isinstance(value, NumpyDtype):
        raise RefusedGlobal(f"{what} has dtype {value!r}, not a number type; refused")
    return value.dtype


def _numpy_scalar(dtype: Any, data: Any = b"") -> int | float | bool:
    dtype = _dtype_of(dtype, "numpy scalar")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise RefusedGlobal(f"numpy scalar of dtype {dtype} has {len(data) if isinstance(data, bytes) else type(data).__name__} bytes of data; refused")
    return numpy.frombuffer(data, dtype=dtype)[0].item()


class _Name:
    """A global that is only ever an argument (``numpy.ndarray`` for ``_reconstruct``): not callable,
    no attributes to set."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"{self.name} is read-only")


NDARRAY = _Name("numpy.ndarray")


class NumpyArray(numpy.ndarray):
    """A numpy array read from a pickle: ``numpy.core.multiarray._reconstruct`` makes an empty one and
    ``__setstate__`` fills it from the pickle's raw bytes, after checking that the dtype is a number
    type (``NumpyDtype``) and that the bytes are exactly shape x item size. Use it as any ndarray."""

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
            raise RefusedGlobal("numpy array state is not (1, shape, dtype, fortran, bytes); refused")
        _, shape, dtype, is_fortran, data = state
        dtype = _dtype_of(dtype, "numpy array")
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise RefusedGlobal(f"numpy array shape {shape!r} is not a tuple of sizes; refused")
        if not isinstance(is_fortran, bool) or not isinstance(data, bytes) or len(data) != int(numpy.prod(shape)) * dtype.itemsize:
            raise RefusedGlobal(f"numpy array of shape {shape} and dtype {dtype} does not hold exactly its bytes; refused")
        super().__setstate__((1, shape, dtype, is_fortran, data))


def _numpy_reconstruct(subtype: Any, shape: Any, code: Any) -> NumpyArray:
    if subtype is not NDARRAY or shape != (0,) or code != b"b":
        raise RefusedGlobal(f"numpy _reconstruct of {subtype!r} is not a plain ndarray; refused")
    return NumpyArray((0,), dtype=numpy.uint8)


def _torch_size(*args: Any) -> torch.Size:
    return torch.Size(*args)


ALLOWED: dict[tuple[str, str], Callable[..., Any] | type | _Name] = {
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
    ("numpy", "dtype"): NumpyDtype,
    ("numpy", "ndarray"): NDARRAY,
    # numpy 2 pickles name numpy._core, numpy 1 numpy.core
    **{(f"numpy.{core}.multiarray", "scalar"): _numpy_scalar for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _numpy_reconstruct for core in ("core", "_core")},
}


_BUILT_IN_TYPES = (collections.OrderedDict, set, frozenset, dict)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from ``ALLOWED``."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            allowed = ALLOWED[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"the pickle needs {module}.{name}, which could run code; refused") from None
        if isinstance(allowed, _Name) or allowed in _BUILT_IN_TYPES:
            return allowed  # their attributes cannot be set
        # A fresh function per lookup: a BUILD opcode aimed at it can only change this copy.
        return lambda *args, **kwargs: allowed(*args, **kwargs)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"persistent id {pid!r} is not supported")


def safe_load(file: BinaryIO) -> Any:
    """The object pickled in ``file``, rebuilt without running code from it (see the module note)."""
    return RestrictedUnpickler(file).load()


# What a damaged or foreign file raises while being unpickled: read as "not this format", in one line.
UNREADABLE = (pickle.UnpicklingError, EOFError, ValueError, RuntimeError, OSError, TypeError, KeyError, AttributeError, IndexError)


def read_pickle_file(path: Path, load: Callable[[BinaryIO], Any], what: str) -> Any:
    """``load`` (a restricted unpickler) of the file at ``path``; a missing file, a refused global or
    an unreadable file is one ``UserError`` line naming the file and ``what`` it should be."""
    if not path.is_file():
        raise UserError(f"pickle {str(path)!r} does not exist or is not a file")
    try:
        with path.open("rb") as file:
            return load(file)
    except RefusedGlobal as err:
        raise UserError(f"{str(path)!r}: {err}") from None
    except UNREADABLE as err:
        text = str(err).strip().splitlines()
        raise UserError(f"cannot read {str(path)!r} as {what}: {text[0] if text else type(err).__name__}") from None


def plain_data(value: Any) -> Any:
    """``value`` as plain data that ``torch.load(weights_only=True)`` reads (dicts, lists, numbers,
    text, None), anything else as its text: a snapshot's settings kept in our checkpoint."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)
