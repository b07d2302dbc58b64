"""The recurrence in Numba for the CPU: the twins of :mod:`.reference`.

Same names, same arguments, same results (to rounding). Because u is a vector,
every (b, n) column of the recurrence is independent of every other: that is
what lets the work be split without any communication. The split here is into
tasks of whole blocks of neighbouring columns, one block of batch rows (and,
when the batch is too small to feed every thread, one chunk of neurons); each
task runs the whole time loop for its block, and the tasks run in parallel
over ``numba.prange``.

Inside a task the time loop is outermost and the block's columns are
innermost. At each step a task therefore streams through a contiguous run of
memory (rows × N values of the time-major (T, B, N) arrays), which the CPU
prefetches and vectorises. The GPU kernel's layout, one thread per column
walking down time, would here jump a whole (B, N) slice between consecutive
loads of one column: measured 4-5x slower on the CPU at the benchmark size.

In reverse time (``reverse``, see :mod:`.reference`) each row maps the loop's step s to its own time
index (:func:`_time_of`); the row segments it reads stay contiguous, so the loop vectorises as before.

Compilation flags come from :mod:`indrnn_np.config`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config
from .._jit import JIT
from .._scalars import one_of, zero_of


@njit(inline="always")
def _activate(a, act):
    # σ(a): 0 identity, 1 relu, 2 tanh (the branch is hoisted out of the loops by LLVM). Constants of a's
    # own dtype keep float32 in float32; relu as the reference: relu(-inf) = 0, relu(nan) = nan.
    if act == 1:
        return zero_of(a) if a < zero_of(a) else a
    if act == 2:
        return np.tanh(a)
    return a


@njit(inline="always")
def _derivative(h, act):
    # σ'(a) recomputed from h = σ(a): relu 1 where h > 0 (so σ'(inf) = 1, σ'(nan) = 0), tanh 1 - h², identity 1
    if act == 1:
        return one_of(h) if h > zero_of(h) else zero_of(h)
    if act == 2:
        return one_of(h) - h * h
    return one_of(h)


@njit(inline="always")
def _time_of(s, T, lengths, bi, reverse):
    """The time index of row bi's s-th step: s, or in reverse time ``L - 1 - s`` on the row's L real
    steps and s on its padding (as :func:`indrnn_np.kernels.reference.step_order`); L is
    ``lengths[bi]``, or T when lengths is None (that branch is compiled away)."""
    L = T if lengths is None else lengths[bi]
    if reverse and s < L:
        return L - 1 - s
    return s


@njit(inline="always")
def _task_layout(B, N):
    """Tasks: blocks of ``rows`` batch rows times chunks of ``chunk`` neurons."""
    rows = max(1, config.CPU_TASK_COLUMNS // N)
    chunk = min(N, config.CPU_MAX_CHUNK)
    return rows, (B + rows - 1) // rows, chunk, (N + chunk - 1) // chunk


# In the loops below, each step of a task takes 1-D views of one row segment
# (``h[t, bi, n0:n1]``) and indexes them with ``j in range(width)``. Indexing
# the 3-D arrays with ``n0 + j`` instead computes the same thing, but Numba
# cannot prove the index non-negative, keeps its wrap-around check, and the
# loop no longer vectorises (measured 4-5x slower).


@njit(inline="always")
def _backward_loop(dh_t, h_t, h_prev, u, act, da, carry, du_s, db_s):
    for j in range(da.size):
        # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t)
        g = (dh_t[j] + carry[j]) * _derivative(h_t[j], act)
        da[j] = g
        du_s[j] += g * h_prev[j]  # ∂a_t/∂u = h_{t-1}
        db_s[j] += g  # ∂a_t/∂b = 1
        carry[j] = u[j] * g  # ∂a_t/∂h_{t-1} = u


@njit(inline="always")
def _backward_row(dh_t, h_t, h_prev, u, act, da, carry, du_s, db_s):
    # one row's ∂J/∂a_t into da (N,) and its sums, a loop compiled per activation
    if act == 1:
        _backward_loop(dh_t, h_t, h_prev, u, 1, da, carry, du_s, db_s)
    elif act == 2:
        _backward_loop(dh_t, h_t, h_prev, u, 2, da, carry, du_s, db_s)
    else:
        _backward_loop(dh_t, h_t, h_prev, u, 0, da, carry, du_s, db_s)


# Reassociation allowed here alone: it lets LLVM split the sum into vector lanes (in order, one
# dependent add per element, it measured 5x slower: 100,000 dots of 128 float32 in 9.7 ms against
# 2.0 ms). The order is fixed by the compiled code, not by the thread count: results stay reproducible.
@njit(**JIT)
def recurrence_forward(xw, u, b, h0, act, h, lengths=None, reverse=False):
    """Forward recurrence; see :func:`indrnn_np.kernels.reference.recurrence_forward` (``reverse``: in
    reverse time, each sequence from its step ``lengths[b] - 1`` down to 0)."""
    T, B, N = xw.shape
    rows, n_row_blocks, chunk, n_chunks = _task_layout(B, N)
    for task in prange(n_row_blocks * n_chunks):
        r0 = (task // n_chunks) * rows
        r1 = min(r0 + rows, B)
        n0 = (task % n_chunks) * chunk
        n1 = min(n0 + chunk, N)
        u_s, b_s = u[n0:n1], b[n0:n1]
        for s in range(T):
            for bi in range(r0, r1):
                t = _time_of(s, T, lengths, bi, reverse)
                h_prev = h[_time_of(s - 1, T, lengths, bi, reverse), bi, n0:n1] if s > 0 else h0[bi, n0:n1]
                xw_t, h_t = xw[t, bi, n0:n1], h[t, bi, n0:n1]
                for j in range(n1 - n0):
                    # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                    h_t[j] = _activate(xw_t[j] + u_s[j] * h_prev[j] + b_s[j], act)


@njit(**JIT)
def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part, lengths=None, reverse=False):
    """BPTT for the recurrence; see :func:`indrnn_np.kernels.reference.recurrence_backward`.

    ``dh0`` doubles as the running carry ``u ⊙ ∂J/∂a_{t+1}`` while the loop
    runs, and ends as ``∂J/∂h_0`` (the initial state's gradient).
    """
    T, B, N = dh.shape
    rows, n_row_blocks, chunk, n_chunks = _task_layout(B, N)
    for task in prange(n_row_blocks * n_chunks):
        r0 = (task // n_chunks) * rows
        r1 = min(r0 + rows, B)
        n0 = (task % n_chunks) * chunk
        n1 = min(n0 + chunk, N)
        u_s = u[n0:n1]
        for bi in range(r0, r1):
            dh0[bi, n0:n1] = 0
            du_part[bi, n0:n1] = 0
            db_part[bi, n0:n1] = 0
        for s in range(T - 1, -1, -1):
            for bi in range(r0, r1):
                t = _time_of(s, T, lengths, bi, reverse)
                h_prev = h[_time_of(s - 1, T, lengths, bi, reverse), bi, n0:n1] if s > 0 else h0[bi, n0:n1]
                dh_t, h_t, da_t = dh[t, bi, n0:n1], h[t, bi, n0:n1], da[t, bi, n0:n1]
                carry, du_s, db_s = dh0[bi, n0:n1], du_part[bi, n0:n1], db_part[bi, n0:n1]
                # ∂J/∂a_t, du and db sums and the carry for this row segment (the fused backward's loop)
                _backward_row(dh_t, h_t, h_prev, u_s, act, da_t, carry, du_s, db_s)
