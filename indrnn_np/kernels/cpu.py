"""Numba CPU twins of :mod:`indrnn_np.kernels.reference`.

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

Compilation flags come from :mod:`indrnn_np.config`.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange, types, uint64
from numba.extending import overload

from .. import config
from ._scalars import inf_of, one_of, zero_of

_JIT = dict(
    parallel=config.CPU_PARALLEL,
    fastmath=set(config.CPU_FASTMATH),
    cache=config.CPU_CACHE,
    nogil=True,
)


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


@njit(**_JIT)
def recurrence_forward(xw, u, b, h0, act, h):
    """Forward recurrence; see :func:`indrnn_np.kernels.reference.recurrence_forward`."""
    T, B, N = xw.shape
    rows, n_row_blocks, chunk, n_chunks = _task_layout(B, N)
    for task in prange(n_row_blocks * n_chunks):
        r0 = (task // n_chunks) * rows
        r1 = min(r0 + rows, B)
        n0 = (task % n_chunks) * chunk
        n1 = min(n0 + chunk, N)
        u_s, b_s = u[n0:n1], b[n0:n1]
        for t in range(T):
            for bi in range(r0, r1):
                h_prev = h[t - 1, bi, n0:n1] if t > 0 else h0[bi, n0:n1]
                xw_t, h_t = xw[t, bi, n0:n1], h[t, bi, n0:n1]
                for j in range(n1 - n0):
                    # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                    h_t[j] = _activate(xw_t[j] + u_s[j] * h_prev[j] + b_s[j], act)


@njit(**_JIT)
def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT for the recurrence; see :func:`indrnn_np.kernels.reference.recurrence_backward`.

    ``dh0`` doubles as the running carry ``u ⊙ ∂J/∂a_{t+1}`` while the loop
    runs, and ends as ``∂J/∂h_{-1}``.
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
        for t in range(T - 1, -1, -1):
            for bi in range(r0, r1):
                h_prev = h[t - 1, bi, n0:n1] if t > 0 else h0[bi, n0:n1]
                dh_t, h_t, da_t = dh[t, bi, n0:n1], h[t, bi, n0:n1], da[t, bi, n0:n1]
                carry, du_s, db_s = dh0[bi, n0:n1], du_part[bi, n0:n1], db_part[bi, n0:n1]
                # ∂J/∂a_t, du and db sums and the carry for this row segment (the fused backward's loop)
                _backward_row(dh_t, h_t, h_prev, u_s, act, da_t, carry, du_s, db_s)


# --------------------------------------------------------------------------
# The recurrence as a scan (see the reference for the composition rule and the three phases)
# --------------------------------------------------------------------------
# Columns are flattened, (T, B, N) -> T·C values with C = B·N, and u, b are tiled to (C,). A task is a
# group of neighbouring chunks whose steps it interleaves (step s of every chunk of the group, then
# step s + 1): with few columns, the group's chunks are independent chains that the core overlaps;
# with many, the innermost loop runs over a contiguous row of C values. The arrays are indexed flat,
# ``x[t·C + j]``, rather than through a row view per step (the scan is for few columns, where a view's
# set-up per (step, chunk) costs more than the step's arithmetic), and with *unsigned* indices: Numba
# then drops its negative-index wrap-around check, and the row loop vectorises (measured 3.3x faster
# at C = 128 than the same loop with signed indices).


@njit(inline="always")
def _scan_layout(T, C):
    """``(K, L, n_groups, per_group)``: chunks, steps per chunk, tasks and chunks per task."""
    K = max(config.CPU_SCAN_MIN_CHUNKS, (config.CPU_SCAN_LANES + C - 1) // C)
    K = max(1, min(K, T // config.CPU_SCAN_MIN_STEPS))
    L = (T + K - 1) // K
    K = (T + L - 1) // L  # no empty chunk
    n_groups = min(K, config.CPU_SCAN_TASKS)
    per_group = (K + n_groups - 1) // n_groups
    return K, L, (K + per_group - 1) // per_group, per_group


@njit(inline="always")
def _tiled(v, B):
    N = v.shape[0]
    out = np.empty(B * N, v.dtype)
    for bi in range(B):
        out[bi * N : (bi + 1) * N] = v
    return out


@njit(**_JIT)
def scan_forward(xw, u, b, h0, act, h):
    """Forward recurrence as a chunked scan; see :func:`indrnn_np.kernels.reference.scan_forward`.

    ``act`` must be relu (1) or identity (0); the op layer checks.
    """
    T, B, N = xw.shape
    C = B * N
    K, L, n_groups, per_group = _scan_layout(T, C)
    Cu = uint64(C)
    x1, h1 = xw.reshape(T * C), h.reshape(T * C)
    uc, bc = _tiled(u, B), _tiled(b, B)
    zero, inf = zero_of(xw[0, 0, 0]), inf_of(xw[0, 0, 0])
    limit = _cancellation_limit(xw[0, 0, 0])
    lower = zero if act == 1 else -inf  # the step's clamp: relu at 0, identity none
    # the chunk maps F_k (a, c, lo, hi), flat (K·C,)
    Fa, Fc = np.empty(K * C, xw.dtype), np.empty(K * C, xw.dtype)
    Flo, Fhi = np.empty(K * C, xw.dtype), np.empty(K * C, xw.dtype)
    # 1. each chunk composes its steps: F ← f_t ∘ F, f_t(h) = max(u h + z_t, lower), z_t = W x_t + b
    for g in prange(n_groups):
        k0, k1 = g * per_group, min((g + 1) * per_group, K)
        for i in range(k0 * C, k1 * C):
            Fa[i], Fc[i], Flo[i], Fhi[i] = one_of(zero), zero, -inf, inf
        for s in range(L):
            for k in range(k0, k1):
                t = k * L + s
                if t < T:
                    fk, xt = uint64(k * C), uint64(t * C)
                    for j in range(Cu):
                        i, un = fk + j, uc[j]
                        z = x1[xt + j] + bc[j]
                        # the ends of u·[lo, hi] + z, swapped when u < 0; both z when u = 0 or z = ±inf
                        # (written as selects, not branches, so that the row loop still vectorises)
                        flat = (un == zero) | (abs(z) == inf)
                        end_lo, end_hi = un * Flo[i] + z, un * Fhi[i] + z
                        e1 = z if flat else (end_lo if un > zero else end_hi)
                        e2 = z if flat else (end_hi if un > zero else end_lo)
                        lo = e1 if not e1 < lower else lower  # max(e1, lower); NaN kept
                        hi = e2 if not e2 < lower else lower
                        constant = lo == hi  # a constant map: (0, lo, lo, lo), no infinite slope carried on
                        Fa[i] = zero if constant else un * Fa[i]
                        Fc[i] = lo if constant else un * Fc[i] + z
                        Flo[i], Fhi[i] = lo, hi
    # 2. the carries, serial over chunks: the state entering chunk k + 1 is F_k(state entering k)
    entering = np.empty(K * C, xw.dtype)
    state = h0.reshape(C).copy()
    for k in range(K):
        for j in range(C):
            i = k * C + j
            entering[i] = state[j]
            v = Fa[i] * state[j] + Fc[i]
            if abs(v) < inf and abs(Fc[i]) <= limit * abs(v):
                state[j] = _project(v, Flo[i], Fhi[i])  # clamp
            else:  # the map's slope or offset overflowed (|u| > 1), a non-finite state, or a·s and c
                # cancelled to less than half their digits: step through the chunk
                v = state[j]
                for t in range(k * L, min((k + 1) * L, T)):
                    v = _activate(x1[t * C + j] + uc[j] * v + bc[j], act)
                state[j] = v
    start = entering.copy()  # the replay below overwrites ``entering``
    # 3. every chunk replays its steps from its true entering state, as recurrence_forward does
    for g in prange(n_groups):
        k0, k1 = g * per_group, min((g + 1) * per_group, K)
        for s in range(L):
            for k in range(k0, k1):
                t = k * L + s
                if t < T:
                    fk, xt = uint64(k * C), uint64(t * C)
                    for j in range(Cu):
                        i, o = fk + j, xt + j
                        # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                        v = _activate(x1[o] + uc[j] * entering[i] + bc[j], act)
                        h1[o] = v
                        entering[i] = v
    # 4. a column whose replayed chunk ends inf or NaN where the next chunk's carry is finite (or the
    # other way round) is the loop from there on: each later chunk replays from the end of the one before
    diverged = np.zeros(C, np.bool_)
    for k in range(1, K):
        t0 = k * L
        any_diverged = False
        for j in range(C):
            diverged[j] |= not _same_kind(h1[(t0 - 1) * C + j], start[k * C + j], inf)
            any_diverged |= diverged[j]
        if any_diverged:
            for t in range(t0, min(t0 + L, T)):
                for j in range(C):
                    if diverged[j]:
                        h1[t * C + j] = _activate(x1[t * C + j] + uc[j] * h1[(t - 1) * C + j] + bc[j], act)


def _cancellation_limit(x):
    """2^26 or 2^12, of x's float type (see :func:`indrnn_np.kernels.reference.cancellation_limit`)."""
    return type(x)(2.0**26 if np.dtype(type(x)) == np.float64 else 2.0**12)


