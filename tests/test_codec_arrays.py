"""The codec's format 2 from Python: NumPy arrays and scalars, other buffers, int keys,
the opt-in pickle fallback, zero-copy views, and blobs that lie about their arrays."""

from __future__ import annotations

import array
import dataclasses
import datetime
import pickle
import struct
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ipc_benchmark as ib
from ipc_benchmark import _core
from ipc_benchmark.utils import deserialize, serialize

from .conftest import run_python

GOLDEN_V2 = Path(__file__).parents[1] / "crates/ipc-core/tests/data/golden_v2.hex"

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128"]
#: Codes the format gives the dtypes above, in order (docs/format.md).
CODES = {name: i + 1 for i, name in enumerate(DTYPES)}
ARRAY_TAG, SCALAR_TAG = 0x10, 0x11


def little_c(a: np.ndarray[Any, Any]) -> bytes:
    """The bytes a blob must hold for `a`: C order, little-endian, bit for bit."""
    c = np.ascontiguousarray(a)
    if c.dtype.byteorder == ">":
        c = c.byteswap().view(c.dtype.newbyteorder("<"))
    return c.tobytes()


def check_same_array(out: object, a: np.ndarray[Any, Any]) -> None:
    assert type(out) is np.ndarray
    assert out.dtype == a.dtype.newbyteorder("=") and out.dtype.isnative
    assert out.shape == a.shape
    assert out.flags.c_contiguous and not out.flags.writeable
    assert out.tobytes() == little_c(a)


