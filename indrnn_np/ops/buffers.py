"""Layer 2: large work arrays reused from step to step instead of allocated anew.

A training step allocates the same large arrays every time: the projection
``W x_t`` and the states h of every layer, ``∂J/∂a``, the input gradients.
Allocated afresh, each (T, B, N) array costs page faults on first touch once
glibc has handed the previous step's memory back to the system, and that
was a fifth of a training step at T = 100 (measured: the adding network's
step took 5.8-6.2 ms with fresh arrays and 4.6-4.8 ms with glibc told to keep
freed memory; ``bench compare`` has the numbers with the pool).

:class:`BufferPool` keeps the arrays it hands out and hands one out again
only when nothing else refers to it any more (its reference count says the
pool is the only holder): an array that a caller kept, or a view of it that
is still alive, is never reused. So the ops can write into pooled arrays and
return them, and results that a user keeps stay intact. Arrays smaller than
:data:`MIN_BYTES` are left to the allocator; the pool holds at most
``config.BUFFER_POOL_BYTES`` (``INDRNN_BUFFER_POOL_MB``; 0 turns pooling off).
"""

from __future__ import annotations

import contextlib
import sys
import threading

import numpy as np

from .. import config

#: Arrays smaller than this are allocated normally (malloc recycles them cheaply).
MIN_BYTES = 1 << 20


class BufferPool:
    """Arrays by (shape, dtype), reused when no one else holds them.

    Parameters
    ----------
    max_bytes : int
        The most memory the pool keeps; arrays beyond it are allocated and
        not kept.
    """

    def __init__(self, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0; got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.kept_bytes = 0
        self._buckets: dict[tuple, list] = {}
        self._lock = threading.Lock()
        self.reused = 0  # counts, for tests and benchmarks
        self.allocated = 0

    def empty(self, shape, dtype) -> np.ndarray:
        """An uninitialised C-contiguous array, reused when one of this shape and dtype is free."""
        shape = tuple(int(s) for s in shape)
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes < MIN_BYTES or self.max_bytes == 0:
            return np.empty(shape, dtype)
        key = (shape, dtype)
        with self._lock:
            bucket = self._buckets.setdefault(key, [])
            for i in range(len(bucket)):
                # 2 references: the bucket's and getrefcount's own argument; anything more is a holder
                if sys.getrefcount(bucket[i]) == 2:
                    self.reused += 1
                    return bucket[i]
            a = np.empty(shape, dtype)
            self.allocated += 1
            if self.kept_bytes + nbytes <= self.max_bytes:
                bucket.append(a)
                self.kept_bytes += nbytes
            return a

    def zeros(self, shape, dtype) -> np.ndarray:
        """:meth:`empty`, filled with zeros."""
        a = self.empty(shape, dtype)
        a.fill(0)
        return a

    def clear(self) -> None:
        """Forget every kept array (arrays still in use stay valid: they are ordinary arrays)."""
        with self._lock:
            self._buckets.clear()
            self.kept_bytes = 0


#: The pool the ops use.
POOL = BufferPool(config.BUFFER_POOL_BYTES)


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised work array from :data:`POOL`."""
    return POOL.empty(shape, dtype)


def zeros(shape, dtype) -> np.ndarray:
    """A zeroed work array from :data:`POOL`."""
    return POOL.zeros(shape, dtype)


@contextlib.contextmanager
def scaled(factor: float):
    """A fresh pool whose byte thresholds (:data:`MIN_BYTES`, the pool's size) are ``factor`` times
    :data:`POOL`'s, for the duration: the memory rehearsal (:mod:`indrnn_np.train.memory`) runs a run
    at T times ``factor`` under it, so that the pool keeps and reuses what it would at the full T."""
    global POOL, MIN_BYTES
    saved = POOL, MIN_BYTES
    POOL = BufferPool(int(saved[0].max_bytes * factor))
    MIN_BYTES = max(1, int(saved[1] * factor))
    try:
        yield POOL
    finally:
        POOL, MIN_BYTES = saved