@overload(_cancellation_limit, inline="always", target="generic")
def _cancellation_limit_typed(x):
    if isinstance(x, types.Float):
        if x.bitwidth == 32:
            return lambda x: numba.float32(4096.0)
        return lambda x: numba.float64(67108864.0)
    return None


@njit(inline="always")
def _same_kind(x, y, inf):
    # both finite, both NaN, or the same infinity (see reference.same_kind)
    return x == y or (abs(x) < inf and abs(y) < inf) or (x != x and y != y)


@njit(**_JIT)
def scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT as a chunked scan; see :func:`indrnn_np.kernels.reference.scan_backward`."""
    T, B, N = dh.shape
    C = B * N
    K, L, n_groups, per_group = _scan_layout(T, C)
    Cu = uint64(C)
    g1, h1, da1 = dh.reshape(T * C), h.reshape(T * C), da.reshape(T * C)
    h0c = h0.reshape(C)
    uc = _tiled(u, B)
    zero, inf = zero_of(dh[0, 0, 0]), inf_of(dh[0, 0, 0])
    limit = _cancellation_limit(dh[0, 0, 0])
    A, Cc = np.empty(K * C, dh.dtype), np.empty(K * C, dh.dtype)
    # 1. per chunk, δ_{t0} = A δ_{t1} + Cc, composing δ_t = m_t u δ_{t+1} + m_t g_t from t1 - 1 down to t0
    for g in prange(n_groups):
        k0, k1 = g * per_group, min((g + 1) * per_group, K)
        for i in range(k0 * C, k1 * C):
            A[i], Cc[i] = one_of(zero), zero
        for s in range(L - 1, -1, -1):
            for k in range(k0, k1):
                t = k * L + s
                if t < T:
                    fk, xt = uint64(k * C), uint64(t * C)
                    for j in range(Cu):
                        i, o = fk + j, xt + j
                        m = _derivative(h1[o], act)
                        A[i] = m * uc[j] * A[i]
                        Cc[i] = m * (uc[j] * Cc[i] + g1[o])
    # 2. the carries, last chunk first: after = δ of the step just after chunk k (0 after the last)
    after = np.empty(K * C, dh.dtype)
    d = np.zeros(C, dh.dtype)
    for k in range(K - 1, -1, -1):
        for j in range(C):
            i = k * C + j
            after[i] = d[j]
            v = A[i] * d[j] + Cc[i]
            if abs(v) < inf and abs(Cc[i]) <= limit * abs(v):
                d[j] = v
            else:  # overflowed slope or offset (|u| > 1), a non-finite δ, or A δ and Cc cancelled to
                # less than half their digits: step through the chunk
                v = d[j]
                for t in range(min((k + 1) * L, T) - 1, k * L - 1, -1):
                    v = _derivative(h1[t * C + j], act) * (g1[t * C + j] + uc[j] * v)
                d[j] = v
    start = after.copy()  # the replay below turns ``after`` into its running carry
    # 3. each chunk replays its steps in reverse from its carry, with its own du and db sums;
    # ``after`` becomes the carry u ⊙ ∂J/∂a_{t+1}
    du_k, db_k = np.zeros(K * C, dh.dtype), np.zeros(K * C, dh.dtype)
    for g in prange(n_groups):
        k0, k1 = g * per_group, min((g + 1) * per_group, K)
        for k in range(k0, k1):
            for j in range(C):
                after[k * C + j] = uc[j] * after[k * C + j]
        for s in range(L - 1, -1, -1):
            for k in range(k0, k1):
                t = k * L + s
                if t < T:
                    fk, xt = uint64(k * C), uint64(t * C)
                    for j in range(Cu):
                        i, o = fk + j, xt + j
                        h_prev = h1[o - Cu] if t > 0 else h0c[j]  # h_{t-1}
                        # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t)
                        v = (g1[o] + after[i]) * _derivative(h1[o], act)
                        da1[o] = v
                        du_k[i] += v * h_prev  # ∂a_t/∂u = h_{t-1}
                        db_k[i] += v  # ∂a_t/∂b = 1
                        after[i] = uc[j] * v  # ∂a_t/∂h_{t-1} = u
    # 4. as forward: a column whose replayed δ at a chunk's first step is inf or NaN where the carry the
    # chunk before started from is finite (or the other way round) is the loop from there down to step 0
    diverged = np.zeros(C, np.bool_)
    for k in range(K - 2, -1, -1):
        t1 = (k + 1) * L
        any_diverged = False
        for j in range(C):
            diverged[j] |= not _same_kind(da1[t1 * C + j], start[k * C + j], inf)
            any_diverged |= diverged[j]
        if any_diverged:
            for j in range(C):
                if diverged[j]:
                    i = k * C + j
                    after[i] = uc[j] * da1[t1 * C + j]
                    du_k[i] = zero
                    db_k[i] = zero
            for t in range(t1 - 1, k * L - 1, -1):
                for j in range(C):
                    if diverged[j]:
                        i, o = k * C + j, t * C + j
                        h_prev = h1[o - C] if t > 0 else h0c[j]
                        v = (g1[o] + after[i]) * _derivative(h1[o], act)
                        da1[o] = v
                        du_k[i] += v * h_prev
                        db_k[i] += v
                        after[i] = uc[j] * v
    # the chunks' sums in chunk order; dh0 = u δ_0, chunk 0's final carry
    du2, db2, dh02 = du_part.reshape(C), db_part.reshape(C), dh0.reshape(C)
    for j in range(C):
        du2[j] = du_k[j]
        db2[j] = db_k[j]
        dh02[j] = after[j]
    for k in range(1, K):
        for j in range(C):
            du2[j] += du_k[k * C + j]
            db2[j] += db_k[k * C + j]


# Batch norm over rows: one mean and variance per feature over every row of a
# (R, N) array (BN over time views a (T, B, N) array as (T*B, N)). Their NumPy
# reference is the general expression in indrnn_np.ops.batchnorm_forward and
# batchnorm_backward (backend="numpy"), which the tests compare them with.
# The rows are cut into fixed blocks of config.CPU_BN_ROWS (not one block per
# thread), so the sums, and the results to the last bit, do not depend on how
# many threads run them. Each block sums in float64; the blocks' partial sums
# are then added in order.


@njit(**_JIT)
def _row_sums(x, mean, inv_std, dy, mode):
    """Per-block float64 sums over rows, (n_blocks, 2, N).

    mode 0: Σ x;  mode 1: Σ (x - μ)²;  mode 2: Σ dy and Σ dy x̂.
    """
    R, N = x.shape
    rows = config.CPU_BN_ROWS
    n_blocks = (R + rows - 1) // rows
    part = np.zeros((n_blocks, 2, N))
    for k in prange(n_blocks):
        s0, s1 = part[k, 0], part[k, 1]
        for r in range(k * rows, min((k + 1) * rows, R)):
            x_r = x[r]
            if mode == 0:
                for j in range(N):
                    s0[j] += x_r[j]
            elif mode == 1:
                for j in range(N):
                    c = x_r[j] - mean[j]
                    s0[j] += c * c
            else:
                dy_r = dy[r]
                for j in range(N):
                    g = np.float64(dy_r[j])
                    s0[j] += g
                    s1[j] += g * ((x_r[j] - mean[j]) * inv_std[j])
    return part


@njit(**_JIT)
def batchnorm_rows_forward(x, gamma, beta, eps, y, mean, var):
    """Training-mode batch norm of the rows of ``x``, written into ``y``.

    Parameters
    ----------
    x : ndarray, (R, N)
    gamma, beta : ndarray, (N,)
    eps : float
    y : ndarray, (R, N), written: ``γ (x - μ) / √(σ² + ε) + β``
    mean, var : ndarray, (N,) float64, written: μ and the biased batch variance σ².
    """
    R, N = x.shape
    mean[:] = _row_sums(x, mean, var, x, 0)[:, 0].sum(axis=0) / R
    var[:] = _row_sums(x, mean, var, x, 1)[:, 0].sum(axis=0) / R
    inv_std = 1.0 / np.sqrt(var + eps)
    # in x's dtype; x - μ first, so a large mean does not cancel against a large shift
    mu, scale = mean.astype(x.dtype), (gamma * inv_std).astype(x.dtype)
    for r in prange(R):
        x_r, y_r = x[r], y[r]
        for j in range(N):
            y_r[j] = (x_r[j] - mu[j]) * scale[j] + beta[j]


@njit(**_JIT)
def batchnorm_rows_backward(dy, x, mean, inv_std, gamma, dx, dgamma, dbeta):
    """Backward of :func:`batchnorm_rows_forward`, written into ``dx``, ``dgamma``, ``dbeta``.

    With x̂ = (x - μ) / σ and R rows:
    ``∂J/∂x = γ / σ · (∂J/∂y - Σ ∂J/∂y / R - x̂ · Σ(∂J/∂y x̂) / R)``,
    ``∂J/∂γ = Σ ∂J/∂y x̂``, ``∂J/∂β = Σ ∂J/∂y`` (sums over the rows).

    Parameters
    ----------
    dy, x : ndarray, (R, N)
    mean, inv_std : ndarray, (N,) float64, from the forward pass
    gamma : ndarray, (N,)
    dx : ndarray, (R, N), written
    dgamma, dbeta : ndarray, (N,) float64, written
    """
    R, N = x.shape
    part = _row_sums(x, mean, inv_std, dy, 2)
    dbeta[:] = part[:, 0].sum(axis=0)
    dgamma[:] = part[:, 1].sum(axis=0)
    # ∂J/∂x = a ∂J/∂y + c (x - μ) + d, with a = γ/σ, c = -a Σ(∂J/∂y x̂)/R / σ, d = -a Σ ∂J/∂y / R
    a = gamma * inv_std
    c = -a * (dgamma / R) * inv_std
    d = -a * (dbeta / R)
    mu, a_t, c_t, d_t = mean.astype(x.dtype), a.astype(dx.dtype), c.astype(dx.dtype), d.astype(dx.dtype)
    for r in prange(R):
        dy_r, x_r, dx_r = dy[r], x[r], dx[r]
        for j in range(N):
            dx_r[j] = a_t[j] * dy_r[j] + c_t[j] * (x_r[j] - mu[j]) + d_t[j]


# --------------------------------------------------------------------------
# The optimizer update (see the reference for the order of operations)
# --------------------------------------------------------------------------
# Serial: a parameter of the paper's models is at most a few million values, one pass over it takes
# well under a millisecond, and a thread pool's start would cost more. The scalars arrive in the
# parameter's dtype (the op layer casts them), so a float32 update stays in float32.

_SERIAL = dict(fastmath=set(config.CPU_FASTMATH), cache=config.CPU_CACHE, nogil=True)


@njit(**_SERIAL)
def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` in float64; see the reference."""
    raw = 0.0
    clipped = 0.0
    for i in range(g.size):
        x = np.float64(g[i])
        raw += x * x
        if clip > 0:
            x = min(max(x, -clip), clip)
        clipped += x * x
    return raw, clipped


