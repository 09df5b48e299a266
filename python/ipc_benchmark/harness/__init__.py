"""The MPI benchmark behind benchmark_mpi.py.

``cli`` parses the command line, ``run`` drives the cases, ``case`` is the protocol of one
backend at one size, ``sync`` the collectives that cannot hang, ``payloads`` what a case
writes (the seed dict, or ``training``'s arrays) and ``workload`` / ``training`` how readers
check it, ``stats`` / ``results`` / ``report`` what comes out. Only ``run``, ``case`` and
``sync`` need mpi4py.
"""

from .cli import main

__all__ = ["main"]
