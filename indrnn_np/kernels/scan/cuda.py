"""The scan over time in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

Three kernels each way over (chunk, column) pairs, and a check. Thread i takes chunk k = i // C and
column j = i % C (C = B·N), so consecutive threads read consecutive columns of the same step:
coalesced, as in the recurrence. The carries walk the K chunks of one column in one thread (K is at
most a few thousand cheap steps). Then the check of each chunk's replayed end against the next
chunk's carry, one (chunk, column) thread a boundary, leaves each column's first disagreement in an
int array (atomic min: no order to depend on), and one thread a column runs the loop from there (one
read where every number stayed finite).
"""

from __future__ import annotations

from numba import cuda

from ... import config
from .._cuda import INF, ONE, ZERO, device_array
from ..elementwise.cuda import int_fill, reduce_rows
from ..launch import blocks
from ..recurrence.cuda import activate, derivative
from .reference import cancellation_limit

# ---- the scan (see the reference): three kernels each way over (chunk, column) pairs, and a check
# Thread i takes chunk k = i // C and column j = i % C (C = B·N), so consecutive threads read
# consecutive columns of the same step: coalesced, as in ``forward``. The carries walk the K
# chunks of one column in one thread (K is at most a few thousand cheap steps). Then the check of
# each chunk's replayed end against the next chunk's carry, one (chunk, column) thread a boundary,
# leaves each column's first disagreement in an int array (atomic min: no order to depend on), and
# one thread a column runs the loop from there (one read where every number stayed finite).


@cuda.jit(device=True, inline=True)
def chunk_column(i, C, N):
    """Thread item i of K·C -> (chunk k, column j, its batch row, its neuron)."""
    j = i % C
    return i // C, j, j // N, j % N


@cuda.jit
def scan_compose(xw, u, b, act, L, Fa, Fc, Flo, Fhi):
    T, B, N = xw.shape
    K, C = Fa.shape
    lower = ZERO if act == 1 else -INF
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        un = u[n]
        a, c, lo, hi = ONE, ZERO, -INF, INF
        for t in range(k * L, min((k + 1) * L, T)):
            z = xw[t, bi, n] + b[n]
            # F <- f_t o F: the ends of u·[lo, hi] + z (swapped for u < 0; both z for u = 0 or z = ±inf)
            if un == ZERO or abs(z) == INF:
                e1 = z
                e2 = z
            elif un > ZERO:
                e1 = un * lo + z
                e2 = un * hi + z
            else:
                e1 = un * hi + z
                e2 = un * lo + z
            lo = e1 if not e1 < lower else lower  # max(e1, lower); NaN kept
            hi = e2 if not e2 < lower else lower
            if lo == hi:  # a constant map: (0, lo, lo, lo), no infinite slope carried on
                a = ZERO
                c = lo
            else:
                a = un * a
                c = un * c + z
        Fa[k, j], Fc[k, j], Flo[k, j], Fhi[k, j] = a, c, lo, hi


@cuda.jit
def scan_carry(xw, u, b, h0, act, L, limit, Fa, Fc, Flo, Fhi, entering):
    # limit: a·s + c below |c| / limit kept less than half its digits (reference.cancellation_limit)
    T, B, N = xw.shape
    K, C = Fa.shape
    for j in range(cuda.grid(1), C, cuda.gridsize(1)):
        bi = j // N
        n = j % N
        state = h0[bi, n]
        for k in range(K):
            entering[k, j] = state
            v = Fa[k, j] * state + Fc[k, j]
            if abs(v) < INF and abs(Fc[k, j]) <= limit * abs(v):
                if v < Flo[k, j]:
                    v = Flo[k, j]
                if v > Fhi[k, j]:
                    v = Fhi[k, j]
                state = v
            else:  # the map's slope or offset overflowed (|u| > 1), a non-finite state, or a·s and c
                # cancelled to less than half their digits: step through the chunk
                for t in range(k * L, min((k + 1) * L, T)):
                    state = activate(xw[t, bi, n] + u[n] * state + b[n], act)


@cuda.jit
def scan_replay(xw, u, b, act, L, entering, h):
    T, B, N = xw.shape
    K, C = entering.shape
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        un = u[n]
        bn = b[n]
        h_prev = entering[k, j]
        for t in range(k * L, min((k + 1) * L, T)):
            # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
            h_prev = activate(xw[t, bi, n] + un * h_prev + bn, act)
            h[t, bi, n] = h_prev