@njit(inline="always")
def _effective(p, g, clip, scale, wd):
    if clip > zero_of(clip):
        g = min(max(g, -clip), clip)
    return g * scale + wd * p


@njit(inline="always")
def _project(p, lo, hi):
    # as np.clip (and the scan's clamp, the reference's min(max(p, lo), hi)): NaN stays NaN
    if p < lo:
        return lo
    if p > hi:
        return hi
    return p


@njit(**_SERIAL)
def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam and the projection in one pass; see the reference."""
    one = one_of(lr)
    for i in range(p.size):
        ge = _effective(p[i], g[i], clip, scale, wd)
        mi = m[i] * beta1 + (one - beta1) * ge
        vi = v[i] * beta2 + (one - beta2) * ge * ge
        m[i] = mi
        v[i] = vi
        p[i] = _project(p[i] - lr * (mi / c1) / (np.sqrt(vi / c2) + eps), lo, hi)


@njit(**_SERIAL)
def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum and the projection in one pass; see the reference."""
    for i in range(p.size):
        vi = vel[i] * momentum + _effective(p[i], g[i], clip, scale, wd)
        vel[i] = vi
        p[i] = _project(p[i] - lr * vi, lo, hi)


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
@njit(fastmath=set(config.CPU_FASTMATH) | {"reassoc"}, cache=config.CPU_CACHE, nogil=True)
def _dot(a, b):
    """``Σ_j a[j] b[j]`` of two rows (N,)."""
    s = a.dtype.type(0)  # 0 of a's dtype (an empty row too)
    for j in range(a.size):
        s += a[j] * b[j]
    return s


