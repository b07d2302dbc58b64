"""The recurrence in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

One thread per (b, n) column, walking the time loop inside the thread; consecutive threads take
consecutive n, so at every step a warp reads 32 neighbouring floats of the time-major (T, B, N)
arrays (coalesced loads), and no thread ever reads another column (u is a vector): no synchronisation
inside the recurrence. Backward recomputes σ' from the saved h and keeps each column's sums of
``∂J/∂a_t · h_{t-1}`` (du) and ``∂J/∂a_t`` (db) in registers; the batch sums are a deterministic
second stage (:func:`indrnn_np.kernels.elementwise.cuda.reduce_rows`), or, for comparison
(:data:`indrnn_np.config.CUDA_REDUCTION` ``"atomic"``), atomics into (N,).

The kernels are module-level definitions, compiled by Numba once per signature (float32 or float64
arrays) at their first launch. Their constants are float32 (:data:`indrnn_np.kernels._cuda.ZERO`, ...):
a plain ``0`` or ``1`` mixed with a float32 is typed float64 and would carry a float32 kernel's
arithmetic into double precision, while a float32 constant stays float32 there and widens exactly in a
float64 kernel. ``tests/test_cuda.py`` compiles every float32 kernel to PTX and finds no ``.f64``.

In reverse time (``reverse``, see :mod:`.reference`) each thread maps its loop's step s to its column's
time index (:func:`time_of`): a warp's threads share a row or two, so its loads stay coalesced.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .._cuda import ONE, ZERO
from ..launch import blocks


@cuda.jit(device=True, inline=True)
def activate(a, act):
    # relu as the reference: relu(-inf) = 0, relu(nan) = nan
    if act == 1:
        return ZERO if a < ZERO else a
    if act == 2:
        return math.tanh(a)
    return a


@cuda.jit(device=True, inline=True)
def derivative(h, act):
    # σ' from h = σ(a): relu 1 where h > 0 (σ'(inf) = 1, σ'(nan) = 0), tanh 1 - h², identity 1
    if act == 1:
        return ONE if h > ZERO else ZERO
    if act == 2:
        return ONE - h * h
    return ONE


@cuda.jit(device=True, inline=True)
def time_of(s, length, reverse):
    # the time index of a row's s-th step: s, or in reverse time length - 1 - s on the real steps
    if reverse and s < length:
        return length - 1 - s
    return s


@cuda.jit
def forward(xw, u, b, h0, act, h, lengths, reverse):
    T, B, N = xw.shape
    # flattened (b, n), a grid-stride loop; consecutive threads -> consecutive n (coalesced)
    for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
        bi = col // N
        n = col % N
        un = u[n]
        bn = b[n]
        h_prev = h0[bi, n]
        L = lengths[bi]
        for s in range(T):
            t = time_of(s, L, reverse)
            # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
            h_prev = activate(xw[t, bi, n] + un * h_prev + bn, act)
            h[t, bi, n] = h_prev


@cuda.jit(device=True, inline=True)
def column_backward(dh, h, u, h0, act, da, bi, n, L, reverse):
    """BPTT of one (b, n) column (its row's length L, in reverse time with ``reverse``): writes
    da[:, b, n]; returns (dh0, du, db) of the column."""
    T = dh.shape[0]
    un = u[n]
    carry = ZERO  # u ⊙ ∂J/∂a_{t+1}
    du_acc = ZERO
    db_acc = ZERO
    # h_{t-1} of one step is h_t of the next: one load of h a step, and 54 registers a thread on sm_90
    # rather than 90 to 92 with h_t loaded again (tests/test_cuda_static.py, docs/site/results/gpu.md)
    h_t = h[time_of(T - 1, L, reverse), bi, n] if T > 0 else ZERO
    for s in range(T - 1, -1, -1):
        t = time_of(s, L, reverse)
        # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t), σ' recomputed from h_t
        g = (dh[t, bi, n] + carry) * derivative(h_t, act)
        da[t, bi, n] = g
        h_t = h[time_of(s - 1, L, reverse), bi, n] if s > 0 else h0[bi, n]  # h_{t-1}: the next step's h_t
        du_acc += g * h_t  # ∂a_t/∂u = h_{t-1}
        db_acc += g  # ∂a_t/∂b = 1
        carry = un * g  # ∂a_t/∂h_{t-1} = u
    return carry, du_acc, db_acc


@cuda.jit
def backward(dh, h, u, h0, act, da, dh0, du_part, db_part, lengths, reverse):
    T, B, N = dh.shape
    for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
        bi = col // N
        n = col % N
        dh0[bi, n], du_part[bi, n], db_part[bi, n] = column_backward(
            dh, h, u, h0, act, da, bi, n, lengths[bi], reverse
        )


@cuda.jit
def backward_atomic(dh, h, u, h0, act, da, dh0, du, db, lengths, reverse):
    """Like ``backward``, but adds each column's sums into du, db (N,) with atomics."""
    T, B, N = dh.shape
    for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
        bi = col // N
        n = col % N
        carry, du_acc, db_acc = column_backward(dh, h, u, h0, act, da, bi, n, lengths[bi], reverse)
        dh0[bi, n] = carry
        cuda.atomic.add(du, n, du_acc)
        cuda.atomic.add(db, n, db_acc)


def whole_lengths(lengths, T: int, B: int):
    """The kernels' ``lengths``: as given, or T for each of the B sequences (on the device) when None."""
    if lengths is not None:
        return lengths
    return cuda.to_device(np.full(B, T, np.int64))


def recurrence_forward(xw, u, b, h0, act, h, lengths=None, reverse=False):
    """Forward recurrence on the GPU (``reverse``: in reverse time, see the reference); arrays are
    device arrays (or host arrays, copied)."""
    T, B, N = xw.shape
    grid, tpb = blocks(B * N)
    forward[grid, tpb](xw, u, b, h0, act, h, whole_lengths(lengths, T, B), bool(reverse))


def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part, lengths=None, reverse=False):
    """BPTT on the GPU: per-column sums into du_part, db_part (B, N), as the other backends."""
    T, B, N = dh.shape
    grid, tpb = blocks(B * N)
    backward[grid, tpb](
        dh, h, u, h0, act, da, dh0, du_part, db_part, whole_lengths(lengths, T, B), bool(reverse)
    )


def recurrence_backward_atomic(dh, h, u, h0, act, da, dh0, du, db, lengths=None, reverse=False):
    """BPTT on the GPU with the batch sums added into du, db (N,) by atomics (zeroed by the caller):
    in whatever order the threads arrive, so the last bits change from run to run."""
    T, B, N = dh.shape
    grid, tpb = blocks(B * N)
    backward_atomic[grid, tpb](
        dh, h, u, h0, act, da, dh0, du, db, whole_lengths(lengths, T, B), bool(reverse)
    )
