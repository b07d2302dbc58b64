"""Variable lengths in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

A (T, B, K) padded batch, lengths/steps (B,) int64; one thread a value, grid-stride loops.
"""

from __future__ import annotations

from numba import cuda

from .._cuda import ZERO

# Variable lengths (twins in the reference): a (T, B, K) padded batch, lengths/steps (B,) int64.


@cuda.jit
def mask_steps(a, lengths):
    T, B, K = a.shape
    for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
        t = i // (B * K)
        b = (i // K) % B
        if t >= lengths[b]:
            a[t, b, i % K] = ZERO


@cuda.jit
def reverse_steps(x, lengths, out):
    T, B, K = x.shape
    for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
        t = i // (B * K)
        b = (i // K) % B
        k = i % K
        src = lengths[b] - 1 - t
        out[t, b, k] = x[src, b, k] if src >= 0 else ZERO


@cuda.jit
def gather_steps(x, steps, out):
    B, K = out.shape
    for i in range(cuda.grid(1), B * K, cuda.gridsize(1)):
        b = i // K
        out[b, i % K] = x[steps[b], b, i % K]


@cuda.jit
def scatter_steps(dy, steps, dx):
    T, B, K = dx.shape
    for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
        t = i // (B * K)
        b = (i // K) % B
        dx[t, b, i % K] = dy[b, i % K] if t == steps[b] else ZERO
