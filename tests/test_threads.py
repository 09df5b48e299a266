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


def run_store_script(template: str, cls: str, timeout: float) -> str:
    """Runs `template` for the store class `cls` in a fresh interpreter and returns its
    output. A hang fails the test, and what the killed interpreter left is removed."""
    name = f"threads_{uuid.uuid4().hex[:8]}"
    try:
        result = run_python(template.format(cls=cls, name=name), timeout=timeout)
    except subprocess.TimeoutExpired:
        for path in find_leftovers():
            if name in path.name and path.is_dir():
                shutil.rmtree(path)
            elif name in path.name:
                path.unlink()
        pytest.fail(f"{cls}: deadlock: no result in {timeout} s")
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("cls", ["SharedMemoryBackend", "LMDBBackend", "ZeroMQBackend"])
def test_version_while_another_thread_writes(cls: str) -> None:
    out = run_store_script(CODE, cls, timeout=120)
    assert int(out.split()[1]) > 0


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
    assert run_store_script(FINALIZER, cls, timeout=60).strip() == "ok"


TWO_WRITERS = """
import threading
import ipc_benchmark as ib
from ipc_benchmark.utils import generate_test_dict

store = ib.{cls}()
store.initialize({name!r}, True)
dicts = [generate_test_dict(5_000, seed=s) for s in (1, 2)]
writes = 60

def writer(data):
    for _ in range(writes):
        store.write(data)

threads = [threading.Thread(target=writer, args=(d,)) for d in dicts]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert store.version == 2 * writes, store.version
assert store.read() in dicts
store.cleanup()
print("ok")
"""


@pytest.mark.parametrize("cls", ["SharedMemoryBackend", "LMDBBackend"])
def test_two_threads_writing_through_one_store(cls: str) -> None:
    # Each write encodes with the store's kept encoder, or with one of its own while the
    # other thread holds that one: either way every snapshot is whole.
    assert run_store_script(TWO_WRITERS, cls, timeout=120).strip() == "ok"