@cuda.jit(device=True, inline=True)
def same_kind(x, y):
    # both finite, both NaN, or the same infinity (see reference.same_kind)
    return x == y or (abs(x) < INF and abs(y) < INF) or (x != x and y != y)


@cuda.jit
def scan_check(entering, h, L, first_bad):
    """Phase 4 (see the reference), over (chunk, column) pairs: where chunk k - 1's replayed end and
    chunk k's carry are not both finite, both NaN or the same infinity, ``first_bad[j]`` becomes the
    smallest such k (it starts at K: none)."""
    K, C = entering.shape
    N = h.shape[2]
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        if k > 0 and not same_kind(h[k * L - 1, bi, n], entering[k, j]):
            cuda.atomic.min(first_bad, j, k)


@cuda.jit
def scan_fix(xw, u, b, act, L, first_bad, h):
    """From chunk ``first_bad[j]`` on, column j is the loop: each chunk replays from the end of the one
    before (nothing to do, one read, where every number stayed finite)."""
    T, B, N = xw.shape
    for j in range(cuda.grid(1), first_bad.size, cuda.gridsize(1)):
        bi = j // N
        n = j % N
        k0 = first_bad[j]
        if k0 * L < T:
            state = h[k0 * L - 1, bi, n]
            for t in range(k0 * L, T):
                state = activate(xw[t, bi, n] + u[n] * state + b[n], act)
                h[t, bi, n] = state


@cuda.jit
def scan_compose_back(dh, h, u, act, L, A, Cc):
    T, B, N = dh.shape
    K, C = A.shape
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        un = u[n]
        a, c = ONE, ZERO
        for t in range(min((k + 1) * L, T) - 1, k * L - 1, -1):
            # δ_t = m_t u δ_{t+1} + m_t g_t, composed after the map so far
            m = derivative(h[t, bi, n], act)
            a = m * un * a
            c = m * (un * c + dh[t, bi, n])
        A[k, j], Cc[k, j] = a, c


@cuda.jit
def scan_carry_back(dh, h, u, act, L, limit, A, Cc, after):
    T, B, N = dh.shape
    K, C = A.shape
    for j in range(cuda.grid(1), C, cuda.gridsize(1)):
        bi = j // N
        n = j % N
        d = ZERO
        for k in range(K - 1, -1, -1):
            after[k, j] = d
            v = A[k, j] * d + Cc[k, j]
            if abs(v) < INF and abs(Cc[k, j]) <= limit * abs(v):
                d = v
            else:  # overflowed slope or offset (|u| > 1), a non-finite δ, or A δ and Cc cancelled to
                # less than half their digits: step through the chunk
                for t in range(min((k + 1) * L, T) - 1, k * L - 1, -1):
                    d = derivative(h[t, bi, n], act) * (dh[t, bi, n] + u[n] * d)


@cuda.jit
def scan_replay_back(dh, h, u, h0, act, L, after, da, du_k, db_k, dh0):
    T, B, N = dh.shape
    K, C = after.shape
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        un = u[n]
        carry = un * after[k, j]  # u ⊙ ∂J/∂a_{t+1}
        du_acc = ZERO
        db_acc = ZERO
        end = min((k + 1) * L, T)
        h_t = h[end - 1, bi, n] if end > k * L else ZERO  # then h_{t-1} of one step is h_t of the next
        for t in range(end - 1, k * L - 1, -1):
            # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t)
            g = (dh[t, bi, n] + carry) * derivative(h_t, act)
            da[t, bi, n] = g
            h_t = h[t - 1, bi, n] if t > 0 else h0[bi, n]  # h_{t-1}
            du_acc += g * h_t  # ∂a_t/∂u = h_{t-1}
            db_acc += g  # ∂a_t/∂b = 1
            carry = un * g  # ∂a_t/∂h_{t-1} = u
        du_k[k, j] = du_acc
        db_k[k, j] = db_acc
        if k == 0:
            dh0[bi, n] = carry


