"""Resident memory of this process: the peak over a case, and the growth over its timed
operations (docs/results-schema.md, ``memory``).

Linux keeps a high-water mark of the resident set (``VmHWM`` in ``/proc/self/status``)
that writing ``5`` to ``/proc/self/clear_refs`` resets (Linux >= 4.0). Where the reset
is refused, the peak is the process's since it started (``getrusage``'s ``ru_maxrss``),
which the record says with ``peak_scope: "process"``.
"""

from __future__ import annotations

import resource
from typing import Literal

PeakScope = Literal["case", "process"]

_STATUS = "/proc/self/status"


def _status_bytes(field: str) -> int | None:
    """A ``kB`` line of /proc/self/status, in bytes; None where there is none."""
    try:
        with open(_STATUS, encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak() -> PeakScope:
    """Starts a new high-water mark; says what the next ``peak_rss`` will cover."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        return "process"
    return "case"


def rss() -> int | None:
    """The resident set now, in bytes; None where /proc does not say."""
    return _status_bytes("VmRSS")


def peak_rss() -> int:
    """The highest resident set since ``reset_peak`` (or since the process started), in
    bytes."""
    peak = _status_bytes("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
