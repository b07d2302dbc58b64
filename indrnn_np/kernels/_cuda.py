"""What the CUDA kernels of every concern share: their constants, a compensated sum, and whether
CUDA can run here.

The constants are float32: a plain ``0``, ``1`` or ``a * 0`` mixed with a float32 is typed float64
by Numba and carries a float32 kernel's arithmetic into double precision (the simulator would not
show it: it computes in NumPy), while a float32 constant keeps a float32 kernel in float32 and is
widened exactly in a float64 one (0, 1 and inf are exact in both). ``tests/test_cuda.py`` compiles
every float32 kernel to PTX and finds no ``.f64`` instruction.
"""

from __future__ import annotations

import math
import threading
import weakref

import numba
import numpy as np
from numba import cuda

ZERO, ONE, INF = np.float32(0), np.float32(1), np.float32(math.inf)
if numba.config.ENABLE_CUDASIM:
    # The simulator runs the kernels in NumPy, where a float32 scalar meeting a Python float (what
    # math.sqrt returns there) gives a float32: Python floats are what follows the other operand's
    # dtype there, as a float32 constant does in the compiled kernels.
    ZERO, ONE, INF = 0.0, 1.0, math.inf


@cuda.jit(device=True, inline=True)
def kahan(s, c, x):
    # s + x with the lost low-order part carried in c
    y = x - c
    t = s + y
    return t, (t - s) - y


def unavailable_reason() -> str | None:
    """None when CUDA kernels can run here (a GPU, or the simulator); otherwise why not."""
    try:
        if cuda.is_available():
            return None
        return "numba.cuda.is_available() is False: no CUDA driver or GPU was found"
    except Exception as exc:  # pragma: no cover - depends on the machine's driver
        return f"{type(exc).__name__}: {exc}"


def simulator_enabled() -> bool:
    """True when Numba runs CUDA kernels in its CPU simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return bool(numba.config.ENABLE_CUDASIM)


# --------------------------------------------------------------------------
# The one allocation point of device memory, and its count
# --------------------------------------------------------------------------


class DeviceMemory:
    """Bytes of device memory allocated through :func:`device_array` and still alive, and their peak.

    Every device array the CUDA backend makes (the op layer's ``empty``, ``zeros`` and ``to_device``
    through :class:`indrnn_np.ops.backend.Backend`, the kernels' own work arrays) is allocated by
    :func:`device_array`, which adds its bytes here; they are taken off when the memory is released
    (the last view of the array is gone). The memory rehearsal (:mod:`indrnn_np.train.memory`) reads
    :attr:`current` and :attr:`peak` around each phase of a rehearsed run, as it reads ``tracemalloc``
    for the host. Memory that Numba or CuPy allocate by themselves (cuBLAS's workspace, a kernel's
    argument copies of a host array) is not counted.
    """

    def __init__(self):
        self.current = 0
        self.peak = 0
        self.allocations = 0
        self._lock = threading.Lock()

    def _add(self, nbytes: int) -> None:
        with self._lock:
            self.current += nbytes
            self.allocations += 1
            self.peak = max(self.peak, self.current)

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self.current -= nbytes

    def reset_peak(self) -> None:
        """Start a new peak from what is alive now."""
        with self._lock:
            self.peak = self.current


#: The count of :func:`device_array`'s allocations.
DEVICE_MEMORY = DeviceMemory()


def _memory_owner(a):
    """The object whose life is the device memory's: the allocation (real GPU), or the NumPy array that
    stands for it in the simulator; the views of an array keep it alive."""
    owner = getattr(a, "gpu_data", None)
    if owner is not None:
        return owner
    owner = a._ary  # the simulator: the NumPy array that owns the memory, which its views keep alive
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    return owner


def _counted(a):
    nbytes = int(a.size) * np.dtype(a.dtype).itemsize
    if nbytes:
        DEVICE_MEMORY._add(nbytes)
        weakref.finalize(_memory_owner(a), DEVICE_MEMORY._release, nbytes)
    return a


def device_array(shape, dtype):
    """An uninitialised device array, its bytes counted in :data:`DEVICE_MEMORY` while it lives."""
    return _counted(cuda.device_array(shape, dtype=dtype))


def to_device(host):
    """A device copy of the NumPy array ``host``, its bytes counted in :data:`DEVICE_MEMORY` while it lives."""
    return _counted(cuda.to_device(host))
