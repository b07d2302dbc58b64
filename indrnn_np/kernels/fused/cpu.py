"""The fused small-input layer in Numba for the CPU: the twins of :mod:`.reference` (same names and
arguments)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config
from .._jit import JIT
from ..recurrence.cpu import _activate, _backward_row, _time_of

# --------------------------------------------------------------------------
# Fused small-input projection (see the reference for what the kernels compute)
# --------------------------------------------------------------------------
# A task owns whole batch rows here, all N neurons of each: ∂J/∂x_t[b, m] = Σ_n ∂J/∂a_t[b, n] W[m, n]
# is a sum over the whole row, so one task computes it whole and no partial sums of dx are left to
# add. Per step and row, each pass over the row's N neurons is one vectorised loop into a row of
# scratch (``a``, ``da``): forward, M passes for W x_t and one for σ(a_t); backward, one for
# ∂J/∂a_t (the only trace of it), then per input feature one into dW's per-row sums and one dot
# product for dx. With N = 128 a loop's fixed cost is a good part of its time, hence few passes.
#
# The activation is chosen outside each loop, and the loop compiled with a constant code
# (_forward_finish, _backward_row): in kernels of this many loops LLVM no longer takes the branch out
# of the loop itself, and the loop runs scalar, a call or a branch per value. σ is written from the
# scratch row into h, not applied in place: in place, relu compiles to a masked store, which on the
# AMD EPYC measured here made that pass alone cost as much as two others. (Together, the fused
# forward at (1000, 50, 2, 128) float32 took 7-9 ms with both and 3-4 ms without, on 2 cores.)


@njit(inline="always")
def _row_tasks(B, N):
    """Tasks of the fused kernels: blocks of ``rows`` whole batch rows."""
    rows = max(1, config.CPU_TASK_COLUMNS // N)
    return rows, (B + rows - 1) // rows


@njit(inline="always")
def _finish_loop(a, u, h_prev, b, act, h_t):
    for j in range(a.size):
        # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
        h_t[j] = _activate(a[j] + u[j] * h_prev[j] + b[j], act)


@njit(inline="always")
def _forward_finish(a, u, h_prev, b, act, h_t):
    # one row's h_t from a = W x_t (N,), a loop compiled per activation
    if act == 1:
        _finish_loop(a, u, h_prev, b, 1, h_t)
    elif act == 2:
        _finish_loop(a, u, h_prev, b, 2, h_t)
    else:
        _finish_loop(a, u, h_prev, b, 0, h_t)


@njit(fastmath=set(config.CPU_FASTMATH) | {"reassoc"}, cache=config.CPU_CACHE, nogil=True)
def _dot(a, b):
    """``Σ_j a[j] b[j]`` of two rows (N,)."""
    s = a.dtype.type(0)  # 0 of a's dtype (an empty row too)
    for j in range(a.size):
        s += a[j] * b[j]
    return s


@njit(**JIT)
def fused_forward(x, W, u, b, h0, act, h, lengths=None, reverse=False):
    """Forward with ``W x_t`` computed inside the time loop; see :func:`indrnn_np.kernels.reference.fused_forward`.

    Needs M >= 1. ``reverse``: in reverse time, each sequence from its step ``lengths[b] - 1`` down to 0.
    """
    T, B, M = x.shape
    N = W.shape[1]
    rows, n_tasks = _row_tasks(B, N)
    for task in prange(n_tasks):
        r0 = task * rows
        r1 = min(r0 + rows, B)
        a = np.empty(N, h.dtype)  # W x_t of one row
        for s in range(T):
            for bi in range(r0, r1):
                t = _time_of(s, T, lengths, bi, reverse)
                h_prev = h[_time_of(s - 1, T, lengths, bi, reverse), bi] if s > 0 else h0[bi]
                x_t = x[t, bi]
                # W x_t: one pass per input feature
                w, x_m = W[0], x_t[0]
                for j in range(N):
                    a[j] = x_m * w[j]
                for m in range(1, M):
                    w, x_m = W[m], x_t[m]
                    for j in range(N):
                        a[j] += x_m * w[j]
                _forward_finish(a, u, h_prev, b, act, h[t, bi])


@njit(**JIT)
def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0, lengths=None, reverse=False):
    """BPTT with dW and dx summed inside the time loop; see :func:`indrnn_np.kernels.reference.fused_backward`.

    ``dx`` None skips ∂J/∂x (Numba compiles that case without the dot products).
    ``dh0`` doubles as the running carry ``u ⊙ ∂J/∂a_{t+1}``, as in :func:`recurrence_backward`.
    """
    T, B, M = x.shape
    N = W.shape[1]
    rows, n_tasks = _row_tasks(B, N)
    for task in prange(n_tasks):
        r0 = task * rows
        r1 = min(r0 + rows, B)
        da = np.empty(N, dh.dtype)  # ∂J/∂a_t of one row
        for bi in range(r0, r1):
            dh0[bi] = 0
            du_part[bi] = 0
            db_part[bi] = 0
            dW_part[bi] = 0
        for s in range(T - 1, -1, -1):
            for bi in range(r0, r1):
                t = _time_of(s, T, lengths, bi, reverse)
                h_prev = h[_time_of(s - 1, T, lengths, bi, reverse), bi] if s > 0 else h0[bi]
                _backward_row(dh[t, bi], h[t, bi], h_prev, u, act, da, dh0[bi], du_part[bi], db_part[bi])
                x_t = x[t, bi]
                for m in range(M):
                    dW_s, x_m = dW_part[bi, m], x_t[m]
                    for j in range(N):
                        dW_s[j] += x_m * da[j]  # ∂a_t[n]/∂W[m, n] = x_t[m]
                    if dx is not None:
                        # ∂J/∂x_t[m] = Σ_n ∂J/∂a_t[n] W[m, n]
                        dx[t, bi, m] = _dot(da, W[m])
