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
