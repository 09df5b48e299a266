"""A store object and the GIL: a writer thread publishes (without the GIL) while another
thread asks the same object for its version; a finalizer calls back into a store that
its thread is inside of. Each runs in a fresh interpreter, so that a deadlock fails the
test on its timeout instead of hanging it."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest

from ipc_benchmark.leftovers import find_leftovers

from .conftest import run_python

CODE = """
import threading
import ipc_benchmark as ib
from ipc_benchmark.utils import generate_test_dict

store = ib.{cls}()
store.initialize({name!r}, True)
data = generate_test_dict(20_000)
store.write(data)
writes = 150

def writer():
    for _ in range(writes):
        store.write(data)

thread = threading.Thread(target=writer)
thread.start()
seen, calls = 0, 0
while thread.is_alive():
    v = store.version
    assert v >= seen, (v, seen)
    seen, calls = v, calls + 1
thread.join()
assert store.version == writes + 1, store.version
store.cleanup()
print("calls", calls)
"""


def _remove_leftovers(name: str) -> None:
    """What a killed interpreter could not remove."""
    for path in find_leftovers():
        if name in path.name and path.is_dir():
            shutil.rmtree(path)
        elif name in path.name:
            path.unlink()


@pytest.mark.parametrize("cls", ["SharedMemoryBackend", "LMDBBackend", "ZeroMQBackend"])
def test_version_while_another_thread_writes(cls: str) -> None:
    name = f"threads_{uuid.uuid4().hex[:8]}"
    try:
        result = run_python(CODE.format(cls=cls, name=name), timeout=120)
    except subprocess.TimeoutExpired:
        _remove_leftovers(name)
        pytest.fail(f"{cls}: deadlock: no progress in 120 s")
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[1]) > 0


FINALIZER = """
import gc
import ipc_benchmark as ib

store = ib.{cls}()
store.initialize({name!r}, True)
store.write({{"a": 1, "b": 2}})
seen = []

class Finalized:
    def __del__(self):
        seen.append(store.version)  # the store this thread may be inside of

gc.disable()
cycle = Finalized()
cycle.me = cycle
del cycle  # garbage with a finalizer, for the next collection
spare = [[] for _ in range(200)]  # so that building a list allocates
gc.set_threshold(1)
gc.enable()
assert store.keys() == ["a", "b"]
gc.set_threshold(700)
gc.collect()
assert seen == [1], seen
store.cleanup()
print("ok")
"""


@pytest.mark.parametrize("cls", ["SharedMemoryBackend", "LMDBBackend"])
def test_a_finalizer_never_runs_while_the_store_is_held(cls: str) -> None:
    # A collection while the store's lock is held would run the finalizer there, and
    # its call back into the same store would wait for that lock forever.
    name = f"threads_{uuid.uuid4().hex[:8]}"
    try:
        result = run_python(FINALIZER.format(cls=cls, name=name), timeout=60)
    except subprocess.TimeoutExpired:
        _remove_leftovers(name)
        pytest.fail(f"{cls}: deadlock: a finalizer ran inside keys()")
    assert result.returncode == 0, result.stderr[-3000:]