@st.composite
def any_array(draw: st.DrawFn) -> np.ndarray[Any, Any]:
    """Every dtype, 0 to 4 dimensions (empty ones too), C or Fortran order or a strided
    slice, native or big-endian."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.itemsize > 1 and draw(st.booleans()):
        dtype = dtype.newbyteorder(">")
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    a = draw(hnp.arrays(dtype, shape))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        steps = draw(st.lists(st.sampled_from([-2, -1, 1, 2]), min_size=a.ndim, max_size=a.ndim))
        a = a[tuple(slice(None, None, s) for s in steps)]
    return a


@settings(max_examples=300, deadline=None)
@given(any_array())
def test_arrays_round_trip_bit_for_bit(a: np.ndarray[Any, Any]) -> None:
    blob = serialize({"a": a, "nested": [{"x": a}]})
    out = deserialize(blob)
    check_same_array(out["a"], a)
    check_same_array(out["nested"][0]["x"], a)
    check_same_array(_core.decode_key(blob, "a"), a)
    # Decoded copies own their memory: nothing points into the blob.
    assert out["a"].base is None


@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (0, 0), (1,) * 8])
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_d_and_empty_arrays(shape: tuple[int, ...], dtype: str) -> None:
    a = np.ones(shape, dtype)
    check_same_array(deserialize(serialize(a)), a)


def test_array_data_is_aligned_to_64_bytes_in_the_blob() -> None:
    a = np.arange(5, dtype=np.float64)
    for prefix in ["", "x", "a longer key to move the data along"]:
        blob = serialize({prefix: "pad", "w": a})
        at = blob.index(bytes([ARRAY_TAG, CODES["float64"], 1, 5]))
        data = blob.index(a.tobytes(), at)
        assert data % 64 == 0


# ---------------------------------------------------------------------------------------
# NumPy scalars


NAN32_PAYLOAD = np.frombuffer(b"\x01\x00\xc0\x7f", np.float32)[0]
NAN64_NEGATIVE = np.frombuffer(struct.pack("<Q", 0xFFF8_0000_0000_0001), np.float64)[0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_scalars_keep_type_and_bits(dtype: str) -> None:
    t = np.dtype(dtype).type
    # -1 cast (wrapping) to the dtype: the top value of unsigned ones, all bits set.
    for v in [t(0), t(1), np.array([-1]).astype(dtype)[0]]:
        out = deserialize(serialize({"v": v}))["v"]
        assert type(out) is type(v)
        assert out.tobytes() == v.tobytes()


def test_special_float_scalars_keep_their_bits() -> None:
    for v in [NAN32_PAYLOAD, NAN64_NEGATIVE, np.float16("nan"), np.float64(-0.0),
              np.complex64(complex(float("nan"), -0.0)), np.float32("inf")]:
        out = deserialize(serialize([v]))[0]
        assert type(out) is type(v) and out.tobytes() == v.tobytes()


def test_float64_scalar_is_not_written_as_a_float() -> None:
    # numpy.float64 subclasses float; it keeps its type all the same.
    assert isinstance(np.float64(1.5), float)
    out = deserialize(serialize({"x": np.float64(1.5), "y": np.int64(3), "z": np.bool_(True)}))
    assert [type(v) for v in out.values()] == [np.float64, np.int64, np.bool_]


def test_other_numpy_scalars_and_subclasses() -> None:
    # numpy.str_ and numpy.bytes_ subclass str and bytes: written as those.
    out = deserialize(serialize([np.str_("é"), np.bytes_(b"x"), np.longlong(-7), np.intc(5)]))
    assert out == ["é", b"x", -7, 5]
    assert type(out[0]) is str and type(out[1]) is bytes
    # A dtype's other scalar type (longlong vs int64 on Linux) comes back as the
    # dtype's canonical one.
    assert out[2].dtype == np.int64 and out[3].dtype == np.int32


# ---------------------------------------------------------------------------------------
# Other buffers and __array_interface__


class HasInterface:
    """Not an ndarray, but exposes one through __array_interface__."""

    def __init__(self, a: np.ndarray[Any, Any]) -> None:
        self._a = a
        self.__array_interface__ = a.__array_interface__


def test_byte_buffers_are_written_as_bytes() -> None:
    raw = bytes(range(10))
    values = [bytearray(raw), memoryview(raw), memoryview(bytearray(raw)),
              memoryview(raw)[::3], memoryview(raw).cast("c"), bytearray()]
    out = deserialize(serialize(values))
    assert out == [raw, raw, raw, raw[::3], raw, b""]
    assert all(type(v) is bytes for v in out)


def test_numeric_buffers_are_written_as_arrays() -> None:
    f = array.array("f", [1.5, -2.0, 0.25])
    d = memoryview(struct.pack("<3d", 1.0, 2.0, 3.0)).cast("d")
    cases = [
        (f, np.array(f, np.float32)),
        (d, np.array([1.0, 2.0, 3.0])),
        (array.array("q", [1, -(2**63)]), np.array([1, -(2**63)], np.int64)),
        (array.array("b", [-1, 2]), np.array([-1, 2], np.int8)),
        (array.array("H", [65535]), np.array([65535], np.uint16)),
        (memoryview(bytes(range(6))).cast("B", (2, 3)), np.arange(6, dtype=np.uint8).reshape(2, 3)),
        (memoryview(np.arange(12, dtype=">i4").reshape(3, 4))[::2], np.arange(12, dtype=">i4").reshape(3, 4)[::2]),
        (HasInterface(np.arange(6, dtype=np.float32).reshape(3, 2).T),
         np.arange(6, dtype=np.float32).reshape(3, 2).T),
    ]
    for value, expected in cases:
        check_same_array(deserialize(serialize({"k": value}))["k"], expected)


# ---------------------------------------------------------------------------------------
# Unsupported dtypes and types


UNSUPPORTED = [
    np.array([object(), 1], dtype=object),
    np.zeros(2, dtype="f4,i4"),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
    np.array([1], dtype="timedelta64[s]"),
    np.array(["ab"], dtype="U2"),
    np.array([b"ab"], dtype="S2"),
    np.zeros(2, dtype="V3"),
    np.zeros(2, dtype=np.longdouble),
    np.zeros(2, dtype=np.clongdouble),
]


@pytest.mark.parametrize("a", UNSUPPORTED, ids=lambda a: str(a.dtype))
def test_unsupported_dtypes_name_path_dtype_and_option(a: np.ndarray[Any, Any]) -> None:
    with pytest.raises(TypeError) as info:
        serialize({"state": {7: [0, a]}})
    message = str(info.value)
    assert message.startswith("data['state'][7][1]: unsupported type ndarray of dtype ")
    assert str(a.dtype) in message and "pickle_fallback=True" in message
    # Opted in, they travel as pickles.
    out = deserialize(serialize({"a": a}, pickle_fallback=True), pickle_fallback=True)["a"]
    assert out.dtype == a.dtype and out.shape == a.shape


def test_unsupported_numpy_scalars_and_buffer_formats() -> None:
    with pytest.raises(TypeError, match=r"^data\['t'\]: unsupported type numpy.datetime64 "):
        serialize({"t": np.datetime64("2020-01-01")})
    # A buffer of records: no single dtype.
    records = memoryview(np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]))
    with pytest.raises(TypeError, match=r"^data\[0\]: unsupported type memoryview \(a buffer of format"):
        serialize([records])


# ---------------------------------------------------------------------------------------
# Int keys


int64s = st.integers(-(2**63), 2**63 - 1)
keys = st.one_of(st.text(max_size=6), int64s)
leaves = st.none() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
nested = st.recursive(leaves, lambda inner: st.dictionaries(keys, inner, max_size=5)
                      | st.lists(inner, max_size=4), max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, nested, max_size=10))
def test_int_and_mixed_keys_round_trip(d: dict[object, object]) -> None:
    blob = serialize(d)
    out = deserialize(blob)
    assert out == d
    assert [type(k) for k in out] == [type(k) for k in d]
    assert _core.blob_keys(blob) == list(d)
    for k, v in d.items():
        assert _core.decode_key(blob, k) == v


def test_int_keys_are_distinct_from_str_keys() -> None:
    d = {1: "int", "1": "str", -5: {2: [3], "2": 4}, 2**63 - 1: "max", -(2**63): "min"}
    blob = serialize(d)
    assert deserialize(blob) == d
    assert _core.decode_key(blob, 1) == "int" and _core.decode_key(blob, "1") == "str"
    assert _core.decode_key(blob, 2**63, "absent") == "absent"
    assert _core.decode_key(blob, True, "absent") == "absent"
    assert _core.decode_key(blob, 1.0, "absent") == "absent"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ({"a": {True: 1}}, "data['a']: dict key of type bool is not supported"),
        ({"a": {2**63: 1}}, "data['a']: dict key of type int outside the 64-bit range"),
        ({1.5: 1}, "data: dict key of type float"),
        ({3: {(1,): 1}}, "data[3]: dict key of type tuple"),
    ],
)
def test_bad_keys_name_the_path(d: dict[object, object], message: str) -> None:
    with pytest.raises(TypeError) as info:
        serialize(d)
    assert str(info.value).startswith(message)


# ---------------------------------------------------------------------------------------
# Pickle fallback


@dataclasses.dataclass
class Point:
    x: int
    y: float


def test_pickle_fallback_is_off_by_default_on_both_sides() -> None:
    state = {"run": {"tags": [1, {"seen": {"a", "b"}}]}}
    with pytest.raises(TypeError) as info:
        serialize(state)
    assert str(info.value).startswith("data['run']['tags'][1]['seen']: unsupported type set")
    assert "pickle_fallback=True" in str(info.value)

    blob = serialize(state, pickle_fallback=True)
    with pytest.raises(ib.PickleFallbackError) as refused:
        deserialize(blob)
    assert str(refused.value).startswith("data['run']['tags'][1]['seen']: ")
    assert "pickle_fallback=True" in str(refused.value)
    assert isinstance(refused.value, ib.UsageError) and isinstance(refused.value, ib.IPCError)
    with pytest.raises(ib.PickleFallbackError, match=r"^data\['run'\]\['tags'\]\[1\]\['seen'\]"):
        _core.decode_key(blob, "run")
    assert deserialize(blob, pickle_fallback=True) == state


def test_pickle_fallback_round_trips_other_types() -> None:
    state = {
        "when": datetime.datetime(2024, 5, 1, 12, 30),
        "point": Point(1, 2.5),
        "frozen": frozenset({1, 2}),
        "complex": 1 + 2j,
        4: {"set": {3}},
        "plain": [1, "two"],
    }
    blob = serialize(state, pickle_fallback=True)
    assert deserialize(blob, pickle_fallback=True) == state
    assert _core.decode_key(blob, 4, pickle_fallback=True) == {"set": {3}}
    # Plain values are never pickled: a reader without the option reads them.
    assert _core.decode_key(blob, "plain") == [1, "two"]
    with pytest.raises(ib.PickleFallbackError, match=r"^data\[4\]\['set'\]: "):
        _core.decode_key(blob, 4)


def test_unpicklable_values_say_so() -> None:
    with pytest.raises(TypeError, match=r"^data\['f'\]: unsupported type function, and pickling it failed"):
        serialize({"f": lambda: 0}, pickle_fallback=True)


def test_containers_changed_by_pickling_are_refused() -> None:
    # Python code (here __reduce__) runs in the middle of the walk: whatever it does to
    # the containers being walked must give an error, never a crash or a bad blob. In a
    # child process, so that a crash fails this test rather than killing pytest.
    code = textwrap.dedent("""
        from ipc_benchmark import serialize

        class Clear:
            def __init__(self, victim):
                self.victim = victim
            def __reduce__(self):
                self.victim.clear()
                return (int, ())

        items = [1, None, 3]
        items[1] = Clear(items)
        inner = {"x": 1, "m": None, "y": 2}
        inner["m"] = Clear(inner)
        root = {"r": 1, "m": None, "z": 2}
        root["m"] = Clear(root)
        for data in ({"a": items}, {"a": inner}, root):
            try:
                serialize(data, pickle_fallback=True)
            except RuntimeError as e:
                assert "changed size during serialization" in str(e), e
            else:
                raise AssertionError(f"no error for {data}")
        print("ok")
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_pickle_error_class_is_exported() -> None:
    assert issubclass(ib.PickleFallbackError, ib.UsageError)
    assert issubclass(ib.PickleFallbackError, RuntimeError)
    assert ib.PickleFallbackError.__module__ == "ipc_benchmark"


