"""Names of the OS objects the reference backends create.

Every segment, directory and socket file starts with ``PREFIX`` so that
``python -m ipc_benchmark.leftovers`` finds what a crashed run left, and nothing else.
Store names follow the Rust backends' rule (1 to 200 of ``A-Z a-z 0-9 _ -``), so that a
name that works for one backend works for all.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from .._core import PREFIX

MAX_NAME_LEN = 200
_VALID = re.compile(r"[A-Za-z0-9_-]{1,%d}" % MAX_NAME_LEN)


def os_name(kind: str, name: str) -> str:
    """``PREFIX + kind + "_" + name``, after checking ``name``; ValueError names the problem."""
    if not isinstance(name, str):
        raise TypeError(f"store name must be str, not {type(name).__name__}")
    if not _VALID.fullmatch(name):
        raise ValueError(
            f"invalid store name {name!r}: use 1 to {MAX_NAME_LEN} letters, digits, "
            "'_' and '-' (it becomes part of a file name)"
        )
    return f"{PREFIX}{kind}_{name}"


def temp_path(kind: str, name: str, suffix: str = "") -> Path:
    """A path in the temp dir for ``os_name(kind, name)``."""
    return Path(tempfile.gettempdir()) / (os_name(kind, name) + suffix)
