"""ipc_benchmark: shared dictionaries for one writer and many readers, and the benchmark
that compares the ways to build them."""

from ._core import (
    PREFIX,
    CorruptDataError,
    InvalidNameError,
    IPCError,
    IPCOSError,
    IPCTimeoutError,
    PickleFallbackError,
    StoreClosedError,
    UntrustedStoreError,
    UsageError,
    WriterExistsError,
    __version__,
)
from .base import IPCBackend
from .lmdb_backend import LMDBBackend
from .shm_backend import SharedMemoryBackend
from .utils import deserialize, generate_test_dict, serialize
from .zmq_backend import ZeroMQBackend

__all__ = [
    "PREFIX",
    "CorruptDataError",
    "IPCBackend",
    "IPCError",
    "IPCOSError",
    "IPCTimeoutError",
    "InvalidNameError",
    "LMDBBackend",
    "PickleFallbackError",
    "SharedMemoryBackend",
    "StoreClosedError",
    "UntrustedStoreError",
    "UsageError",
    "WriterExistsError",
    "ZeroMQBackend",
    "__version__",
    "deserialize",
    "generate_test_dict",
    "serialize",
]
