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

Accumulators start from dtype-matched zeros (``h[0, b, n] * 0`` in the
recurrence, ``numba.float32(0)``/``float64(0)`` in the GEMM, which is compiled
per dtype): a plain ``acc = 0.0`` is float64 on the device, which silently
promotes a float32 kernel's arithmetic, while Numba's CUDA simulator computes
it in the array's dtype, so the simulator would not show the difference.

Threads per block and tile sizes come from :mod:`indrnn_np.config` and are
read at every launch.
"""

from __future__ import annotations

import math
import time

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
# Recurrence kernels: one thread per (b, n) column
# --------------------------------------------------------------------------


@cuda.jit(device=True, inline=True)
def _activate(a, act):
    if act == 1:
        return max(a, a * 0)
    if act == 2:
        return math.tanh(a)
    return a


@cuda.jit(device=True, inline=True)
def _derivative(h, act):
    if act == 1:
        return h * 0 + (1 if h > 0 else 0)
    if act == 2:
        return 1 - h * h
    return h * 0 + 1


@cuda.jit
def _forward_kernel(xw, u, b, h0, act, h):
    T, B, N = xw.shape
    col = cuda.grid(1)  # flattened (b, n); consecutive threads -> consecutive n
    if col >= B * N:
        return
    bi = col // N
    n = col % N
    un = u[n]
    bn = b[n]
    h_prev = h0[bi, n]
    for t in range(T):
        # a_t = W x_t + u ⊙ h_{t-1} + b ;  h_t = σ(a_t)   (Eq. 2)
        h_prev = _activate(xw[t, bi, n] + un * h_prev + bn, act)
        h[t, bi, n] = h_prev


@cuda.jit(device=True, inline=True)
def _column_backward(dh, h, u, h0, act, da, bi, n):
    """BPTT of one (b, n) column: writes da[:, b, n]; returns (dh0, du, db) of the column."""
    T = dh.shape[0]
    un = u[n]
    zero = h[0, bi, n] * 0  # a zero of the arrays' dtype
    carry = zero  # u ⊙ ∂J/∂a_{t+1}
    du_acc = zero
    db_acc = zero
    for t in range(T - 1, -1, -1):
        h_t = h[t, bi, n]
        # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t), σ' recomputed from h_t
        g = (dh[t, bi, n] + carry) * _derivative(h_t, act)
        da[t, bi, n] = g
        h_prev = h[t - 1, bi, n] if t > 0 else h0[bi, n]
        du_acc += g * h_prev  # ∂a_t/∂u = h_{t-1}
        db_acc += g  # ∂a_t/∂b = 1
        carry = un * g  # ∂a_t/∂h_{t-1} = u
    return carry, du_acc, db_acc


@cuda.jit
def _backward_kernel(dh, h, u, h0, act, da, dh0, du_part, db_part):
    T, B, N = dh.shape
    col = cuda.grid(1)
    if col >= B * N:
        return
    bi = col // N
    n = col % N
    dh0[bi, n], du_part[bi, n], db_part[bi, n] = _column_backward(dh, h, u, h0, act, da, bi, n)


@cuda.jit
def _reduce_rows_kernel(part, out):
    """out[n] = Σ_b part[b, n], one thread per n, rows added in order b = 0, 1, ... (deterministic)."""
    B, N = part.shape
    n = cuda.grid(1)
    if n >= N:
        return
    acc = part[0, n]
    for bi in range(1, B):
        acc += part[bi, n]
    out[n] = acc


@cuda.jit
def _backward_kernel_atomic(dh, h, u, h0, act, da, dh0, du, db):
    """Like _backward_kernel, but adds each column's sums into du, db (N,) with atomics."""
    T, B, N = dh.shape
    col = cuda.grid(1)
    if col >= B * N:
        return
    bi = col // N
    n = col % N
    carry, du_acc, db_acc = _column_backward(dh, h, u, h0, act, da, bi, n)
    dh0[bi, n] = carry
    cuda.atomic.add(du, n, du_acc)
    cuda.atomic.add(db, n, db_acc)


def _blocks(n_threads: int) -> tuple[int, int]:
    tpb = config.CUDA_THREADS_PER_BLOCK
    return (n_threads + tpb - 1) // tpb, tpb


def recurrence_forward(xw, u, b, h0, act, h):
    """Forward recurrence on the GPU; arrays are device arrays (or host arrays, copied)."""
    T, B, N = xw.shape
    grid, tpb = _blocks(B * N)
    _forward_kernel[grid, tpb](xw, u, b, h0, act, h)


def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """BPTT on the GPU: per-column sums into du_part, db_part (B, N), as the other backends."""
    T, B, N = dh.shape
    grid, tpb = _blocks(B * N)
    _backward_kernel[grid, tpb](dh, h, u, h0, act, da, dh0, du_part, db_part)


def reduce_rows(part, out):
    """out (N,) = part (B, N) summed over rows, deterministic."""
    grid, tpb = _blocks(part.shape[1])
    _reduce_rows_kernel[grid, tpb](part, out)


# --------------------------------------------------------------------------
# The tiled GEMM
# --------------------------------------------------------------------------

_GEMM_CACHE: dict = {}


