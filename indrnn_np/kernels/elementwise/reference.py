"""Small kernels of training on the device, in plain NumPy: sums over rows, the bias, the residual
add, dropout's scaling, concatenation along the last axis.

The host ops compute these with NumPy expressions of their own; these functions have the CUDA kernels'
signatures (outputs written in place), so that each kernel of :mod:`.cuda` is tested against its twin
here (same name, same arguments). Sums are in float64.
"""

from __future__ import annotations

import numpy as np


def reduce_rows(part, out):
    """``out (N,) = Σ_b part[b]`` over the rows of part (B, N), in order."""
    out[...] = part.sum(axis=0)


def bias_add(y, b):
    """``y (R, N) += b (N,)`` on every row."""
    y += b


def add(a, b, out):
    """``out = a + b``; flat arrays (P,)."""
    np.add(a, b, out=out)


def scale_rows(x, mask, y):
    """``y[t, j] = x[t, j] mask[j]``: x, y (T, K), mask (K,) (dropout's mask, the same every step)."""
    np.multiply(x, mask, out=y)


def concat_last(x, y, out):
    """``out (R, C + K) = [x (R, C), y (R, K)]``."""
    out[...] = np.concatenate([x, y], axis=1)


def split_last(d, left, right):
    """The inverse of :func:`concat_last`: ``left = d[:, :C]``, ``right = d[:, C:]``."""
    C = left.shape[1]
    left[...] = d[:, :C]
    right[...] = d[:, C:]
