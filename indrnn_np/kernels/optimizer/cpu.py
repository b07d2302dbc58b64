"""The optimizer update in Numba for the CPU: the twins of :mod:`.reference` (same names and arguments)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .._jit import SERIAL
from .._scalars import _project, one_of, zero_of

# --------------------------------------------------------------------------
# The optimizer update (see the reference for the order of operations)
# --------------------------------------------------------------------------
# Serial: a parameter of the paper's models is at most a few million values, one pass over it takes
# well under a millisecond, and a thread pool's start would cost more. The scalars arrive in the
# parameter's dtype (the op layer casts them), so a float32 update stays in float32.


@njit(**SERIAL)
def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` in float64; see the reference."""
    raw = 0.0
    clipped = 0.0
    for i in range(g.size):
        x = np.float64(g[i])
        raw += x * x
        if clip > 0:
            x = min(max(x, -clip), clip)
        clipped += x * x
    return raw, clipped


@njit(inline="always")
def _effective(p, g, clip, scale, wd):
    if clip > zero_of(clip):
        g = min(max(g, -clip), clip)
    return g * scale + wd * p


@njit(**SERIAL)
def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam and the projection in one pass; see the reference."""
    one = one_of(lr)
    for i in range(p.size):
        ge = _effective(p[i], g[i], clip, scale, wd)
        mi = m[i] * beta1 + (one - beta1) * ge
        vi = v[i] * beta2 + (one - beta2) * ge * ge
        m[i] = mi
        v[i] = vi
        p[i] = _project(p[i] - lr * (mi / c1) / (np.sqrt(vi / c2) + eps), lo, hi)


@njit(**SERIAL)
def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum and the projection in one pass; see the reference."""
    for i in range(p.size):
        vi = vel[i] * momentum + _effective(p[i], g[i], clip, scale, wd)
        vel[i] = vi
        p[i] = _project(p[i] - lr * vi, lo, hi)
