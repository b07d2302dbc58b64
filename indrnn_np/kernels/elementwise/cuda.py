"""Small kernels of training on the device in Numba CUDA: the twins of :mod:`.reference` (same names and
arguments; ``reduce_rows`` and ``zeros`` launch theirs), and the sums the other concerns' second
stages use (``sum_splits``, ``fill``, ``fill_int``). Grid-stride loops, one thread an item.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from .._cuda import device_array
from ..launch import blocks


@cuda.jit
def reduce_rows_kernel(part, out):
    """out[n] = Σ_b part[b, n], rows added in order b = 0, 1, ... (deterministic)."""
    B, N = part.shape
    for n in range(cuda.grid(1), N, cuda.gridsize(1)):
        acc = part[0, n]
        for bi in range(1, B):
            acc += part[bi, n]
        out[n] = acc


@cuda.jit
def sum_splits(part, out):
    """out[r, s] = Σ_z part[z, r, s], z in order (the split-K GEMM's second stage: deterministic)."""
    Z, R, S = part.shape
    for i in range(cuda.grid(1), R * S, cuda.gridsize(1)):
        r = i // S
        s = i % S
        acc = part[0, r, s]
        for z in range(1, Z):
            acc += part[z, r, s]
        out[r, s] = acc


@cuda.jit
def fill(a, value):
    """a[...] = value on the device (a flat view), without a host copy."""
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[i] = value


@cuda.jit
def fill_int(a, value):
    """a[...] = value for an int64 array (the scan's check flags)."""
    for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[i] = value


@cuda.jit
def bias_add(y, b):
    R, N = y.shape
    for i in range(cuda.grid(1), R * N, cuda.gridsize(1)):
        y[i // N, i % N] += b[i % N]


@cuda.jit
def add(a, b, out):
    for i in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[i] = a[i] + b[i]


@cuda.jit
def scale_rows(x, mask, y):
    # y[t, j] = x[t, j] mask[j]: dropout's one mask per sequence, the same at every step
    T, K = x.shape
    for i in range(cuda.grid(1), T * K, cuda.gridsize(1)):
        y[i // K, i % K] = x[i // K, i % K] * mask[i % K]


@cuda.jit
def concat_last(x, y, out):
    R, C = x.shape
    W = out.shape[1]
    for i in range(cuda.grid(1), R * W, cuda.gridsize(1)):
        r = i // W
        j = i % W
        out[r, j] = x[r, j] if j < C else y[r, j - C]


@cuda.jit
def split_last(d, left, right):
    R, C = left.shape
    W = d.shape[1]
    for i in range(cuda.grid(1), R * W, cuda.gridsize(1)):
        r = i // W
        j = i % W
        if j < C:
            left[r, j] = d[r, j]
        else:
            right[r, j - C] = d[r, j]


def reduce_rows(part, out):
    """out (N,) = part (B, N) summed over rows, deterministic."""
    grid, tpb = blocks(part.shape[1])
    reduce_rows_kernel[grid, tpb](part, out)


def zeros(shape, dtype):
    """A device array of zeros, filled on the device (no host array copied in)."""
    a = device_array(shape, dtype=dtype)
    grid, tpb = blocks(a.size)
    fill[grid, tpb](a.reshape(a.size), np.dtype(dtype).type(0))
    return a


def int_fill(n: int, value: int):
    """An int64 device array of n copies of value, filled on the device (the scan's check flags)."""
    a = device_array(n, dtype=np.int64)
    grid, tpb = blocks(n)
    fill_int[grid, tpb](a, np.int64(value))
    return a