@cuda.jit
def scan_check_back(after, da, L, last_bad):
    """Phase 4 backward, over (chunk, column) pairs: where the δ replayed at chunk k's first step and
    the carry chunk k - 1 started from are not both finite, both NaN or the same infinity,
    ``last_bad[j]`` becomes the largest such k (it starts at 0: none)."""
    K, C = after.shape
    N = da.shape[2]
    for i in range(cuda.grid(1), K * C, cuda.gridsize(1)):
        k, j, bi, n = chunk_column(i, C, N)
        if k > 0 and not same_kind(da[k * L, bi, n], after[k - 1, j]):
            cuda.atomic.max(last_bad, j, k)


@cuda.jit
def scan_fix_back(dh, h, u, h0, act, L, last_bad, da, du_k, db_k, dh0):
    """From chunk ``last_bad[j] - 1`` down to chunk 0, column j is the loop: each chunk replays from the
    δ at the first step of the one after it, and its du and db sums are redone."""
    T, B, N = dh.shape
    for j in range(cuda.grid(1), last_bad.size, cuda.gridsize(1)):
        bi = j // N
        n = j % N
        un = u[n]
        carry = un * da[last_bad[j] * L, bi, n]  # u ⊙ ∂J/∂a_{t+1}
        for k in range(last_bad[j] - 1, -1, -1):
            du_acc = ZERO
            db_acc = ZERO
            for t in range((k + 1) * L - 1, k * L - 1, -1):
                g = (dh[t, bi, n] + carry) * derivative(h[t, bi, n], act)
                da[t, bi, n] = g
                h_prev = h[t - 1, bi, n] if t > 0 else h0[bi, n]
                du_acc += g * h_prev
                db_acc += g
                carry = un * g
            du_k[k, j] = du_acc
            db_k[k, j] = db_acc
            if k == 0:
                dh0[bi, n] = carry


def scan_layout(T: int, C: int) -> tuple[int, int]:
    """``(K, L)``: the GPU scan's chunks and steps per chunk for T steps of C = B·N columns.

    K · C about :data:`config.CUDA_SCAN_THREADS` threads (K at most T // ``CUDA_SCAN_MIN_STEPS``).
    """
    K = max(1, -(-config.CUDA_SCAN_THREADS // C))
    K = max(1, min(K, T // config.CUDA_SCAN_MIN_STEPS))
    L = -(-T // K)
    return -(-T // L), L


def scan_forward(xw, u, b, h0, act, h):
    """The forward recurrence as a chunked scan on the GPU (relu or identity); the same h as
    :func:`recurrence_forward`. See :func:`indrnn_np.kernels.reference.scan_forward`."""
    T, B, N = xw.shape
    C = B * N
    K, L = scan_layout(T, C)
    Fa, Fc, Flo, Fhi, entering = (device_array((K, C), dtype=xw.dtype) for _ in range(5))
    grid, tpb = blocks(K * C)
    scan_compose[grid, tpb](xw, u, b, act, L, Fa, Fc, Flo, Fhi)
    cgrid, ctpb = blocks(C)
    scan_carry[cgrid, ctpb](xw, u, b, h0, act, L, cancellation_limit(xw.dtype), Fa, Fc, Flo, Fhi, entering)
    scan_replay[grid, tpb](xw, u, b, act, L, entering, h)
    first_bad = int_fill(C, K)
    scan_check[grid, tpb](entering, h, L, first_bad)
    scan_fix[cgrid, ctpb](xw, u, b, act, L, first_bad, h)


def scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT as a chunked scan on the GPU; the same outputs as :func:`recurrence_backward`
    (per-column sums in du_part, db_part (B, N): the chunks' sums added in chunk order)."""
    T, B, N = dh.shape
    C = B * N
    K, L = scan_layout(T, C)
    A, Cc, after, du_k, db_k = (device_array((K, C), dtype=dh.dtype) for _ in range(5))
    grid, tpb = blocks(K * C)
    scan_compose_back[grid, tpb](dh, h, u, act, L, A, Cc)
    cgrid, ctpb = blocks(C)
    scan_carry_back[cgrid, ctpb](dh, h, u, act, L, cancellation_limit(dh.dtype), A, Cc, after)
    scan_replay_back[grid, tpb](dh, h, u, h0, act, L, after, da, du_k, db_k, dh0)
    last_bad = int_fill(C, 0)
    scan_check_back[grid, tpb](after, da, L, last_bad)
    scan_fix_back[cgrid, ctpb](dh, h, u, h0, act, L, last_bad, da, du_k, db_k, dh0)
    reduce_rows(du_k, du_part.reshape(C))
    reduce_rows(db_k, db_part.reshape(C))