# ---------------------------------------------------------------------------------------
# Views (the zero-copy path the stores take, through the test hook)


def address(a: np.ndarray[Any, Any]) -> int:
    return int(a.__array_interface__["data"][0])


def test_views_point_into_the_blob_and_keep_it_alive() -> None:
    weights = np.arange(1000, dtype=np.float32).reshape(10, 100)
    blob = serialize({"w": weights, "step": np.int64(3), "c": np.ones(3, np.complex128)})
    start = address(np.frombuffer(blob, np.uint8))
    first = _core._deserialize_view(blob)
    second = _core._deserialize_view(blob)
    w = first["w"]
    assert first["step"] == 3 and type(first["step"]) is np.int64
    assert start <= address(w) and address(w) + w.nbytes <= start + len(blob)
    assert np.shares_memory(w, second["w"])
    assert w.base is blob
    assert not w.flags.writeable
    with pytest.raises(ValueError):
        w[0, 0] = 1
    with pytest.raises(ValueError):
        w.setflags(write=True)
    np.testing.assert_array_equal(w, weights)
    del blob, second
    np.testing.assert_array_equal(w, weights)  # still alive: the array holds the bytes


def test_misaligned_views_are_copied() -> None:
    a = np.arange(8, dtype=np.float64)
    blob = serialize({"a": a})
    shifted = b"\x00" + blob
    out = _core._deserialize_view(shifted, 1)["a"]
    assert address(out) % 8 == 0 and out.base is None
    np.testing.assert_array_equal(out, a)
    assert not out.flags.writeable


