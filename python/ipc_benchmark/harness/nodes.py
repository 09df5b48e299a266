"""Which ranks share a machine, and the address ZeroMQ readers on other machines use.

MPI says which ranks share memory (``MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)``); a
node is one such group. Nodes are numbered in the order of their lowest rank, so rank 0
(the writer) is always on node 0. Tests, which have one machine, pretend to have several
with ``IPCB_NODE_OF_RANK="0,0,1,1"`` (the node of every rank, in rank order); the result
file then says ``"forced": true``. No MPI here: run.py feeds in what MPI said.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass

#: The test override: the node of every rank, comma-separated.
NODE_ENV = "IPCB_NODE_OF_RANK"

# ioctl(SIOCGIFADDR): the IPv4 address of an interface (linux/sockios.h).
_SIOCGIFADDR = 0x8915


class NodeError(ValueError):
    """The node override or the ZeroMQ address cannot be used; the message says why."""


@dataclass(frozen=True)
class Nodes:
    rank_node: tuple[int, ...]  # the node of every rank, numbered from 0 in rank order
    forced: bool  # set by NODE_ENV, not found by MPI

    @property
    def count(self) -> int:
        return len(set(self.rank_node))

    def cross_node(self, readers: int) -> bool:
        """Whether any of the first ``readers`` readers is on another node than rank 0."""
        return any(node != self.rank_node[0] for node in self.rank_node[1 : readers + 1])

    def as_json(self) -> dict[str, object]:
        return {"count": self.count, "rank_node": list(self.rank_node), "forced": self.forced}


def numbered(keys: list[int]) -> tuple[int, ...]:
    """Any labels of the ranks' nodes, renumbered 0, 1, ... in order of first appearance."""
    index: dict[int, int] = {}
    return tuple(index.setdefault(k, len(index)) for k in keys)


def from_override(text: str, ranks: int) -> Nodes:
    """The nodes ``NODE_ENV`` names; NodeError unless it gives one node per rank."""
    parts = text.split(",")
    try:
        labels = [int(p) for p in parts]
    except ValueError:
        raise NodeError(f"{NODE_ENV}={text!r}: expected comma-separated node numbers, "
                        "one per rank, e.g. 0,0,1,1") from None
    if len(labels) != ranks or min(labels) < 0:
        raise NodeError(f"{NODE_ENV}={text!r}: expected {ranks} node numbers >= 0, one "
                        f"per rank, got {len(labels)}")
    return Nodes(numbered(labels), forced=True)


def interface_address(name: str) -> str:
    """The IPv4 address of the network interface ``name`` (Linux)."""
    packed = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            answer = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, packed)
        except OSError as e:
            raise NodeError(f"--zmq-interface {name}: no IPv4 address ({e.strerror})") from None
    return socket.inet_ntoa(answer[20:24])


def zmq_host(host: str | None, interface: str | None) -> str:
    """The address the writer's ZeroMQ sockets bind when readers are on other nodes:
    ``--zmq-host``, else ``--zmq-interface``'s address, else what the writer's host name
    resolves to."""
    if host is not None:
        return host
    if interface is not None:
        return interface_address(interface)
    name = socket.gethostname()
    try:
        return socket.gethostbyname(name)
    except OSError as e:
        raise NodeError(f"the host name {name!r} does not resolve ({e}): give "
                        "--zmq-host or --zmq-interface") from None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def tcp_endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def free_port_pair(host: str, attempts: int = 50) -> int:
    """A port p such that p and p + 1 are both free on ``host`` now (ZeroMQBackend binds
    both). Another process may take them before the bind: that bind then fails with
    "Address already in use", which fails the case and says so."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        with socket.socket(family, socket.SOCK_STREAM) as first:
            first.bind((host, 0))
            port: int = first.getsockname()[1]
            if port >= 65534:
                continue
            with socket.socket(family, socket.SOCK_STREAM) as second:
                try:
                    second.bind((host, port + 1))
                except OSError:
                    continue
        return port
    raise OSError(f"no two free consecutive tcp ports on {host} in {attempts} tries")
