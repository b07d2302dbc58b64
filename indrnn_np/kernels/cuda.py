"""Numba CUDA twins of :mod:`indrnn_np.kernels.reference` and :mod:`.cpu`.

Same names, same arguments. The layout is the one the paper's authors used
to make IndRNN fast on a GPU:

* **one thread per (b, n) column**, walking the time loop inside the thread.
  Consecutive threads take consecutive n, so at every step a warp reads 32
  neighbouring floats of the time-major (T, B, N) arrays: coalesced loads.
  No thread ever reads another column (u is a vector), so there is no
  synchronisation at all inside the recurrence;
* **backward** runs the loop in reverse, recomputes the ReLU mask from the
  saved h, and keeps each column's running sums of ``∂J/∂a_t · h_{t-1}``
  (for du) and ``∂J/∂a_t`` (for db) in registers. Summing them over the batch
  is a **deterministic two-stage reduction**: each thread writes its column's
  sums to ``du_part``/``db_part`` (B, N), and a second kernel, one thread per
  neuron, adds the B rows in a fixed order. ``cuda.atomic.add`` into (N,)
  would need no second kernel, but float additions in whatever order the
  threads arrive give results that change in the last bits from run to run;
  :data:`indrnn_np.config.CUDA_REDUCTION` selects ``"atomic"`` for comparison;
* **the GEMMs** (``W x_t`` for all steps, dW, dx) use a shared-memory tiled
  matrix multiply written to be read: each block computes one TILE×TILE tile
  of C, loading matching tiles of A and B into shared memory, with
  ``syncthreads`` before the tiles are used and again before they are
  overwritten, and zero padding at the edges.

Every kernel is built per dtype with constants of that dtype
(``numba.float32(0)`` in the float32 kernels): a plain ``0.0``, ``1`` or
``a * 0`` is float64 on the device and silently promotes a float32 kernel's
arithmetic, while Numba's CUDA simulator computes in the array's dtype, so
the simulator would not show the difference; the tests compile every float32
kernel to PTX and find no ``.f64`` instruction.

Launches fit any size: the recurrence kernels are grid-stride loops, the GEMM
puts its row tiles (T·B rows) on grid.x, and the sizes from
:mod:`indrnn_np.config` (read at every launch) are checked against CUDA's
limits (:func:`check_launch_config`). The GEMM's loads are coalesced for
transposed operands too, and dW, whose output is small and whose K = T·B is
long, is split over K (:func:`split_k`) and summed in a fixed order.
"""

from __future__ import annotations

import functools
import math
import time
from types import SimpleNamespace
from typing import NamedTuple

import numba
import numpy as np
from numba import cuda

from .. import config
from .._checks import is_device_array

_DTYPES = {np.dtype(np.float32): numba.float32, np.dtype(np.float64): numba.float64}


def unavailable_reason() -> str | None:
    """None when CUDA kernels can run here (a GPU, or the simulator); otherwise why not."""
    try:
        if cuda.is_available():
            return None
        return "numba.cuda.is_available() is False: no CUDA driver or GPU was found"
    except Exception as exc:  # pragma: no cover - depends on the machine's driver
        return f"{type(exc).__name__}: {exc}"


def simulator_enabled() -> bool:
    """True when Numba runs CUDA kernels in its CPU simulator (NUMBA_ENABLE_CUDASIM=1)."""
    return bool(numba.config.ENABLE_CUDASIM)


# --------------------------------------------------------------------------
# Launch arithmetic (pure functions, tested at sizes no test could run)
# --------------------------------------------------------------------------
#: CUDA's limits: blocks along grid.x, blocks along grid.y and grid.z (threads a block: config).
MAX_GRID_X = 2**31 - 1
MAX_GRID_YZ = 65535
#: At most this many blocks for a grid-stride loop: enough to fill any current GPU many times over.
MAX_STRIDE_BLOCKS = 65535


check_launch_config = config.check_cuda_launch


