"""The original benchmark's pure-Python designs, written afresh: the yardstick.

Each pickles the whole dict (protocol 5) and does what the original did, minus its bugs;
none is tuned beyond its design. Import the modules one by one (``reference.shm_backend``
and so on): each needs its own optional package (``lmdb``, ``pyzmq``, ``mpi4py``), and
the registry imports them only when asked for.

=========== =================================== =====================================
name        class                                module
=========== =================================== =====================================
py-shm      PickleSharedMemoryBackend            ``reference.shm_backend``
py-lmdb     PickleLMDBBackend                    ``reference.lmdb_backend``
py-zmq      PickleZeroMQBackend                  ``reference.zmq_backend``
mpi-bcast   MPIBcastBackend                      ``reference.mpi_bcast``
=========== =================================== =====================================
"""
