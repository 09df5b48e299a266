"""The private directory a server peer (redis, manager) works in, and its server process.

The writer creates ``<temp dir>/<PREFIX><kind>_<store name>`` with mode 0700; the
server's Unix socket, its log, its pid file and (manager) the authkey live in it. The
path follows from the store name, which every rank is given, so readers find it without
a message from the writer; before trusting anything in it they check that it is a real
directory, owned by their own user, that nobody else can enter. Only that user can
therefore reach the socket or read the authkey, the same protection a Unix socket in a
0700 directory gives any server.

``PID_FILE`` names the server's process so that ``ipc-bench clean`` (leftovers.py) can
stop a server whose writer crashed before cleanup.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from .._core import IPCError
from ..reference._names import temp_path

#: Linux's prctl option that signals a process when its parent dies.
_PR_SET_PDEATHSIG = 1

#: The server's pid, one decimal line, written as soon as the server is started.
PID_FILE = "server.pid"
#: How long a stopped server may take to exit before it is killed.
STOP_GRACE_S = 5.0


def private_dir(kind: str, name: str) -> Path:
    """Where the writer of store ``name`` keeps its ``kind`` server (not created)."""
    return temp_path(kind, name)


#: The longest path a Unix socket can have on Linux (sun_path holds 108 bytes with the NUL).
MAX_SOCKET_PATH = 107


def socket_path(directory: Path, file: str) -> Path:
    """``directory / file``, or IPCError if it is too long to be a Unix socket's path
    (a long store name, or a long TMPDIR)."""
    path = directory / file
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise IPCError(f"socket path {path} is {len(os.fsencode(path))} bytes, more than "
                       f"a Unix socket allows ({MAX_SOCKET_PATH}): use a shorter store "
                       "name or TMPDIR")
    return path


def create_private_dir(path: Path) -> Path:
    """Create ``path`` with mode 0700; IPCError if it exists already (a live store of
    that name, or a crashed run's: ``ipc-bench clean`` removes those)."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        raise IPCError(f"{path} already exists: another store of that name is open, or a "
                       "crashed run left it (remove with `ipc-bench clean`)") from None
    return path


def check_private_dir(path: Path) -> Path:
    """``path`` if it is a directory of this user with mode 0700 (not a link); else
    IPCError saying what is wrong with it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise IPCError(f"{path} does not exist: no writer has created this store") from None
    if not stat.S_ISDIR(st.st_mode):
        raise IPCError(f"{path} is not a directory (a link or a file): refusing to use it")
    if st.st_uid != os.getuid():
        raise IPCError(f"{path} belongs to uid {st.st_uid}, not to this user ({os.getuid()})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise IPCError(f"{path} has mode {stat.S_IMODE(st.st_mode):o}: others could reach "
                       "its socket; expected 700")
    return path


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by this user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_pid(directory: Path, pid: int) -> None:
    (directory / PID_FILE).write_text(f"{pid}\n")


def read_pid(directory: Path) -> int | None:
    """The pid in the directory's PID_FILE, or None if there is none or it is not one."""
    try:
        text = (directory / PID_FILE).read_text()
    except OSError:
        return None
    return int(text) if text.strip().isdigit() else None


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    tail = text.strip().splitlines()[-lines:]
    return "\n".join(tail) if tail else "(the log is empty)"


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_GRACE_S; reaps it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _is_ours(pid: int, directory: Path) -> bool:
    """True if ``pid`` is a live process of this user whose command line mentions
    ``directory``: every server we start is given a path inside it, so a recycled pid
    that now belongs to something else is never signalled."""
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return False
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(directory).encode() in cmdline


def stop_leftover_server(directory: Path) -> int | None:
    """Stop the server a crashed writer left running in ``directory``; its pid, or None
    if none was running. Used by leftovers.py before it removes the directory."""
    pid = read_pid(directory)
    if pid is None or not _is_ours(pid, directory):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while _is_ours(pid, directory) and time.monotonic() < deadline:
            time.sleep(0.05)  # not our child: nothing to wait on but its /proc entry
        if _is_ours(pid, directory):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it exited by itself meanwhile
    return pid


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def exit_with_parent(parent: int) -> None:
    """SIGTERM this process when ``parent`` (the writer that started it) dies, so a
    killed writer leaves no server behind (Linux's PR_SET_PDEATHSIG, which survives
    exec); exits at once if the parent is already gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)