def _gemm_kernel(tile: int, dtype):
    """Compile (once per tile size and dtype) the tiled kernel C = op(A) @ op(B)."""
    key = (tile, np.dtype(dtype))
    if key in _GEMM_CACHE:
        return _GEMM_CACHE[key]
    nb_type = _DTYPES[np.dtype(dtype)]
    TILE = tile

    @cuda.jit
    def gemm(A, B, C, trans_a, trans_b):
        # op(A) is (R, K), op(B) is (K, S), C is (R, S); trans_* read A or B transposed.
        R, S = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        sA = cuda.shared.array((TILE, TILE), nb_type)  # tile of op(A): rows of C, k
        sB = cuda.shared.array((TILE, TILE), nb_type)  # tile of op(B): k, columns of C
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        acc = nb_type(0)
        for k0 in range(0, K, TILE):
            # Each thread loads one element of each tile; outside the matrix, a 0.
            ka = k0 + tx
            if row < R and ka < K:
                sA[ty, tx] = A[ka, row] if trans_a else A[row, ka]
            else:
                sA[ty, tx] = nb_type(0)
            kb = k0 + ty
            if kb < K and col < S:
                sB[ty, tx] = B[col, kb] if trans_b else B[kb, col]
            else:
                sB[ty, tx] = nb_type(0)
            cuda.syncthreads()  # the whole tile is loaded before anyone reads it
            for k in range(TILE):
                acc += sA[ty, k] * sB[k, tx]
            cuda.syncthreads()  # everyone is done with the tile before it is overwritten
        if row < R and col < S:
            C[row, col] = acc

    _GEMM_CACHE[key] = gemm
    return gemm


def gemm(A, B, *, trans_a: bool = False, trans_b: bool = False, out=None):
    """``C = op(A) @ op(B)`` with the shared-memory tiled kernel.

    Parameters
    ----------
    A : device array, (R, K) or (K, R) when ``trans_a``
    B : device array, (K, S) or (S, K) when ``trans_b``
    out : device array, (R, S), optional

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
    tile = config.CUDA_GEMM_TILE
    grid = ((S + tile - 1) // tile, (R + tile - 1) // tile)
    _gemm_kernel(tile, A.dtype)[grid, (tile, tile)](A, B, out, trans_a, trans_b)
    return out


# --------------------------------------------------------------------------
# The layer on the device
# --------------------------------------------------------------------------


def _to_device(a):
    if is_device_array(a):
        if not a.is_c_contiguous():
            raise ValueError("device arrays must be C-contiguous; copy them with .copy_to_host() first")
        return a
    return cuda.to_device(np.ascontiguousarray(a))


def layer_forward(x, W, u, b, h0, act):
    """The layer forward on the GPU.

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
    x_d, W_d, u_d, b_d = (_to_device(a) for a in (x, W, u, b))
    h0_d = cuda.to_device(np.zeros((B, N), x.dtype)) if h0 is None else _to_device(h0)
    xw = gemm(x_d.reshape(T * B, M), W_d).reshape(T, B, N)  # W x_t for all t: one GEMM
    h_d = cuda.device_array((T, B, N), dtype=x.dtype)
    recurrence_forward(xw, u_d, b_d, h0_d, act, h_d)
    return (h_d.copy_to_host() if host else h_d), x_d, W_d, u_d, h0_d, h_d


def layer_backward(dh, x, W, u, h0, h, act):
    """BPTT of the layer on the GPU; returns dx, dW, du, db, dh0 (NumPy when dh is NumPy)."""
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(dh)
    dh_d = _to_device(dh)
    da = cuda.device_array((T, B, N), dtype=x.dtype)
    dh0 = cuda.device_array((B, N), dtype=x.dtype)
    du = cuda.device_array(N, dtype=x.dtype)
    db = cuda.device_array(N, dtype=x.dtype)
    if config.CUDA_REDUCTION == "atomic":
        du = cuda.to_device(np.zeros(N, x.dtype))
        db = cuda.to_device(np.zeros(N, x.dtype))
        grid, tpb = _blocks(B * N)
        _backward_kernel_atomic[grid, tpb](dh_d, h, u, h0, act, da, dh0, du, db)
    else:
        du_part = cuda.device_array((B, N), dtype=x.dtype)
        db_part = cuda.device_array((B, N), dtype=x.dtype)
        recurrence_backward(dh_d, h, u, h0, act, da, dh0, du_part, db_part)
        reduce_rows(du_part, du)
        reduce_rows(db_part, db)
    da2d = da.reshape(T * B, N)
    dW = gemm(x.reshape(T * B, M), da2d, trans_a=True)  # (M, N) = xᵀ ∂J/∂a
    dx = gemm(da2d, W, trans_b=True).reshape(T, B, M)  # (T*B, M) = ∂J/∂a Wᵀ
    out = (dx, dW, du, db, dh0)
    return tuple(a.copy_to_host() for a in out) if host else out


def time_recurrence(x, W, u, b, dh, act, repeats: int) -> float:
    """Median seconds of the recurrence kernels alone (forward + backward + reductions) on the device."""
    T, B, M = x.shape
    N = W.shape[1]
    xw = cuda.to_device(np.ascontiguousarray(np.einsum("tbm,mn->tbn", x, W)))
    u_d, b_d, dh_d = cuda.to_device(u), cuda.to_device(b), cuda.to_device(np.ascontiguousarray(dh))
    h0 = cuda.to_device(np.zeros((B, N), x.dtype))
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
