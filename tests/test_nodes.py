"""Node numbering, the node override and the ZeroMQ address (no MPI needed)."""

from __future__ import annotations

import socket

import pytest

from ipc_benchmark.harness.nodes import (
    NodeError,
    Nodes,
    free_port_pair,
    from_override,
    interface_address,
    is_loopback,
    numbered,
    tcp_endpoint,
    zmq_host,
)


def test_nodes_are_numbered_from_the_writer() -> None:
    assert numbered([7, 7, 3, 9, 3]) == (0, 0, 1, 2, 1)
    nodes = Nodes(numbered([7, 7, 3]), forced=False)
    assert nodes.count == 2 and not nodes.cross_node(1) and nodes.cross_node(2)
    assert nodes.as_json() == {"count": 2, "rank_node": [0, 0, 1], "forced": False}


def test_the_override_needs_one_node_per_rank() -> None:
    nodes = from_override("5,5,2,2", 4)
    assert (nodes.rank_node, nodes.forced) == ((0, 0, 1, 1), True)
    with pytest.raises(NodeError, match="expected 4 node numbers"):
        from_override("0,1", 4)
    with pytest.raises(NodeError, match="comma-separated node numbers"):
        from_override("0,x", 2)
    with pytest.raises(NodeError, match="expected 2 node numbers >= 0"):
        from_override("0,-1", 2)


def test_zmq_addresses() -> None:
    assert zmq_host("10.0.0.1", None) == "10.0.0.1"
    assert zmq_host(None, "lo") == interface_address("lo") == "127.0.0.1"
    with pytest.raises(NodeError, match="--zmq-interface nope0: no IPv4 address"):
        interface_address("nope0")
    assert is_loopback("127.0.1.1") and is_loopback("::1") and not is_loopback("10.0.0.1")
    assert tcp_endpoint("::1", 5) == "tcp://[::1]:5"
    port = free_port_pair("127.0.0.1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", port + 1))  # still free
