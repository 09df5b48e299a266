"""ipc_benchmark: shared dictionaries for one writer and many readers, and the benchmark
that compares the ways to build them."""

from ._core import (
    PREFIX,
    CorruptDataError,
    IPCError,
    IPCTimeoutError,
    __version__,
)
from .base import IPCBackend
from .utils import deserialize, generate_test_dict, serialize

__all__ = [
    "PREFIX",
    "CorruptDataError",
    "IPCBackend",
    "IPCError",
    "IPCTimeoutError",
    "__version__",
    "deserialize",
    "generate_test_dict",
    "serialize",
]
