"""The restricted unpickler rebuilds the numpy values NVlabs' stylegan3 pickles hold (layer sizes as
arrays, sampling rates as float64 scalars) from raw bytes of number dtypes, and refuses every other
numpy content with one line."""

from __future__ import annotations

import io
import pickle

import numpy
import pytest

from gan_lightning.checkpoints.formats.safe_pickle import RefusedGlobal, safe_load


def reread(value):
    return safe_load(io.BytesIO(pickle.dumps(value, protocol=4)))


def test_number_arrays_and_scalars_come_back_equal() -> None:
    values = {
        "size": numpy.broadcast_to(numpy.asarray(36), [2]),
        "big_endian": numpy.arange(6, dtype=">f4").reshape(2, 3),
        "fortran": numpy.asfortranarray(numpy.arange(6, dtype=numpy.int16).reshape(2, 3)),
        "flags": numpy.array([True, False]),
        "empty": numpy.zeros((0, 3), dtype=numpy.uint8),
    }
    back = reread({**values, "rate": numpy.float64(16.5), "count": numpy.int64(3)})
    for name, value in values.items():
        # numpy's own reader also gives the native byte order, with the same values
        assert isinstance(back[name], numpy.ndarray) and back[name].dtype == value.dtype.newbyteorder("="), name
        assert numpy.array_equal(back[name], value), name
    assert back["rate"] == 16.5 and back["count"] == 3


@pytest.mark.parametrize(
    "value",
    [numpy.array(["text"]), numpy.array([1, "a"], dtype=object), numpy.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]), numpy.str_("x")],
    ids=["unicode", "object", "structured", "str scalar"],
)
def test_non_number_numpy_content_is_refused(value) -> None:
    with pytest.raises(RefusedGlobal, match="refused"):
        reread(value)


class Crafted:
    """Pickles as numpy's _reconstruct + BUILD with a state of our choosing."""

    def __init__(self, subtype, state) -> None:
        self.subtype, self.state = subtype, state

    def __reduce__(self):
        return (numpy._core.multiarray._reconstruct, (self.subtype, (0,), b"b"), self.state)


float32 = numpy.dtype("float32")


@pytest.mark.parametrize(
    ("subtype", "state", "message"),
    [
        (numpy.ndarray, (1, (1000,), float32, False, b"\0" * 4), "does not hold exactly its bytes"),
        (numpy.ndarray, (1, (-1,), float32, False, b""), "not a tuple of sizes"),
        (numpy.ndarray, (1, (1,), float32, False, [1.0]), "does not hold exactly its bytes"),
        (numpy.ndarray, (2, (1,), float32, False, b"\0" * 4), r"not \(1, shape"),
        (numpy.ma.MaskedArray, (1, (1,), float32, False, b"\0" * 4), r"numpy\.ma\.(core\.)?MaskedArray"),
        (numpy.matrix, (1, (1, 1), float32, False, b"\0" * 4), "numpy.matrix"),
    ],
    ids=["short bytes", "negative size", "object data", "version", "masked array", "matrix"],
)
def test_crafted_array_states_are_refused(subtype, state, message) -> None:
    with pytest.raises(RefusedGlobal, match=message):
        reread(Crafted(subtype, state))


class CraftedDtype:
    def __init__(self, state) -> None:
        self.state = state

    def __reduce__(self):
        return (numpy.dtype, ("f4", False, True), self.state)


def test_a_dtype_state_with_fields_is_refused() -> None:
    with pytest.raises(RefusedGlobal, match="not a plain number type"):
        reread(CraftedDtype((3, "|", None, ("a",), {"a": (numpy.dtype("f4"), 0)}, 4, 1, 16)))
    assert reread(CraftedDtype((3, ">", None, None, None, -1, -1, 0))).dtype == numpy.dtype(">f4")
