# Hand-written stub for the native module; `make test` checks it with mypy.stubtest.
from typing import Any, Final

from typing_extensions import Buffer

__all__ = [
    "__version__",
    "FORMAT_VERSION",
    "MAX_DEPTH",
    "PREFIX",
    "IPCError",
    "CorruptDataError",
    "IPCTimeoutError",
    "serialize",
    "deserialize",
    "decode_key",
    "blob_keys",
    "generate_payload_blob",
]

__version__: Final[str]
FORMAT_VERSION: Final[int]
MAX_DEPTH: Final[int]
PREFIX: Final[str]

class IPCError(Exception): ...
class CorruptDataError(IPCError): ...
class IPCTimeoutError(IPCError, TimeoutError): ...

def serialize(obj: object) -> bytes: ...
def deserialize(buf: Buffer) -> Any: ...
def decode_key(buf: Buffer, key: str, default: Any = None) -> Any: ...
def blob_keys(buf: Buffer) -> list[str]: ...
def generate_payload_blob(size: int, seed: int = 0) -> bytes: ...