# ---------------------------------------------------------------------------------------
# Blobs that lie


def array_blob() -> tuple[bytearray, int]:
    blob = bytearray(serialize({"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": 1}))
    return blob, blob.index(bytes([ARRAY_TAG, CODES["float32"], 2, 2, 3]))


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        (1, 0, "dtype"),                # no such dtype
        (1, 15, "dtype"),
        (1, CODES["float64"], ""),     # a wider dtype: the data would run past the value
        (1, CODES["complex128"], ""),
        (2, 3, ""),                     # more dimensions than written
        (2, 65, "dimensions"),
        (3, 100, ""),                   # a larger shape
        (4, 0x80, ""),                  # a shape varint that never ends in place
        (5, 0, ""),                     # pad count: data no longer on a multiple of 64
        (6, 1, "pad"),                  # pad bytes not zero
    ],
)
def test_blobs_lying_about_arrays_raise_corrupt_data_error(offset: int, value: int, why: str) -> None:
    blob, at = array_blob()
    blob[at + offset] = value
    for decode in (deserialize, lambda b: _core.decode_key(b, "a")):
        with pytest.raises(ib.CorruptDataError, match=why or None):
            decode(bytes(blob))


def test_blobs_lying_about_scalars_and_pickles_raise_corrupt_data_error() -> None:
    blob = bytearray(serialize({"s": np.float64(1.0)}))
    at = blob.index(bytes([SCALAR_TAG, CODES["float64"]]))
    for code in (0, 15, CODES["complex128"]):
        bad = bytearray(blob)
        bad[at + 1] = code
        with pytest.raises(ib.CorruptDataError):
            deserialize(bytes(bad))
    pickled = serialize({"p": {1}}, pickle_fallback=True)
    with pytest.raises(ib.CorruptDataError):
        deserialize(pickled[:-8], pickle_fallback=True)


def test_truncated_array_blobs() -> None:
    blob, at = array_blob()
    for cut in range(at, len(blob)):
        with pytest.raises(ib.CorruptDataError):
            deserialize(bytes(blob[:cut]))


