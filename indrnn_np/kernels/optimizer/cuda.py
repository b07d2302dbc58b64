"""The optimizer update in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

One thread per parameter entry, a grid-stride loop; the scalars arrive in the parameter's dtype (the
op layer casts them), and the constants are float32, so a float32 update has no .f64 in its PTX. With
a model on the device (indrnn_np.nn.to_device) they update its parameters and the optimizer's state
where they live.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .._cuda import ONE, ZERO, device_array
from ..elementwise.cuda import reduce_rows
from ..launch import blocks, reduction_launch


@cuda.jit(device=True, inline=True)
def effective(p, g, clip, scale, wd):
    if clip > ZERO:
        g = min(max(g, -clip), clip)
    return g * scale + wd * p


@cuda.jit(device=True, inline=True)
def project(p, lo, hi):
    if p < lo:
        return lo
    if p > hi:
        return hi
    return p


@cuda.jit
def adam(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        ge = effective(p[i], g[i], clip, scale, wd)
        mi = m[i] * beta1 + (ONE - beta1) * ge
        vi = v[i] * beta2 + (ONE - beta2) * ge * ge
        m[i] = mi
        v[i] = vi
        p[i] = project(p[i] - lr * (mi / c1) / (math.sqrt(vi / c2) + eps), lo, hi)


@cuda.jit
def sgd(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        vi = vel[i] * momentum + effective(p[i], g[i], clip, scale, wd)
        vel[i] = vi
        p[i] = project(p[i] - lr * vi, lo, hi)


@cuda.jit
def sumsq(g, clip, part):
    # each thread's share of Σ g² and Σ clamp(g)², in the dtype; the host adds the threads' sums in float64
    t = cuda.grid(1)
    raw = ZERO
    clipped = ZERO
    for i in range(t, g.size, cuda.gridsize(1)):
        x = g[i]
        raw += x * x
        if clip > ZERO:
            x = min(max(x, -clip), clip)
        clipped += x * x
    part[t, 0] = raw
    part[t, 1] = clipped


def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam and the projection on the device, in one pass; see the reference. Device arrays, (P,)."""
    grid, tpb = blocks(p.size)
    adam[grid, tpb](p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi)


def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum and the projection on the device, in one pass; see the reference."""
    grid, tpb = blocks(p.size)
    sgd[grid, tpb](p, g, vel, clip, scale, wd, lr, momentum, lo, hi)


def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` of a device array: per-thread sums on the device, one small copy back."""
    out = device_array(2, dtype=g.dtype)
    grad_sumsq_into(g, clip, out)
    sums = out.copy_to_host().astype(np.float64)
    return float(sums[0]), float(sums[1])


def grad_sumsq_into(g, clip, out):
    """Write ``(Σ g², Σ clamp(g, ±clip)²)`` of the device array g (P,) into the device array out (2,).

    Nothing is copied to the host: training gathers every parameter's pair and the loss in one
    device array and copies that once a step. The sums: per-thread partials over a fixed
    grid, then the partials added in order (reproducible).
    """
    grid, tpb = reduction_launch(g.size)
    part = device_array((grid * tpb, 2), dtype=g.dtype)
    sumsq[grid, tpb](g, np.dtype(g.dtype).type(clip), part)
    reduce_rows(part, out)
