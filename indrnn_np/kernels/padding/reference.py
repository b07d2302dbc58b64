"""Variable lengths: padded batches, in plain NumPy (the host backends' kernels, and the specification
of the CUDA twins of the same names in :mod:`.cuda`).
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------
# Variable lengths: padded batches
# --------------------------------------------------------------------------
# A batch of sequences of different lengths is stored padded to T steps, (T, B, K); lengths (B,)
# says how many leading steps of each sequence are real. These move whole rows of K values; the op
# layer (indrnn_np.ops.sequences) calls them for the host backends and their CUDA twins on the GPU.


def mask_steps(a, lengths):
    """Zero the padding of a (T, B, K), in place: ``a[t, b] = 0`` for ``t >= lengths[b]``."""
    T = a.shape[0]
    pad = np.arange(T)[:, None] >= lengths[None, :]  # (T, B)
    a[pad] = 0


def reverse_steps(x, lengths, out):
    """Each sequence's real steps in reverse order: ``out[t, b] = x[lengths[b] - 1 - t, b]`` for
    ``t < lengths[b]``, and 0 in the padding. x, out (T, B, K); applying it twice gives x back
    (padding zeroed)."""
    for b, n in enumerate(lengths):  # one strided copy per sequence: B slices, no index arrays
        out[:n, b] = x[:n, b][::-1]
        out[n:, b] = 0


def gather_steps(x, steps, out):
    """One step of each sequence: ``out[b] = x[steps[b], b]``; x (T, B, K), steps (B,), out (B, K)."""
    out[...] = x[steps, np.arange(x.shape[1])]


def scatter_steps(dy, steps, dx):
    """The backward of :func:`gather_steps`: ``dx = 0`` then ``dx[steps[b], b] = dy[b]``; dy (B, K),
    dx (T, B, K)."""
    dx[...] = 0
    dx[steps, np.arange(dx.shape[1])] = dy
