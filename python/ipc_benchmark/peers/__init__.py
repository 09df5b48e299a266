"""The peers: shared-dictionary tools people already use, run as backends of the Python
harness so that the benchmark can say where ours stand against them.

* ``redis`` (redis_backend.py): a Redis server on a Unix socket;
* ``manager`` (manager_backend.py): a ``multiprocessing.managers`` dict;
* ``ultradict`` (ultradict_backend.py): UltraDict 0.0.6, a dict streamed through
  shared memory;
* ``shared-memory-dict`` (smdict_backend.py): shared-memory-dict 0.7.2, a pickled dict
  in one shared-memory segment.

Each is used the way its documentation shows; docs/benchmark.md ("Peers") describes them
and their caveats. Their packages come with the optional extra ``peers``; a module whose
package is missing raises ImportError with the install hint when imported, so the
registry reports that backend unavailable and the harness records it as skipped.
"""

from __future__ import annotations

import importlib.util

#: What to install when a peer's package is missing.
INSTALL_HINT = "pip install 'ipc-benchmark[peers]'"
#: shared-memory-dict puts this before the name of each segment it creates (its
#: templates.MEMORY_NAME), so its segments of ours start with ``sm_<PREFIX>``.
SMD_SEGMENT_PREFIX = "sm_"


def require(*modules: str) -> None:
    """ImportError naming the first of ``modules`` that is not installed, and the hint.

    Only looks the modules up, without importing them: UltraDict patches
    multiprocessing's resource tracker when imported, which must not happen to a process
    that merely lists the backends.
    """
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"the {module} package is not installed ({INSTALL_HINT})",
                              name=module)