def launch_1d(n_threads: int, threads_per_block: int) -> tuple[int, int]:
    """(blocks, threads per block) of a grid-stride loop over ``n_threads`` items.

    The kernels loop ``for i in range(cuda.grid(1), n, cuda.gridsize(1))``,
    so any n fits: the blocks are capped at :data:`MAX_STRIDE_BLOCKS` and
    each thread then takes several items.
    """
    check_launch_config(threads_per_block, 1)
    blocks = max(1, min((n_threads + threads_per_block - 1) // threads_per_block, MAX_STRIDE_BLOCKS))
    return blocks, threads_per_block


def gemm_grid(R: int, S: int, tile: int, splits: int = 1) -> tuple[int, int, int]:
    """Grid of the tiled GEMM for C (R, S): row tiles on grid.x (the long axis: T·B), column tiles on
    grid.y, the K splits on grid.z. ValueError when a dimension exceeds CUDA's limits."""
    check_launch_config(1, tile)
    grid = ((R + tile - 1) // tile, (S + tile - 1) // tile, splits)
    if grid[0] > MAX_GRID_X or grid[1] > MAX_GRID_YZ or not 1 <= grid[2] <= MAX_GRID_YZ:
        raise ValueError(
            f"GEMM of ({R}, {S}) with tile {tile} and {splits} splits needs grid {grid}: too large"
        )
    return grid


def split_k(K: int, R: int, S: int, tile: int) -> int:
    """How many K-ranges a GEMM with a small output (dW: M x N) but a long K (T·B) is cut into.

    Enough blocks to occupy a large GPU (about 1024) when the output alone
    gives few, and at least 1024 values of K per split.
    """
    tiles = ((R + tile - 1) // tile) * ((S + tile - 1) // tile)
    return int(max(1, min(1024 // max(tiles, 1), K // 1024, MAX_GRID_YZ)))


# --------------------------------------------------------------------------
# Recurrence kernels: one thread per (b, n) column, compiled per dtype
# --------------------------------------------------------------------------
# Constants of the kernel's own dtype (ZERO, ONE below are numba.float32(0) in the float32 kernels): a
# literal 0 or 1, or ``a * 0``, mixed with a float32 is typed float64 by Numba and would carry the
# whole column's arithmetic into double precision (the simulator would not show it: it computes in
# NumPy). tests/test_cuda.py compiles every float32 kernel to PTX and finds no .f64 instruction.


def _once_per_dtype(build):
    """Cache ``build(dtype)`` by the NumPy dtype, so that ``"float32"`` and ``np.float32`` share one set
    of compiled kernels."""
    cache: dict = {}

    @functools.wraps(build)
    def kernels(dtype):
        key = np.dtype(dtype)
        if key not in cache:
            cache[key] = build(key)
        return cache[key]

    return kernels


@_once_per_dtype
def recurrence_kernels(dtype):
    """The recurrence kernels of one dtype (compiled lazily by Numba, built once per dtype).

    Returns
    -------
    SimpleNamespace
        ``forward``, ``backward``, ``backward_atomic``, ``reduce_rows``, ``sum_splits``, ``fill``,
        and the scan's ``scan_compose``, ``scan_carry``, ``scan_replay``, ``scan_check``, ``scan_fix``
        and their ``*_back`` twins.
    """
    nb = _DTYPES[dtype]
    ZERO, ONE, INF = nb(0), nb(1), nb(math.inf)
    # the scan's carry: a·s + c below |c| / LIMIT kept less than half its digits (reference.cancellation_limit)
    LIMIT = nb(2.0**26 if dtype == np.float64 else 2.0**12)

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

    @cuda.jit
    def forward(xw, u, b, h0, act, h):
        T, B, N = xw.shape
        # flattened (b, n), a grid-stride loop; consecutive threads -> consecutive n (coalesced)
        for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
            bi = col // N
            n = col % N
            un = u[n]
            bn = b[n]
            h_prev = h0[bi, n]
            for t in range(T):
                # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                h_prev = activate(xw[t, bi, n] + un * h_prev + bn, act)
                h[t, bi, n] = h_prev

    @cuda.jit(device=True, inline=True)
    def column_backward(dh, h, u, h0, act, da, bi, n):
        """BPTT of one (b, n) column: writes da[:, b, n]; returns (dh0, du, db) of the column."""
        T = dh.shape[0]
        un = u[n]
        carry = ZERO  # u ⊙ ∂J/∂a_{t+1}
        du_acc = ZERO
        db_acc = ZERO
        # h_{t-1} of one step is h_t of the next: one load of h a step, and 54 registers a thread on sm_90
        # rather than 90 to 92 with h_t loaded again (tests/test_cuda_static.py, docs/site/results/gpu.md)
        h_t = h[T - 1, bi, n] if T > 0 else ZERO
        for t in range(T - 1, -1, -1):
            # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t), σ' recomputed from h_t
            g = (dh[t, bi, n] + carry) * derivative(h_t, act)
            da[t, bi, n] = g
            h_t = h[t - 1, bi, n] if t > 0 else h0[bi, n]  # h_{t-1}: the next step's h_t
            du_acc += g * h_t  # ∂a_t/∂u = h_{t-1}
            db_acc += g  # ∂a_t/∂b = 1
            carry = un * g  # ∂a_t/∂h_{t-1} = u
        return carry, du_acc, db_acc

    @cuda.jit
    def backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
        T, B, N = dh.shape
        for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
            bi = col // N
            n = col % N
            dh0[bi, n], du_part[bi, n], db_part[bi, n] = column_backward(dh, h, u, h0, act, da, bi, n)

    @cuda.jit
    def backward_atomic(dh, h, u, h0, act, da, dh0, du, db):
        """Like ``backward``, but adds each column's sums into du, db (N,) with atomics."""
        T, B, N = dh.shape
        for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
            bi = col // N
            n = col % N
            carry, du_acc, db_acc = column_backward(dh, h, u, h0, act, da, bi, n)
            dh0[bi, n] = carry
            cuda.atomic.add(du, n, du_acc)
            cuda.atomic.add(db, n, db_acc)

    @cuda.jit
    def reduce_rows(part, out):
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
    def scan_carry(xw, u, b, h0, act, L, Fa, Fc, Flo, Fhi, entering):
        T, B, N = xw.shape
        K, C = Fa.shape
        for j in range(cuda.grid(1), C, cuda.gridsize(1)):
            bi = j // N
            n = j % N
            state = h0[bi, n]
            for k in range(K):
                entering[k, j] = state
                v = Fa[k, j] * state + Fc[k, j]
                if abs(v) < INF and abs(Fc[k, j]) <= LIMIT * abs(v):
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
    def scan_carry_back(dh, h, u, act, L, A, Cc, after):
        T, B, N = dh.shape
        K, C = A.shape
        for j in range(cuda.grid(1), C, cuda.gridsize(1)):
            bi = j // N
            n = j % N
            d = ZERO
            for k in range(K - 1, -1, -1):
                after[k, j] = d
                v = A[k, j] * d + Cc[k, j]
                if abs(v) < INF and abs(Cc[k, j]) <= LIMIT * abs(v):
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

    return SimpleNamespace(
        activate=activate,  # the device functions, for fused_kernels() at the end of this module
        derivative=derivative,
        forward=forward,
        backward=backward,
        backward_atomic=backward_atomic,
        reduce_rows=reduce_rows,
        sum_splits=sum_splits,
        fill=fill,
        scan_compose=scan_compose,
        scan_carry=scan_carry,
        scan_replay=scan_replay,
        scan_compose_back=scan_compose_back,
        scan_carry_back=scan_carry_back,
        scan_replay_back=scan_replay_back,
        scan_check=scan_check,
        scan_fix=scan_fix,
        scan_check_back=scan_check_back,
        scan_fix_back=scan_fix_back,
    )


def _blocks(n_threads: int) -> tuple[int, int]:
    return launch_1d(n_threads, config.CUDA_THREADS_PER_BLOCK)


def recurrence_forward(xw, u, b, h0, act, h):
    """Forward recurrence on the GPU; arrays are device arrays (or host arrays, copied)."""
    T, B, N = xw.shape
    grid, tpb = _blocks(B * N)
    recurrence_kernels(xw.dtype).forward[grid, tpb](xw, u, b, h0, act, h)


def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT on the GPU: per-column sums into du_part, db_part (B, N), as the other backends."""
    T, B, N = dh.shape
    grid, tpb = _blocks(B * N)
    recurrence_kernels(dh.dtype).backward[grid, tpb](dh, h, u, h0, act, da, dh0, du_part, db_part)


def recurrence_backward_sums(dh, h, u, h0, act, algorithm="sequential"):
    """BPTT of the recurrence alone on device arrays: ``(da (T, B, N), du (N,), db (N,), dh0 (B, N))``,
    the batch sums reduced as :data:`config.CUDA_REDUCTION` says (``algorithm="scan"``: always the
    two-stage sums, after the chunks' sums)."""
    T, B, N = dh.shape
    da = cuda.device_array((T, B, N), dtype=dh.dtype)
    dh0 = cuda.device_array((B, N), dtype=dh.dtype)
    if algorithm == "scan":
        du, db = cuda.device_array(N, dtype=dh.dtype), cuda.device_array(N, dtype=dh.dtype)
        du_part = cuda.device_array((B, N), dtype=dh.dtype)
        db_part = cuda.device_array((B, N), dtype=dh.dtype)
        scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)
        reduce_rows(du_part, du)
        reduce_rows(db_part, db)
        return da, du, db, dh0
    if config.cuda_reduction() == "atomic":
        du, db = zeros(N, dh.dtype), zeros(N, dh.dtype)
        grid, tpb = _blocks(B * N)
        recurrence_kernels(dh.dtype).backward_atomic[grid, tpb](dh, h, u, h0, act, da, dh0, du, db)
        return da, du, db, dh0
    du, db = cuda.device_array(N, dtype=dh.dtype), cuda.device_array(N, dtype=dh.dtype)
    du_part = cuda.device_array((B, N), dtype=dh.dtype)
    db_part = cuda.device_array((B, N), dtype=dh.dtype)
    recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)
    reduce_rows(du_part, du)
    reduce_rows(db_part, db)
    return da, du, db, dh0


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
    kern = recurrence_kernels(xw.dtype)
    Fa, Fc, Flo, Fhi, entering = (cuda.device_array((K, C), dtype=xw.dtype) for _ in range(5))
    grid, tpb = _blocks(K * C)
    kern.scan_compose[grid, tpb](xw, u, b, act, L, Fa, Fc, Flo, Fhi)
    cgrid, ctpb = _blocks(C)
    kern.scan_carry[cgrid, ctpb](xw, u, b, h0, act, L, Fa, Fc, Flo, Fhi, entering)
    kern.scan_replay[grid, tpb](xw, u, b, act, L, entering, h)
    first_bad = _int_fill(C, K)
    kern.scan_check[grid, tpb](entering, h, L, first_bad)
    kern.scan_fix[cgrid, ctpb](xw, u, b, act, L, first_bad, h)


def scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT as a chunked scan on the GPU; the same outputs as :func:`recurrence_backward`
    (per-column sums in du_part, db_part (B, N): the chunks' sums added in chunk order)."""
    T, B, N = dh.shape
    C = B * N
    K, L = scan_layout(T, C)
    kern = recurrence_kernels(dh.dtype)
    A, Cc, after, du_k, db_k = (cuda.device_array((K, C), dtype=dh.dtype) for _ in range(5))
    grid, tpb = _blocks(K * C)
    kern.scan_compose_back[grid, tpb](dh, h, u, act, L, A, Cc)
    cgrid, ctpb = _blocks(C)
    kern.scan_carry_back[cgrid, ctpb](dh, h, u, act, L, A, Cc, after)
    kern.scan_replay_back[grid, tpb](dh, h, u, h0, act, L, after, da, du_k, db_k, dh0)
    last_bad = _int_fill(C, 0)
    kern.scan_check_back[grid, tpb](after, da, L, last_bad)
    kern.scan_fix_back[cgrid, ctpb](dh, h, u, h0, act, L, last_bad, da, du_k, db_k, dh0)
    reduce_rows(du_k, du_part.reshape(C))
    reduce_rows(db_k, db_part.reshape(C))


@functools.cache
def _int_kernels():
    @cuda.jit
    def fill(a, value):
        for i in range(cuda.grid(1), a.size, cuda.gridsize(1)):
            a[i] = value

    return SimpleNamespace(fill=fill)


def _int_fill(n: int, value: int):
    """An int64 device array of n copies of value, filled on the device (the scan's check flags)."""
    a = cuda.device_array(n, dtype=np.int64)
    grid, tpb = _blocks(n)
    _int_kernels().fill[grid, tpb](a, np.int64(value))
    return a


def reduce_rows(part, out):
    """out (N,) = part (B, N) summed over rows, deterministic."""
    grid, tpb = _blocks(part.shape[1])
    recurrence_kernels(part.dtype).reduce_rows[grid, tpb](part, out)


def zeros(shape, dtype):
    """A device array of zeros, filled on the device (no host array copied in)."""
    a = cuda.device_array(shape, dtype=dtype)
    grid, tpb = _blocks(a.size)
    recurrence_kernels(dtype).fill[grid, tpb](a.reshape(a.size), _DTYPES[np.dtype(dtype)](0))
    return a


# --------------------------------------------------------------------------
# The tiled GEMM
# --------------------------------------------------------------------------

_GEMM_CACHE: dict = {}


def _gemm_kernel(tile: int, dtype):
    """Compile (once per tile size and dtype) the tiled kernel C[z] = op(A) @ op(B) over K-range z."""
    key = (tile, np.dtype(dtype))
    if key in _GEMM_CACHE:
        return _GEMM_CACHE[key]
    nb_type = _DTYPES[np.dtype(dtype)]
    TILE = tile
    PADDED = tile + 1  # a compile-time constant, as shared array shapes must be
    ZERO = nb_type(0)

    @cuda.jit
    def gemm(A, B, C, trans_a, trans_b, k_chunk):
        # op(A) is (R, K), op(B) is (K, S), C is (Z, R, S): block z sums k in [z k_chunk, (z+1) k_chunk).
        Z, R, S = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        # tiles padded by one column, so that the transposed stores below hit different banks
        sA = cuda.shared.array((TILE, PADDED), nb_type)  # sA[r, k] = op(A)[row0 + r, k0 + k]
        sB = cuda.shared.array((TILE, PADDED), nb_type)  # sB[k, c] = op(B)[k0 + k, col0 + c]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row0 = cuda.blockIdx.x * TILE  # row tiles on grid.x: T·B rows fit any grid
        col0 = cuda.blockIdx.y * TILE
        z = cuda.blockIdx.z
        k_begin = z * k_chunk
        k_end = min(K, k_begin + k_chunk)
        acc = ZERO
        for k0 in range(k_begin, k_end, TILE):
            # Every load has threadIdx.x along the array's contiguous axis (coalesced): a transposed
            # operand is read along its rows and stored transposed into the tile.
            if trans_a:  # op(A)[r, k] = A[k, r]: thread reads A[k0 + ty, row0 + tx]
                k = k0 + ty
                r = row0 + tx
                sA[tx, ty] = A[k, r] if (k < k_end and r < R) else ZERO
            else:  # A[row0 + ty, k0 + tx]
                k = k0 + tx
                r = row0 + ty
                sA[ty, tx] = A[r, k] if (k < k_end and r < R) else ZERO
            if trans_b:  # op(B)[k, c] = B[c, k]: thread reads B[col0 + ty, k0 + tx]
                k = k0 + tx
                c = col0 + ty
                sB[tx, ty] = B[c, k] if (k < k_end and c < S) else ZERO
            else:  # B[k0 + ty, col0 + tx]
                k = k0 + ty
                c = col0 + tx
                sB[ty, tx] = B[k, c] if (k < k_end and c < S) else ZERO
            cuda.syncthreads()  # the whole tile is loaded before anyone reads it
            for kk in range(TILE):
                acc += sA[ty, kk] * sB[kk, tx]
            cuda.syncthreads()  # everyone is done with the tile before it is overwritten
        row = row0 + ty
        col = col0 + tx
        if row < R and col < S:
            C[z, row, col] = acc

    _GEMM_CACHE[key] = gemm
    return gemm


def gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out=None, splits: int = 1):
    """``C = op(A) @ op(B)``: through cuBLAS (:func:`cublas_gemm`) or the shared-memory tiled kernel
    (:func:`tiled_gemm`), as :func:`indrnn_np.config.cuda_gemm` says (cuBLAS on a GPU, the tiled
    kernel in the simulator, by default).

    Parameters
    ----------
    A : device array, (R, K) or (K, R) when ``trans_a``
    B : device array, (K, S) or (S, K) when ``trans_b``
    out : device array, (R, S), optional
    splits : int
        Cut K into this many ranges, each summed by its own blocks into a
        (splits, R, S) buffer, then added in a fixed order (split-K: for dW,
        whose output M x N is small but whose K = T·B is long).

    Returns
    -------
    device array, (R, S)
    """
    R, K = (A.shape[1], A.shape[0]) if trans_a else A.shape
    K2, S = (B.shape[1], B.shape[0]) if trans_b else B.shape
    if K != K2:
        raise ValueError(f"inner dimensions differ: op(A) is ({R}, {K}), op(B) is ({K2}, {S})")
    if out is None:
        out = cuda.device_array((R, S), dtype=A.dtype)
    if config.cuda_gemm(simulator_enabled()) == "cublas":
        return cublas_gemm(A, B, trans_a=trans_a, trans_b=trans_b, out=out)
    return tiled_gemm(A, B, trans_a=trans_a, trans_b=trans_b, out=out, splits=splits)


def tiled_gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out, splits: int = 1):
    """:func:`gemm` with the shared-memory tiled kernel (the teaching GEMM), into ``out`` (R, S)."""
    R, K = (A.shape[1], A.shape[0]) if trans_a else A.shape
    S = out.shape[1]
    tile = config.CUDA_GEMM_TILE
    splits = max(1, min(int(splits), max(K, 1)))
    k_chunk = -(-max(K, 1) // splits)
    k_chunk = -(-k_chunk // tile) * tile  # whole tiles per split
    splits = -(-max(K, 1) // k_chunk)
    grid = gemm_grid(R, S, tile, splits)
    target = out.reshape(1, R, S) if splits == 1 else cuda.device_array((splits, R, S), dtype=A.dtype)
    _gemm_kernel(tile, A.dtype)[grid, (tile, tile)](A, B, target, trans_a, trans_b, k_chunk)
    if splits > 1:
        g, tpb = _blocks(R * S)
        recurrence_kernels(A.dtype).sum_splits[g, tpb](target, out)
    return out


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(
            f"the cuBLAS GEMM needs CuPy ({exc}): pip install 'indrnn-np[cuda]', or set "
            "INDRNN_CUDA_GEMM=tiled to use the shared-memory teaching GEMM"
        ) from None
    return cupy


def cublas_gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out):
    """:func:`gemm` through cuBLAS, into the device array ``out`` (R, S).

    CuPy wraps the Numba device arrays through ``__cuda_array_interface__``
    (no copy) and ``cupy.matmul`` calls cuBLAS; a transposed operand is a
    strided view, which cuBLAS reads with its transpose flag. Both libraries
    use the default stream here, so the GEMM is ordered with the Numba
    kernels around it.
    """
    cp = _cupy()
    a, b = cp.asarray(A), cp.asarray(B)
    cp.matmul(a.T if trans_a else a, b.T if trans_b else b, out=cp.asarray(out))
    return out


# --------------------------------------------------------------------------
# The optimizer update (twins of reference.adam_update, sgd_update, grad_sumsq)
# --------------------------------------------------------------------------
# One thread per parameter entry, a grid-stride loop; the scalars arrive in the parameter's dtype (the
# op layer casts them), and the constants are of that dtype, so a float32 update has no .f64 in its PTX.
# With a model on the device (indrnn_np.nn.to_device) they update its parameters and the optimizer's
# state where they live.


@_once_per_dtype
def _optimizer_kernels(dtype):
    nb = _DTYPES[dtype]
    ZERO, ONE = nb(0), nb(1)

    @cuda.jit(device=True, inline=True)
    def effective(p, g, clip, scale, wd):
        if clip > ZERO:
            g = min(max(g, -clip), clip)
        return g * scale + wd * p

    @cuda.jit(device=True, inline=True)
    def project(p, lo, hi):
        if p < lo:
            return lo
        if p > hi:
            return hi
        return p

    @cuda.jit
    def adam(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
        for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
            ge = effective(p[i], g[i], clip, scale, wd)
            mi = m[i] * beta1 + (ONE - beta1) * ge
            vi = v[i] * beta2 + (ONE - beta2) * ge * ge
            m[i] = mi
            v[i] = vi
            p[i] = project(p[i] - lr * (mi / c1) / (math.sqrt(vi / c2) + eps), lo, hi)

    @cuda.jit
    def sgd(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
        for i in range(cuda.grid(1), p.size, cuda.gridsize(1)):
            vi = vel[i] * momentum + effective(p[i], g[i], clip, scale, wd)
            vel[i] = vi
            p[i] = project(p[i] - lr * vi, lo, hi)

    @cuda.jit
    def sumsq(g, clip, part):
        # each thread's share of Σ g² and Σ clamp(g)², in the dtype; the host adds the threads' sums in float64
        t = cuda.grid(1)
        raw = ZERO
        clipped = ZERO
        for i in range(t, g.size, cuda.gridsize(1)):
            x = g[i]
            raw += x * x
            if clip > ZERO:
                x = min(max(x, -clip), clip)
            clipped += x * x
        part[t, 0] = raw
        part[t, 1] = clipped

    return SimpleNamespace(adam=adam, sgd=sgd, sumsq=sumsq)


def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam and the projection on the device, in one pass; see the reference. Device arrays, (P,)."""
    grid, tpb = _blocks(p.size)
    _optimizer_kernels(p.dtype).adam[grid, tpb](
        p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi
    )


def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum and the projection on the device, in one pass; see the reference."""
    grid, tpb = _blocks(p.size)
    _optimizer_kernels(p.dtype).sgd[grid, tpb](p, g, vel, clip, scale, wd, lr, momentum, lo, hi)


def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` of a device array: per-thread sums on the device, one small copy back."""
    out = cuda.device_array(2, dtype=g.dtype)
    grad_sumsq_into(g, clip, out)
    sums = out.copy_to_host().astype(np.float64)
    return float(sums[0]), float(sums[1])


def grad_sumsq_into(g, clip, out):
    """Write ``(Σ g², Σ clamp(g, ±clip)²)`` of the device array g (P,) into the device array out (2,).

    Nothing is copied to the host: training gathers every parameter's pair and the loss in one
    device array and copies that once a step. The sums: per-thread partials over a fixed
    grid, then the partials added in order (reproducible).
    """
    grid, tpb = reduction_launch(g.size)
    part = cuda.device_array((grid * tpb, 2), dtype=g.dtype)
    _optimizer_kernels(g.dtype).sumsq[grid, tpb](g, _DTYPES[np.dtype(g.dtype)](clip), part)
    reduce_rows(part, out)


# --------------------------------------------------------------------------
# Training on the device: dense layers, batch norm, dropout, losses
# --------------------------------------------------------------------------
# Twins of the functions of the same names in kernels/reference.py (same arguments, same results up to
# rounding); indrnn_np.ops.device launches them. Sums over many values (batch-norm statistics, losses)
# are compensated (Kahan) sums in the array's dtype: a float32 kernel stays float32 and still sums
# 32,000 rows to about float32's precision, in a fixed order (reproducible run to run).


@_once_per_dtype
def training_kernels(dtype):
    """The kernels of device-resident training of one dtype (built once per dtype).

    Returns
    -------
    SimpleNamespace
        ``bias_add``, ``add``, ``scale_rows``, ``batchnorm_forward``, ``batchnorm_backward``,
        ``batchnorm_inference``, ``running_update``, ``squared_error``, ``softmax_xent``, ``sum_into``,
        ``concat_last``, ``split_last``, and for padded batches ``mask_steps``, ``reverse_steps``,
        ``gather_steps``, ``scatter_steps``; see their twins in :mod:`indrnn_np.kernels.reference`.
    """
    nb = _DTYPES[dtype]
    ZERO, ONE = nb(0), nb(1)

    @cuda.jit(device=True, inline=True)
    def kahan(s, c, x):
        # s + x with the lost low-order part carried in c
        y = x - c
        t = s + y
        return t, (t - s) - y

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
    def batchnorm_forward(x, gamma, beta, eps, y, mean, var):
        # one thread per (group, neuron) column, walking its R rows: consecutive threads read
        # consecutive neurons (coalesced)
        G, R, N = x.shape
        count = nb(R)
        for i in range(cuda.grid(1), G * N, cuda.gridsize(1)):
            g = i // N
            n = i % N
            s = ZERO
            c = ZERO
            for r in range(R):
                s, c = kahan(s, c, x[g, r, n])
            mu = s / count
            s = ZERO
            c = ZERO
            for r in range(R):
                d = x[g, r, n] - mu
                s, c = kahan(s, c, d * d)
            v = s / count
            mean[g, n] = mu
            var[g, n] = v
            scale = gamma[n] / math.sqrt(v + eps)
            for r in range(R):
                y[g, r, n] = (x[g, r, n] - mu) * scale + beta[n]

    @cuda.jit
    def batchnorm_backward(dy, x, mean, var, gamma, eps, dx, dgamma_part, dbeta_part):
        G, R, N = x.shape
        count = nb(R)
        for i in range(cuda.grid(1), G * N, cuda.gridsize(1)):
            g = i // N
            n = i % N
            mu = mean[g, n]
            inv = ONE / math.sqrt(var[g, n] + eps)
            sb = ZERO
            cb = ZERO
            sg = ZERO
            cg = ZERO
            for r in range(R):
                d = dy[g, r, n]
                sb, cb = kahan(sb, cb, d)
                sg, cg = kahan(sg, cg, d * ((x[g, r, n] - mu) * inv))
            dbeta_part[g, n] = sb
            dgamma_part[g, n] = sg
            # ∂J/∂x = a ∂J/∂y + c (x - μ) + d, a = γ/σ, c = -a Σ(∂J/∂y x̂)/R / σ, d = -a Σ ∂J/∂y / R
            a = gamma[n] * inv
            cc = -a * (sg / count) * inv
            dd = -a * (sb / count)
            for r in range(R):
                dx[g, r, n] = a * dy[g, r, n] + cc * (x[g, r, n] - mu) + dd

    @cuda.jit
    def batchnorm_inference(x, gamma, beta, mean, var, eps, y):
        # group g uses statistics row min(g, S - 1): frame-wise statistics past T_max reuse the last
        G, R, N = x.shape
        S = mean.shape[0]
        for i in range(cuda.grid(1), G * R * N, cuda.gridsize(1)):
            g = i // (R * N)
            r = (i // N) % R
            n = i % N
            s = min(g, S - 1)
            y[g, r, n] = gamma[n] * (x[g, r, n] - mean[s, n]) / math.sqrt(var[s, n] + eps) + beta[n]

    @cuda.jit
    def running_update(rm, rv, mean, var, momentum, unbias):
        for i in range(cuda.grid(1), rm.size, cuda.gridsize(1)):
            rm[i] = (ONE - momentum) * rm[i] + momentum * mean[i]
            rv[i] = (ONE - momentum) * rv[i] + momentum * (var[i] * unbias)

    @cuda.jit
    def squared_error(pred, target, scale, dpred, part):
        # dpred = scale (pred - target); part[thread] = this thread's Σ (pred - target)²
        t = cuda.grid(1)
        s = ZERO
        c = ZERO
        for i in range(t, pred.size, cuda.gridsize(1)):
            d = pred[i] - target[i]
            dpred[i] = scale * d
            s, c = kahan(s, c, d * d)
        if t < part.size:
            part[t] = s

    @cuda.jit
    def softmax_xent(logits, labels, scale, dlogits, loss_rows):
        # one thread per row: log-sum-exp shifted by the row's max; dlogits = scale (softmax - onehot)
        R, C = logits.shape
        for r in range(cuda.grid(1), R, cuda.gridsize(1)):
            m = logits[r, 0]
            for k in range(1, C):
                m = max(m, logits[r, k])
            z = ZERO
            for k in range(C):
                z += math.exp(logits[r, k] - m)
            label = labels[r]
            loss_rows[r] = math.log(z) - (logits[r, label] - m)
            for k in range(C):
                p = math.exp(logits[r, k] - m) / z
                dlogits[r, k] = scale * (p - ONE if k == label else p)

    @cuda.jit
    def sum_into(part, scale, out):
        # out[0] = scale Σ part, one thread, in order (deterministic)
        if cuda.grid(1) == 0:
            s = ZERO
            c = ZERO
            for i in range(part.size):
                s, c = kahan(s, c, part[i])
            out[0] = s * scale

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

    # Variable lengths (twins in the reference): a (T, B, K) padded batch, lengths/steps (B,) int64.

    @cuda.jit
    def mask_steps(a, lengths):
        T, B, K = a.shape
        for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
            t = i // (B * K)
            b = (i // K) % B
            if t >= lengths[b]:
                a[t, b, i % K] = ZERO

    @cuda.jit
    def reverse_steps(x, lengths, out):
        T, B, K = x.shape
        for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
            t = i // (B * K)
            b = (i // K) % B
            k = i % K
            src = lengths[b] - 1 - t
            out[t, b, k] = x[src, b, k] if src >= 0 else ZERO

    @cuda.jit
    def gather_steps(x, steps, out):
        B, K = out.shape
        for i in range(cuda.grid(1), B * K, cuda.gridsize(1)):
            b = i // K
            out[b, i % K] = x[steps[b], b, i % K]

    @cuda.jit
    def scatter_steps(dy, steps, dx):
        T, B, K = dx.shape
        for i in range(cuda.grid(1), T * B * K, cuda.gridsize(1)):
            t = i // (B * K)
            b = (i // K) % B
            dx[t, b, i % K] = dy[b, i % K] if t == steps[b] else ZERO

    return SimpleNamespace(
        mask_steps=mask_steps,
        reverse_steps=reverse_steps,
        gather_steps=gather_steps,
        scatter_steps=scatter_steps,
        bias_add=bias_add,
        add=add,
        scale_rows=scale_rows,
        batchnorm_forward=batchnorm_forward,
        batchnorm_backward=batchnorm_backward,
        batchnorm_inference=batchnorm_inference,
        running_update=running_update,
        squared_error=squared_error,
        softmax_xent=softmax_xent,
        sum_into=sum_into,
        concat_last=concat_last,
        split_last=split_last,
    )


def launch(kernel, n_items: int, *args) -> None:
    """Launch a grid-stride kernel over ``n_items`` items with the configured block size."""
    grid, tpb = _blocks(n_items)
    kernel[grid, tpb](*args)


#: Threads of a reduction's first stage (per-thread partial sums, then one ordered sum of these).
REDUCTION_THREADS = 4096


def reduction_launch(n_items: int) -> tuple[int, int]:
    """(blocks, threads per block) of a reduction's first stage over ``n_items``: at most
    :data:`REDUCTION_THREADS` threads, each summing its share of a grid-stride loop into one
    partial sum (``blocks * threads`` of them)."""
    return launch_1d(min(n_items, REDUCTION_THREADS), config.CUDA_THREADS_PER_BLOCK)


# --------------------------------------------------------------------------
# The layer on the device
# --------------------------------------------------------------------------


def to_device(a):
    """A C-contiguous device array of ``a``: a NumPy array is copied in, a device array returned as it is."""
    if is_device_array(a):
        if not a.is_c_contiguous():
            raise ValueError("device arrays must be C-contiguous; copy them with .copy_to_host() first")
        return a
    return cuda.to_device(np.ascontiguousarray(a))


def layer_forward(x, W, u, b, h0, act, algorithm="sequential"):
    """The layer forward on the GPU (``algorithm="scan"``: the recurrence as :func:`scan_forward`).

    Returns
    -------
    h : (T, B, N)
        A NumPy array when x was a NumPy array, else a device array.
    x_d, W_d, u_d, h0_d, h_d : device arrays
        Kept in the cache so that backward reads them without a second copy.
    """
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(x)
    x_d, W_d, u_d, b_d = (to_device(a) for a in (x, W, u, b))
    h0_d = zeros((B, N), x.dtype) if h0 is None else to_device(h0)
    xw = gemm(x_d.reshape(T * B, M), W_d).reshape(T, B, N)  # W x_t for all t: one GEMM
    h_d = cuda.device_array((T, B, N), dtype=x.dtype)
    (scan_forward if algorithm == "scan" else recurrence_forward)(xw, u_d, b_d, h0_d, act, h_d)
    return (h_d.copy_to_host() if host else h_d), x_d, W_d, u_d, h0_d, h_d


def layer_backward(dh, x, W, u, h0, h, act, need_dx=True, algorithm="sequential"):
    """BPTT of the layer on the GPU; returns dx, dW, du, db, dh0 (NumPy when dh is NumPy; dx None
    without ``need_dx``)."""
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(dh)
    da, du, db, dh0 = recurrence_backward_sums(to_device(dh), h, u, h0, act, algorithm)
    da2d = da.reshape(T * B, N)
    splits = split_k(T * B, M, N, config.CUDA_GEMM_TILE)
    dW = gemm(x.reshape(T * B, M), da2d, trans_a=True, splits=splits)  # (M, N) = xᵀ ∂J/∂a
    dx = gemm(da2d, W, trans_b=True).reshape(T, B, M) if need_dx else None  # (T*B, M) = ∂J/∂a Wᵀ
    out = (dx, dW, du, db, dh0)
    return tuple(None if a is None else a.copy_to_host() for a in out) if host else out


def time_recurrence(x, W, u, b, dh, act, repeats: int) -> float:
    """Median seconds of the recurrence kernels alone (forward + backward + reductions) on the device."""
    T, B, M = x.shape
    N = W.shape[1]
    xw = cuda.to_device(np.ascontiguousarray(np.einsum("tbm,mn->tbn", x, W)))
    u_d, b_d, dh_d = cuda.to_device(u), cuda.to_device(b), cuda.to_device(np.ascontiguousarray(dh))
    h0 = zeros((B, N), x.dtype)
    h = cuda.device_array((T, B, N), x.dtype)
    da = cuda.device_array((T, B, N), x.dtype)
    dh0, du_part, db_part = (cuda.device_array((B, N), x.dtype) for _ in range(3))
    du, db = cuda.device_array(N, x.dtype), cuda.device_array(N, x.dtype)

    def run():
        recurrence_forward(xw, u_d, b_d, h0, act, h)
        recurrence_backward(dh_d, h, u_d, h0, act, da, dh0, du_part, db_part)
        reduce_rows(du_part, du)
        reduce_rows(db_part, db)
        cuda.synchronize()

    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# --------------------------------------------------------------------------
# Fused small-input projection
# --------------------------------------------------------------------------
# Twins of reference.fused_forward and fused_backward (W x_t inside the recurrence; no (T, B, N) array
# of W x_t or of ∂J/∂a). Forward keeps the recurrence's layout, one thread per (b, n) column, and adds
# W x_t's M multiply-adds in the thread (x_t[b, m] is the same for every thread of a row: one broadcast
# load). Backward also needs ∂J/∂x_t[b, m] = Σ_n ∂J/∂a_t[b, n] W[m, n], a sum across the threads of a
# row, so a block takes one batch row and a chunk of at most FUSED_WIDTH neurons, one thread a neuron.
# Each thread leaves its ∂J/∂a_t of the last FUSED_STEPS steps in shared memory; every FUSED_STEPS
# steps the block synchronises once and its threads share out the (step, m) outputs, each summing over
# the chunk's neurons in order (deterministic, no atomics, two syncthreads per FUSED_STEPS steps rather
# than a tree of them per step). A chunk's sums go to dx_part (chunks, T, B, M), added over the chunks
# in order when N needs more than one. dW: each thread sums its column's x_t[b, m] ∂J/∂a_t[b, n] into
# dW_part[b, m, n], reduced over the batch as du and db are. Checked in the simulator and compiled to
# PTX, not yet timed on a GPU (config.FUSE_MAX_M comes from CPU measurements).

#: The fused backward's shared-memory sizes, from the config module (compile-time constants).
FUSED_STEPS = config.CUDA_FUSED_STEPS
FUSED_WIDTH = config.CUDA_FUSED_WIDTH


@_once_per_dtype
def fused_kernels(dtype):
    """The fused kernels of one dtype (built once per dtype).

    Returns
    -------
    SimpleNamespace
        ``forward``, ``backward``.
    """
    nb = _DTYPES[dtype]
    ZERO = nb(0)
    rk = recurrence_kernels(dtype)
    activate, derivative = rk.activate, rk.derivative
    STEPS = FUSED_STEPS
    PADDED = FUSED_WIDTH + 1  # compile-time constants, as shared array shapes must be

    @cuda.jit
    def forward(x, W, u, b, h0, act, h):
        T, B, M = x.shape
        N = W.shape[1]
        for col in range(cuda.grid(1), B * N, cuda.gridsize(1)):
            bi = col // N
            n = col % N
            un = u[n]
            bn = b[n]
            h_prev = h0[bi, n]
            for t in range(T):
                # W x_t: M multiply-adds
                s = ZERO
                for m in range(M):
                    s += x[t, bi, m] * W[m, n]
                # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
                h_prev = activate(s + un * h_prev + bn, act)
                h[t, bi, n] = h_prev

    @cuda.jit
    def backward(dh, x, h, W, u, h0, act, need_dx, dx_part, dW_part, du_part, db_part, dh0):
        T, B, N = dh.shape
        M = x.shape[2]
        width = cuda.blockDim.x
        chunks = (N + width - 1) // width
        j = cuda.threadIdx.x
        # ∂J/∂a of the block's neurons over the last FUSED_STEPS steps; rows padded by one (banks)
        da_steps = cuda.shared.array((STEPS, PADDED), nb)
        # one (row, chunk) a block, a grid-stride loop over them: every thread of a block takes the same path
        for task in range(cuda.blockIdx.x, B * chunks, cuda.gridDim.x):
            bi = task // chunks
            chunk = task % chunks
            n0 = chunk * width
            n = n0 + j
            live = n < N  # threads past N add zeros to the block's sums
            un = u[n] if live else ZERO
            carry = ZERO  # u ⊙ ∂J/∂a_{t+1}
            du_acc = ZERO
            db_acc = ZERO
            h_t = h[T - 1, bi, n] if live and T > 0 else ZERO  # then h_{t-1} of one step is h_t of the next
            if live:
                for m in range(M):
                    dW_part[bi, m, n] = ZERO
            for t in range(T - 1, -1, -1):
                g = ZERO
                if live:
                    # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t), σ' recomputed from h_t
                    g = (dh[t, bi, n] + carry) * derivative(h_t, act)
                    h_t = h[t - 1, bi, n] if t > 0 else h0[bi, n]  # h_{t-1}
                    du_acc += g * h_t  # ∂a_t/∂u = h_{t-1}
                    db_acc += g  # ∂a_t/∂b = 1
                    carry = un * g  # ∂a_t/∂h_{t-1} = u
                    for m in range(M):
                        dW_part[bi, m, n] += x[t, bi, m] * g  # ∂a_t[n]/∂W[m, n] = x_t[m]
                k = t % STEPS
                da_steps[k, j] = g
                if need_dx and k == 0:  # steps t .. t + filled - 1 are all in: add them into dx
                    cuda.syncthreads()
                    filled = min(STEPS, T - t)
                    cols = min(width, N - n0)
                    for o in range(j, filled * M, width):
                        kk = o // M
                        m = o % M
                        # ∂J/∂x_t[m] = Σ_n ∂J/∂a_t[n] W[m, n], over this chunk's neurons in order
                        s = ZERO
                        for c in range(cols):
                            s += da_steps[kk, c] * W[m, n0 + c]
                        dx_part[chunk, t + kk, bi, m] = s
                    cuda.syncthreads()  # all read before the next steps overwrite
            if live:
                dh0[bi, n] = carry
                du_part[bi, n] = du_acc
                db_part[bi, n] = db_acc

    return SimpleNamespace(forward=forward, backward=backward)


def fused_launch(B: int, N: int) -> tuple[int, int, int]:
    """(blocks, threads per block, chunks) of the fused backward: a block per (batch row, chunk of
    neurons), a chunk as wide as the block, the block at most the configured size and FUSED_WIDTH, and
    no wider than N rounded up to a warp."""
    width = min(config.CUDA_THREADS_PER_BLOCK, FUSED_WIDTH, max(32, -(-N // 32) * 32))
    check_launch_config(width, 1)
    chunks = max(1, -(-N // width))
    return max(1, min(B * chunks, MAX_STRIDE_BLOCKS)), width, chunks


def fused_forward(x, W, u, b, h0, act, h):
    """The layer's forward with ``W x_t`` inside the recurrence, on the GPU; see the reference.
    Device arrays (or host arrays, copied)."""
    T, B, M = x.shape
    N = W.shape[1]
    grid, tpb = _blocks(B * N)
    fused_kernels(x.dtype).forward[grid, tpb](x, W, u, b, h0, act, h)


def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0):
    """BPTT of :func:`fused_forward` on the GPU; see the reference. ``dx`` None skips ∂J/∂x."""
    T, B, N = dh.shape
    M = x.shape[2]
    grid, width, chunks = fused_launch(B, N)
    if dx is None:
        dx_part = cuda.device_array((1, 1, 1, 1), dtype=dh.dtype)  # not written
    elif chunks == 1:
        dx_part = dx.reshape(1, T, B, M)
    else:
        dx_part = cuda.device_array((chunks, T, B, M), dtype=dh.dtype)
    fused_kernels(dh.dtype).backward[grid, width](
        dh, x, h, W, u, h0, act, dx is not None, dx_part, dW_part, du_part, db_part, dh0
    )
    if dx is not None and chunks > 1:  # the chunks' sums added in order
        g, tpb = _blocks(T * B * M)
        recurrence_kernels(dh.dtype).sum_splits[g, tpb](
            dx_part.reshape(chunks, T * B, M), dx.reshape(T * B, M)
        )


def layer_forward_fused(x, W, u, b, h0, act):
    """:func:`layer_forward` with :func:`fused_forward`: no GEMM and no (T, B, N) array of ``W x_t``.
    Same arguments and returns."""
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(x)
    x_d, W_d, u_d, b_d = (to_device(a) for a in (x, W, u, b))
    h0_d = zeros((B, N), x.dtype) if h0 is None else to_device(h0)
    h_d = cuda.device_array((T, B, N), dtype=x.dtype)
    fused_forward(x_d, W_d, u_d, b_d, h0_d, act, h_d)
    return (h_d.copy_to_host() if host else h_d), x_d, W_d, u_d, h0_d, h_d


def layer_backward_fused(dh, x, W, u, h0, h, act, need_dx=True):
    """:func:`layer_backward` with :func:`fused_backward`: dW and dx summed in the kernel, no (T, B, N)
    array of ∂J/∂a; the batch sums of dW, du, db in two stages (the fused kernel has no atomic variant).
    Same arguments and returns."""
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(dh)
    dh = to_device(dh)
    dx = cuda.device_array((T, B, M), dtype=dh.dtype) if need_dx else None
    dW_part = cuda.device_array((B, M, N), dtype=dh.dtype)
    dh0, du_part, db_part = (cuda.device_array((B, N), dtype=dh.dtype) for _ in range(3))
    fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0)
    dW = cuda.device_array((M, N), dtype=dh.dtype)
    du, db = cuda.device_array(N, dtype=dh.dtype), cuda.device_array(N, dtype=dh.dtype)
    reduce_rows(dW_part.reshape(B, M * N), dW.reshape(M * N))
    reduce_rows(du_part, du)
    reduce_rows(db_part, db)
    out = (dx, dW, du, db, dh0)
    return tuple(None if a is None else a.copy_to_host() for a in out) if host else out


# --------------------------------------------------------------------------
# Every kernel, its signature and its launch: one table for the static checks
# --------------------------------------------------------------------------


class KernelEntry(NamedTuple):
    """One kernel of :func:`kernel_table`.

    Attributes
    ----------
    name : str
        Short name (``"backward"``, ``"gemm"``, ...).
    kernel : numba CUDA dispatcher
        The ``cuda.jit`` kernel; ``kernel.py_func`` is the Python function.
    signature : str
        The Numba signature it is launched with (C-contiguous arrays of the dtype).
    threads_per_block : int
        Threads of one block as the kernel is launched now, read from :mod:`indrnn_np.config`.
    launched_by : str
        Where that block size comes from.
    """

    name: str
    kernel: object
    signature: str
    threads_per_block: int
    launched_by: str


def kernel_table(dtype) -> list[KernelEntry]:
    """The kernels of this module of one dtype, with the signature each is launched with and its block.

    Every kernel, 39 of them. The one list that the static checks walk (``tests/test_cuda.py`` compiles each entry to PTX,
    ``tests/test_cuda_static.py`` and ``python -m indrnn_np bench cuda-static`` on to SASS). A new
    kernel gets its entry here. The block sizes are read from :mod:`indrnn_np.config` when called:
    the grid-stride kernels take ``config.CUDA_THREADS_PER_BLOCK`` (:func:`launch_1d` through
    ``_blocks``, :func:`launch`, :func:`reduction_launch`), the GEMM ``config.CUDA_GEMM_TILE`` squared,
    the fused backward its widest block (:func:`fused_launch`; narrower when N is under 128).

    Parameters
    ----------
    dtype : str or numpy dtype
        ``float32`` or ``float64``.

    Returns
    -------
    list of KernelEntry
    """
    dt = np.dtype(dtype).name
    arr4, arr3, arr2, arr1 = f"{dt}[:, :, :, ::1]", f"{dt}[:, :, ::1]", f"{dt}[:, ::1]", f"{dt}[::1]"
    k, o, t, f = recurrence_kernels(dt), _optimizer_kernels(dt), training_kernels(dt), fused_kernels(dt)
    tile = config.CUDA_GEMM_TILE
    sigs = {
        "forward": (k.forward, f"void({arr3}, {arr1}, {arr1}, {arr2}, int64, {arr3})"),
        "backward": (
            k.backward,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, {arr3}, {arr2}, {arr2}, {arr2})",
        ),
        "backward_atomic": (
            k.backward_atomic,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, {arr3}, {arr2}, {arr1}, {arr1})",
        ),
        "reduce_rows": (k.reduce_rows, f"void({arr2}, {arr1})"),
        "sum_splits": (k.sum_splits, f"void({arr3}, {arr2})"),
        "fill": (k.fill, f"void({arr1}, {dt})"),
        "scan_compose": (
            k.scan_compose,
            f"void({arr3}, {arr1}, {arr1}, int64, int64" + f", {arr2}" * 4 + ")",
        ),
        "scan_carry": (
            k.scan_carry,
            f"void({arr3}, {arr1}, {arr1}, {arr2}, int64, int64" + f", {arr2}" * 5 + ")",
        ),
        "scan_replay": (k.scan_replay, f"void({arr3}, {arr1}, {arr1}, int64, int64, {arr2}, {arr3})"),
        "scan_compose_back": (
            k.scan_compose_back,
            f"void({arr3}, {arr3}, {arr1}, int64, int64, {arr2}, {arr2})",
        ),
        "scan_carry_back": (
            k.scan_carry_back,
            f"void({arr3}, {arr3}, {arr1}, int64, int64, {arr2}, {arr2}, {arr2})",
        ),
        "scan_replay_back": (
            k.scan_replay_back,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, int64, {arr2}, {arr3}, {arr2}, {arr2}, {arr2})",
        ),
        "scan_check": (k.scan_check, f"void({arr2}, {arr3}, int64, int64[::1])"),
        "scan_fix": (k.scan_fix, f"void({arr3}, {arr1}, {arr1}, int64, int64, int64[::1], {arr3})"),
        "scan_check_back": (k.scan_check_back, f"void({arr2}, {arr3}, int64, int64[::1])"),
        "scan_fix_back": (
            k.scan_fix_back,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, int64, int64[::1], {arr3}, {arr2}, {arr2}, {arr2})",
        ),
        "int_fill": (_int_kernels().fill, "void(int64[::1], int64)"),
        "gemm": (_gemm_kernel(tile, dt), f"void({arr2}, {arr2}, {arr3}, boolean, boolean, int64)"),
        "adam": (o.adam, f"void({arr1}, {arr1}, {arr1}, {arr1}" + f", {dt}" * 11 + ")"),
        "sgd": (o.sgd, f"void({arr1}, {arr1}, {arr1}" + f", {dt}" * 7 + ")"),
        "sumsq": (o.sumsq, f"void({arr1}, {dt}, {arr2})"),
        "bias_add": (t.bias_add, f"void({arr2}, {arr1})"),
        "add": (t.add, f"void({arr1}, {arr1}, {arr1})"),
        "scale_rows": (t.scale_rows, f"void({arr2}, {arr1}, {arr2})"),
        "bn_forward": (t.batchnorm_forward, f"void({arr3}, {arr1}, {arr1}, {dt}, {arr3}, {arr2}, {arr2})"),
        "bn_backward": (
            t.batchnorm_backward,
            f"void({arr3}, {arr3}, {arr2}, {arr2}, {arr1}, {dt}, {arr3}, {arr2}, {arr2})",
        ),
        "bn_inference": (
            t.batchnorm_inference,
            f"void({arr3}, {arr1}, {arr1}, {arr2}, {arr2}, {dt}, {arr3})",
        ),
        "running_update": (t.running_update, f"void({arr1}, {arr1}, {arr1}, {arr1}, {dt}, {dt})"),
        "squared_error": (t.squared_error, f"void({arr1}, {arr1}, {dt}, {arr1}, {arr1})"),
        "softmax_xent": (t.softmax_xent, f"void({arr2}, int64[::1], {dt}, {arr2}, {arr1})"),
        "sum_into": (t.sum_into, f"void({arr1}, {dt}, {arr1})"),
        "concat_last": (t.concat_last, f"void({arr2}, {arr2}, {arr2})"),
        "split_last": (t.split_last, f"void({arr2}, {arr2}, {arr2})"),
        "mask_steps": (t.mask_steps, f"void({arr3}, int64[::1])"),
        "reverse_steps": (t.reverse_steps, f"void({arr3}, int64[::1], {arr3})"),
        "gather_steps": (t.gather_steps, f"void({arr3}, int64[::1], {arr2})"),
        "scatter_steps": (t.scatter_steps, f"void({arr2}, int64[::1], {arr3})"),
        "fused_forward": (f.forward, f"void({arr3}, {arr2}, {arr1}, {arr1}, {arr2}, int64, {arr3})"),
        "fused_backward": (
            f.backward,
            f"void({arr3}, {arr3}, {arr3}, {arr2}, {arr1}, {arr2}, int64, boolean, {arr4}, {arr3}, {arr2}, "
            f"{arr2}, {arr2})",
        ),
    }
    grid_stride = (config.CUDA_THREADS_PER_BLOCK, "config.CUDA_THREADS_PER_BLOCK (launch_1d)")
    launches = {
        "gemm": (tile * tile, "config.CUDA_GEMM_TILE² (tiled_gemm)"),
        "fused_backward": (
            fused_launch(1, 2**20)[1],
            "min(config.CUDA_THREADS_PER_BLOCK, config.CUDA_FUSED_WIDTH) (fused_launch; narrower when N is smaller)",
        ),
    }
    return [
        KernelEntry(name, kernel, sig, *launches.get(name, grid_stride))
        for name, (kernel, sig) in sigs.items()
    ]