# ---------------------------------------------------------------------------------------
# The golden blob of format 2 (written by the Rust encoder)


def golden_sample() -> dict[object, object]:
    return {
        "none": None,
        "flags": [True, False],
        "ints": [0, -128, 300, -70000, 1 << 40, -(2**63)],
        "big": 2**70,
        "floats": [1.5, -0.0, float("inf"), float("-inf")],
        "text": ["", "ascii", "é", "日本"],
        "bytes": b"\x00\xff\n",
        "tuple": ("t", ()),
        "nested": {"x": {"x": 2, "é": "y"}, "empty": {}},
        "arrays": [np.array([[1.5, -2.0, 0.25], [3.0, -0.0, 8.0]], np.float32),
                   np.array(0x1234, np.int16), np.zeros((0, 4), np.uint8)],
        "scalars": [np.float32(0.5), np.int64(-3), np.bool_(True)],
        "pickle": set(),  # stored as pickle.dumps(set(), 5)
        7: "int root key",
        -300: None,
        "int keys": {1: "one", "1": "str one", -(2**63): 0},
    }


def test_golden_v2_decodes_to_the_python_sample() -> None:
    golden = bytes.fromhex(GOLDEN_V2.read_text())
    expected = golden_sample()
    out = deserialize(golden, pickle_fallback=True)
    assert list(out) == list(expected)
    for k, v in expected.items():
        if k == "arrays":
            for got, want in zip(out[k], v):  # type: ignore[call-overload]
                check_same_array(got, want)
        elif k == "scalars":
            assert [(type(x), x.tobytes()) for x in out[k]] == [(type(x), x.tobytes()) for x in v]  # type: ignore[attr-defined]
        else:
            assert out[k] == v and type(out[k]) is type(v)
    with pytest.raises(ib.PickleFallbackError, match=r"^data\['pickle'\]"):
        deserialize(golden)


def test_python_writes_what_rust_writes() -> None:
    # Byte for byte: arrays (their dtype codes, shapes, padding), NumPy scalars, int keys
    # at the root and nested, and the pickle of a set.
    golden = bytes.fromhex(GOLDEN_V2.read_text())
    assert serialize(golden_sample(), pickle_fallback=True).hex() == golden.hex()


# ---------------------------------------------------------------------------------------
# Without NumPy


BLOCK_NUMPY = textwrap.dedent("""
    import sys

    class NoNumpy:
        def find_spec(self, name, path=None, target=None):
            if name == "numpy" or name.startswith("numpy."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoNumpy())
""")


def test_works_without_numpy() -> None:
    with_arrays = serialize({"w": {3: np.zeros(2, np.float32)}, "s": np.int64(1)}).hex()
    code = BLOCK_NUMPY + textwrap.dedent(f"""
        import array
        import ipc_benchmark
        from ipc_benchmark import deserialize, serialize
        from ipc_benchmark import _core

        state = {{"step": 7, 3: {{"loss": 0.25}}, "raw": bytearray(b"ab"), "t": (1, None)}}
        assert deserialize(serialize(state)) == {{"step": 7, 3: {{"loss": 0.25}}, "raw": b"ab", "t": (1, None)}}
        # Writing a buffer needs no NumPy; reading it as an array does.
        blob = serialize({{"f": array.array("f", [1.0])}})
        for read in (deserialize, lambda b: _core.decode_key(b, "f")):
            try:
                read(blob)
            except ModuleNotFoundError as e:
                assert str(e).startswith("data['f']: reading a float32 array of shape [1]"), e
                assert "pip install numpy" in str(e), e
            else:
                raise AssertionError("read an array without NumPy")
        try:
            deserialize(bytes.fromhex("{with_arrays}"))
        except ModuleNotFoundError as e:
            assert str(e).startswith("data['w'][3]: "), e
        class Fake:
            __array_interface__ = {{"shape": (1,), "typestr": "<f4", "version": 3}}
        try:
            serialize({{"x": Fake()}})
        except TypeError as e:
            assert str(e).startswith("data['x']: "), e
            assert "NumPy" in str(e), e
        assert "numpy" not in sys.modules
        print("ok")
    """)
    result = run_python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_pickles_stay_opaque_to_the_reader() -> None:
    blob = serialize({"p": {1, 2}}, pickle_fallback=True)
    raw = pickle.dumps({1, 2}, protocol=5)
    assert raw in blob  # in-band, as pickle.dumps writes it
