"""One store object shared by threads: a writer thread publishes (without the GIL) while
another thread of the same process asks the same object for its version. Each runs in a
fresh interpreter, so that a deadlock fails the test on its timeout instead of hanging."""

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


@pytest.mark.parametrize("cls", ["SharedMemoryBackend", "LMDBBackend", "ZeroMQBackend"])
def test_version_while_another_thread_writes(cls: str) -> None:
    name = f"threads_{uuid.uuid4().hex[:8]}"
    try:
        result = run_python(CODE.format(cls=cls, name=name), timeout=120)
    except subprocess.TimeoutExpired:
        for path in find_leftovers():  # what the killed interpreter could not remove
            if name in path.name and path.is_dir():
                shutil.rmtree(path)
            elif name in path.name:
                path.unlink()
        pytest.fail(f"{cls}: deadlock: no progress in 120 s")
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[1]) > 0
