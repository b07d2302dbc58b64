"""Layer 2: padded batches of sequences of different lengths.

A batch of B sequences whose lengths differ is stored padded to the longest,
time-major ``(T, B, K)``, with ``lengths`` (B,): sequence b's real steps are
``0 .. lengths[b] - 1`` and the steps after are padding. The ops of this
package that take ``lengths`` ignore the padding (its values never reach a
real output or a gradient) and write zeros there.

Each function is written once and works where its array lives: the backend object of the array
(:func:`indrnn_np.ops.backend.backend_of`) allocates the output and runs the kernel of one name,
the NumPy reference (:mod:`indrnn_np.kernels.padding.reference`) on the host, its CUDA twin
(:mod:`indrnn_np.kernels.padding.cuda`) on the device (lengths copied there, B integers).
"""

from __future__ import annotations

import numpy as np

from .._checks import check_lengths
from .backend import backend_of


def step_mask(lengths, T: int) -> np.ndarray:
    """``(T, B)`` bool, True on real steps: ``mask[t, b] = t < lengths[b]``."""
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def mask_padding(a, lengths, *, copy: bool = True):
    """``a`` (T, B, ...) with its padding steps set to 0: a copy, or ``a`` itself with ``copy=False``."""
    T, B = a.shape[0], a.shape[1]
    lengths = check_lengths(lengths, T, B)
    bk = backend_of(a)
    out = bk.copy(a) if copy else a
    bk.launch("mask_steps", out.size, out.reshape(T, B, out.size // (T * B)), bk.ints(lengths))
    return out


def reverse_padded(x, lengths):
    """Every sequence's real steps in reverse order, padding 0: ``y[t, b] = x[lengths[b] - 1 - t, b]``.

    Its own inverse on the real steps (the backward direction of a bidirectional
    layer reads its input through it, and its output and gradients go back
    through it).

    Parameters
    ----------
    x : ndarray or device array, (T, B, K)
    lengths : int array, (B,)

    Returns
    -------
    ndarray or device array, (T, B, K)
        Where x lives.
    """
    T, B = x.shape[0], x.shape[1]
    lengths = check_lengths(lengths, T, B)
    bk = backend_of(x)
    out = bk.empty_unpooled(x.shape, x.dtype)
    bk.launch("reverse_steps", x.size, x, bk.ints(lengths), out)
    return out


def take_steps(x, steps):
    """One step of each sequence: ``y[b] = x[steps[b], b]``; x (T, B, K) -> y (B, K), where x lives."""
    steps = np.asarray(steps, dtype=np.int64)
    B, K = x.shape[1], x.shape[2]
    bk = backend_of(x)
    out = bk.empty_unpooled((B, K), x.dtype)
    bk.launch("gather_steps", B * K, x, bk.ints(steps), out)
    return out


def put_steps(dy, steps, shape):
    """The backward of :func:`take_steps`: zeros of ``shape`` (T, B, K) with ``dy[b]`` at ``(steps[b], b)``."""
    steps = np.asarray(steps, dtype=np.int64)
    bk = backend_of(dy)
    dx = bk.empty_unpooled(shape, dy.dtype)
    bk.launch("scatter_steps", int(np.prod(shape)), dy, bk.ints(steps), dx)
    return dx


def final_states(h, lengths=None):
    """Each sequence's last real state ``h[lengths[b] - 1, b]`` (B, N); ``h[-1]`` without lengths."""
    if lengths is None:
        return h[-1]
    return take_steps(h, check_lengths(lengths, h.shape[0], h.shape[1]) - 1)
