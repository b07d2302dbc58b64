"""Layer 2: pooling over time, (T, B, N) -> (B, N): the mean or the maximum of each sequence's real steps.

A sequence-level head (classification, regression) reads one vector per sequence. The last step
(:class:`indrnn_np.nn.LastStep`) makes the final state carry the whole sequence; pooling over time
lets every step contribute directly, which suits sequences whose evidence lies anywhere in them
(a pattern in the middle of a long recording) rather than where they end.

* ``"mean"``: ``y[b] = (1 / L_b) Σ_{t < L_b} h[t, b]``, with ``L_b = lengths[b]`` (T without lengths);
  backward spreads ``dy[b] / L_b`` over the real steps.
* ``"max"``: ``y[b, n] = max_{t < L_b} h[t, b, n]``; backward sends ``dy[b, n]`` to the step that
  held the maximum (the first one, on ties: NumPy's ``argmax``), as max pooling does in CNNs.

The padding (``t >= lengths[b]``) never reaches the output or a gradient: whatever it holds, the
result equals pooling each sequence alone. Both directions of a bidirectional layer are pooled
alike over the same real steps (its backward half's steps are aligned with the forward half's
after :func:`indrnn_np.ops.reverse_padded`), so pooling needs no ``split`` as the last step does.

On device arrays (the ``cuda`` backend) the pooling runs on the host: the (T, B, N) input comes
back to the host once per forward pass and its gradient goes to the device once per backward
pass. Small next to the recurrent layers, but a copy each way: see the GPU results page.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_choice, check_lengths, check_same_dtype, check_shape
from .backend import CUDA, backend_of
from .sequences import step_mask

#: How a sequence-level head reads a (T, B, N) sequence of states: its last step, or a pool over time.
POOLS = ("last", "mean", "max")


class PoolCache(NamedTuple):
    """What :func:`pool_backward` needs from :func:`pool_forward`."""

    mode: str  # "mean" or "max"
    shape: tuple  # (T, B, N) of the input
    lengths: np.ndarray  # (B,) int64: each sequence's real steps (T for all without lengths)
    index: np.ndarray | None  # (B, N) int64: the step of each maximum ("max")
    where: object  # the backend where the input lived (backend_of): the gradient goes back there
    dtype: np.dtype  # the input's


def pool_forward(h, mode: str, lengths=None):
    """Pool ``h`` over time: the mean or the maximum of each sequence's real steps.

    Parameters
    ----------
    h : ndarray or device array, (T, B, N)
        States, time-major; float32 or float64 (the output keeps the dtype).
    mode : {"mean", "max"}
        How to pool (``"last"`` is :class:`indrnn_np.nn.LastStep`'s, not this op's).
    lengths : int array, (B,), optional
        Sequence b's real steps are ``0 .. lengths[b] - 1``; None: all T.

    Returns
    -------
    y : ndarray or device array, (B, N)
        Where ``h`` lives.
    cache : PoolCache
        For :func:`pool_backward`.

    Raises
    ------
    ValueError
        ``mode`` not ``"mean"`` or ``"max"``, ``h`` not 3-D or with an empty axis, lengths outside
        [1, T].
    TypeError
        ``h`` not a float array, lengths not integers.
    """
    check_choice("mode", mode, ("mean", "max"))
    check_array("h", h, 3, backend=CUDA)  # a NumPy or a device array
    T, B, N = h.shape
    lengths = np.full(B, T, np.int64) if lengths is None else check_lengths(lengths, T, B)
    bk = backend_of(h)  # where h lives: the output, and later the gradient, go back there
    x = bk.to_host(h)
    real = step_mask(lengths, T)[:, :, None]  # (T, B, 1)
    index = None
    if mode == "mean":
        total = np.where(real, x, x.dtype.type(0)).sum(axis=0)
        y = total / lengths[:, None].astype(x.dtype)
    else:
        # -inf in the padding: a real step always wins (NaN in a real step wins too, and shows)
        index = np.where(real, x, x.dtype.type(-np.inf)).argmax(axis=0)  # (B, N)
        y = np.take_along_axis(x, index[None], axis=0)[0]
    y = y.astype(x.dtype, copy=False)
    return bk.to_device(y), PoolCache(mode, (T, B, N), lengths, index, bk, x.dtype)


def pool_backward(dy, cache: PoolCache):
    """Gradient of :func:`pool_forward`: ∂J/∂h (T, B, N) from ∂J/∂y (B, N), zero in the padding.

    Parameters
    ----------
    dy : ndarray or device array, (B, N)
        Same dtype as the forward input.
    cache : PoolCache
        From :func:`pool_forward`.

    Returns
    -------
    ndarray or device array, (T, B, N)
        A device array when the forward input was one.
    """
    if not isinstance(cache, PoolCache):
        raise TypeError(f"cache must be the PoolCache from pool_forward; got {type(cache).__name__}")
    mode, (T, B, N), lengths, index, where, dtype = cache
    check_array("dy", dy, 2, backend=CUDA)
    check_shape("dy", dy, (B, N), "(B, N)")
    g = where.to_host(dy)
    check_same_dtype("the forward input h", dtype, {"dy": g})
    if mode == "mean":
        real = step_mask(lengths, T)[:, :, None]
        dh = np.where(real, (g / lengths[:, None].astype(dtype))[None], dtype.type(0))
    else:
        dh = np.zeros((T, B, N), dtype)
        np.put_along_axis(dh, index[None], g[None], axis=0)
    dh = dh.astype(dtype, copy=False)
    return where.to_device(dh)