@njit(**_JIT)
def fused_forward(x, W, u, b, h0, act, h):
    """Forward with ``W x_t`` computed inside the time loop; see :func:`indrnn_np.kernels.reference.fused_forward`.

    Needs M >= 1.
    """
    T, B, M = x.shape
    N = W.shape[1]
    rows, n_tasks = _row_tasks(B, N)
    for task in prange(n_tasks):
        r0 = task * rows
        r1 = min(r0 + rows, B)
        a = np.empty(N, h.dtype)  # W x_t of one row
        for t in range(T):
            for bi in range(r0, r1):
                x_t = x[t, bi]
                # W x_t: one pass per input feature
                w, x_m = W[0], x_t[0]
                for j in range(N):
                    a[j] = x_m * w[j]
                for m in range(1, M):
                    w, x_m = W[m], x_t[m]
                    for j in range(N):
                        a[j] += x_m * w[j]
                _forward_finish(a, u, h[t - 1, bi] if t > 0 else h0[bi], b, act, h[t, bi])


@njit(**_JIT)
def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0):
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
        for t in range(T - 1, -1, -1):
            for bi in range(r0, r1):
                h_prev = h[t - 1, bi] if t > 0 else h0[bi]
                _backward_row(dh[t, bi], h[t, bi], h_prev, u, act, da, dh0[bi], du_part[bi], db_part[bi])
                x_t = x[t, bi]
                for m in range(M):
                    dW_s, x_m = dW_part[bi, m], x_t[m]
                    for j in range(N):
                        dW_s[j] += x_m * da[j]  # ∂a_t[n]/∂W[m, n] = x_t[m]
                    if dx is not None:
                        # ∂J/∂x_t[m] = Σ_n ∂J/∂a_t[n] W[m, n]
                        dx[t, bi, m] = _dot(da, W[m])
