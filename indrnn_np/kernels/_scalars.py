"""Constants of a value's own floating type, and the clamp, for the Numba CPU kernels of every concern.

Numba types ``float32 * 0`` or ``1 - float32`` (a Python int mixed with a
float32) as float64, so a float32 kernel written with literals computes in
float64. ``zero_of(x)`` and ``one_of(x)`` are typed from ``x`` at compile
time: 0 and 1 of x's own type, so each dtype's specialisation uses only
that dtype. In plain Python they return ``x``'s type too. (The CUDA kernels
use float32 constants instead, which a float64 kernel widens exactly:
:mod:`indrnn_np.kernels._cuda`.)
"""

from __future__ import annotations

import numba
from numba import types
from numba.extending import overload


def zero_of(x):
    """0 of ``x``'s floating type."""
    return type(x)(0)


def one_of(x):
    """1 of ``x``'s floating type."""
    return type(x)(1)


def inf_of(x):
    """+inf of ``x``'s floating type."""
    return type(x)("inf")


def _constant(value):
    def typer(x):
        if isinstance(x, types.Float):
            if x.bitwidth == 32:
                return lambda x: numba.float32(value)
            return lambda x: numba.float64(value)
        return None

    return typer


overload(zero_of, inline="always", target="generic")(_constant(0.0))
overload(one_of, inline="always", target="generic")(_constant(1.0))
overload(inf_of, inline="always", target="generic")(_constant(float("inf")))


@numba.njit(inline="always")
def _project(p, lo, hi):
    """p clamped to [lo, hi] (the optimizer's projection, the scan's clamp)."""
    # as np.clip (and the scan's clamp, the reference's min(max(p, lo), hi)): NaN stays NaN
    if p < lo:
        return lo
    if p > hi:
        return hi
    return p
