"""The codec from Python: round trips, the pinned format, errors and hostile input."""

from __future__ import annotations

import gc
import math
import pickle
from collections import OrderedDict, namedtuple
from enum import IntEnum
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ipc_benchmark as ib
from ipc_benchmark import _core
from ipc_benchmark.utils import deserialize, generate_test_dict, serialize

from .conftest import run_python

GOLDEN_V1 = Path(__file__).parents[1] / "crates/ipc-core/tests/data/golden_v1.hex"

# Every supported type, nested; floats compared through repr so NaN counts as equal.
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text()
    | st.binary()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=40,
)


def same(a: object, b: object) -> bool:
    """Equality that also checks types (a tuple stays a tuple) and float bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.isnan(a) and math.isnan(b) or a == b and math.copysign(1, a) == math.copysign(1, b)  # type: ignore[arg-type]
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)  # type: ignore[call-overload,index]
    return a == b


@settings(max_examples=400, deadline=None)
@given(values)
def test_round_trip_any_value(v: object) -> None:
    assert same(deserialize(serialize(v)), v)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), values, max_size=12))
def test_root_dict_lookup_matches_full_decode(d: dict[str, object]) -> None:
    blob = serialize(d)
    assert _core.blob_keys(blob) == list(d)
    for k, v in d.items():
        assert same(_core.decode_key(blob, k), v)
    assert _core.decode_key(blob, "\x00absent", default=...) is ...


def test_root_keys_of_the_last_blob_are_reused_only_when_equal() -> None:
    first = serialize({"step": 1, "loss": 0.5, "état": 1})
    a, b = deserialize(first), deserialize(first)
    # The same str objects, already hashed: what makes repeated reads cheap.
    assert all(x is y for x, y in zip(list(a)[:2], list(b)[:2]))
    # Same positions, other text, other lengths, fewer keys: never a stale key.
    assert deserialize(serialize({"stop": 1, "loss": 0.5, "état": 1})) == {"stop": 1, "loss": 0.5, "état": 1}
    assert deserialize(serialize({"ste": 1, "lossy": 0.5})) == {"ste": 1, "lossy": 0.5}
    assert deserialize(serialize({"x": 1})) == {"x": 1}
    assert deserialize(first) == {"step": 1, "loss": 0.5, "état": 1}
    # Keys after one that is not kept (not ASCII) are still kept.
    mixed = serialize({"été": 1, "lr": 0.1})
    assert list(deserialize(mixed))[1] is list(deserialize(mixed))[1]


def test_blobs_of_format_1_are_refused() -> None:
    # test_codec_arrays.py pins format 2's bytes against the Rust encoder's golden blob.
    with pytest.raises(ib.CorruptDataError, match="unsupported format version 1"):
        deserialize(bytes.fromhex(GOLDEN_V1.read_text()))


def test_special_floats_keep_their_bits() -> None:
    nan = float.fromhex("nan")
    out = deserialize(serialize([nan, -0.0, math.inf, -math.inf, 5e-324]))
    assert math.isnan(out[0])
    assert math.copysign(1, out[1]) == -1
    assert out[2:] == [math.inf, -math.inf, 5e-324]


def test_big_ints_round_trip() -> None:
    for n in [2**63, -(2**63) - 1, 2**64, -(2**64), 10**100, -(10**100), 2**63 - 1, -(2**63)]:
        assert deserialize(serialize({"n": n}))["n"] == n


@pytest.mark.parametrize("size", [0, 1, 7, 100, 1000])
@pytest.mark.parametrize("seed", [0, 1, 12345, 2**64 - 1])
def test_python_and_rust_generators_agree_byte_for_byte(size: int, seed: int) -> None:
    assert serialize(generate_test_dict(size, seed)) == _core.generate_payload_blob(size, seed)


def test_seed_zero_is_the_original_payload() -> None:
    d = generate_test_dict(3)
    assert d["key_2"] == {"value": 2, "squared": 4, "text": "test_value_2", "float": 2 / 3}
    # About 58 pickled bytes per entry, as the original benchmark states.
    assert 50 < len(pickle.dumps(generate_test_dict(10000), 5)) / 10000 < 65


def test_any_buffer_decodes() -> None:
    blob = serialize({"a": [1, 2]})
    for buf in (blob, bytearray(blob), memoryview(blob), memoryview(bytearray(blob))):
        assert deserialize(buf) == {"a": [1, 2]}
    with pytest.raises(TypeError):
        deserialize("not a buffer")  # type: ignore[arg-type]


def test_subclasses_are_written_as_their_base_type() -> None:
    Point = namedtuple("Point", "x y")

    class Level(IntEnum):
        HIGH = 3

    class Name(str):
        pass

    data = {"od": OrderedDict(a=1), "pt": Point(1, 2), "lvl": Level.HIGH, Name("k"): Name("v")}
    out = deserialize(serialize(data))
    assert out == {"od": {"a": 1}, "pt": (1, 2), "lvl": 3, "k": "v"}
    assert type(out["od"]) is dict and type(out["pt"]) is tuple and type(out["lvl"]) is int


@pytest.mark.parametrize(
    ("data", "exc", "message"),
    [
        ({"key_7": {"tags": [1, 2, {3}]}}, TypeError, "data['key_7']['tags'][2]: unsupported type set"),
        ({"a": {(1,): "x"}}, TypeError, "data['a']: dict key of type tuple is not supported"),
        ({"a": [range(3)]}, TypeError, "data['a'][0]: unsupported type range"),
        ({"a": ("ok", "\udc80")}, ValueError, "data['a'][1]: str cannot be encoded as UTF-8"),
        ({"\udc80": 1}, ValueError, "str cannot be encoded as UTF-8"),
        ({"a": object()}, TypeError, "data['a']: unsupported type object"),
    ],
)
def test_bad_values_name_the_path(data: object, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        serialize(data)
    assert message in str(info.value)


def test_root_key_that_is_not_str() -> None:
    with pytest.raises(TypeError, match=r"^data: dict key of type tuple"):
        serialize({(1, 2): "x"})


def test_cycles_are_reported_with_both_places() -> None:
    d: dict[str, object] = {"a": {}}
    d["a"]["b"] = [d]  # type: ignore[index]
    with pytest.raises(ValueError, match=r"data\['a'\]\['b'\]\[0\]: cycle: this container is data itself"):
        serialize(d)
    lst: list[object] = []
    lst.append(lst)
    with pytest.raises(ValueError, match="cycle"):
        serialize(lst)


def test_shared_references_are_not_cycles() -> None:
    shared = {"w": [1.0]}
    assert deserialize(serialize({"a": shared, "b": shared, "c": [shared, shared]}))["c"][1] == shared


def nest(levels: int) -> object:
    v: object = 0
    for _ in range(levels):
        v = [v]
    return v


def test_depth_limit() -> None:
    assert deserialize(serialize(nest(_core.MAX_DEPTH))) == nest(_core.MAX_DEPTH)
    with pytest.raises(ValueError, match=f"nesting deeper than {_core.MAX_DEPTH} levels"):
        serialize(nest(_core.MAX_DEPTH + 1))


def test_corrupt_bytes_raise_corrupt_data_error() -> None:
    blob = serialize(generate_test_dict(20))
    with pytest.raises(ib.CorruptDataError, match="truncated"):
        deserialize(blob[:-3])
    with pytest.raises(ib.CorruptDataError, match="magic"):
        deserialize(b"XXXX" + blob[4:])
    with pytest.raises(ib.CorruptDataError, match="shorter than"):
        deserialize(b"")
    assert issubclass(ib.CorruptDataError, ib.IPCError)


def test_gc_state_is_restored() -> None:
    blob = serialize(generate_test_dict(100))
    assert gc.isenabled()
    deserialize(blob)
    assert gc.isenabled()
    gc.disable()
    try:
        deserialize(blob)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ib.CorruptDataError):
        deserialize(blob[:-1])
    assert gc.isenabled()


def test_random_and_mutated_bytes_never_crash() -> None:
    # In a child process: a segfault or abort there fails this test instead of killing
    # pytest. Every outcome must be a value or CorruptDataError.
    code = """
