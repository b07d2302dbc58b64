"""Numba's compile options of the CPU kernels, from :mod:`indrnn_np.config`."""

from __future__ import annotations

from .. import config

#: The parallel kernels (the recurrence, the scan, the fused layer, batch norm).
JIT = dict(
    parallel=config.CPU_PARALLEL,
    fastmath=set(config.CPU_FASTMATH),
    cache=config.CPU_CACHE,
    nogil=True,
)

#: Serial kernels (the optimizer update: one pass over a parameter costs less than a thread pool's start).
SERIAL = dict(fastmath=set(config.CPU_FASTMATH), cache=config.CPU_CACHE, nogil=True)