import random
from ipc_benchmark import CorruptDataError, PickleFallbackError, _core
from ipc_benchmark.utils import serialize, deserialize, generate_test_dict
rng = random.Random(1)
import numpy as np
blobs = [serialize(generate_test_dict(30)), serialize({"a": [1, "é", b"x", (2.5, None)], "b": {"c": {}}}),
         serialize({"w": np.arange(6, dtype=np.float32).reshape(2, 3), 3: {-1: np.int64(2)},
                    "s": [np.float16(1), np.complex64(1j)], "p": {1}}, pickle_fallback=True)]
count = 0
def attempt(buf):
    global count
    count += 1
    for f in (deserialize, _core.blob_keys, lambda b: _core.decode_key(b, "key_3"),
              lambda b: _core.decode_key(b, 3)):
        try:
            f(buf)
        except (CorruptDataError, PickleFallbackError):
            # A pickle (real or made by a mutation) read without opting in.
            pass
for _ in range(3000):
    attempt(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120))))
for blob in blobs:
    for _ in range(6000):
        buf = bytearray(blob)
        for _ in range(rng.randrange(1, 4)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        attempt(bytes(buf))
    for cut in range(len(blob)):
        attempt(blob[:cut])
print("ok", count)
"""
    result = run_python(code, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")
    assert int(result.stdout.split()[1]) > 15000
