"""The tiled GEMM in Numba CUDA, written to be read (the ops call cuBLAS on a GPU by default:
:func:`indrnn_np.ops.device.gemm`).

Each block computes one TILE×TILE tile of C, loading matching tiles of A and B into shared memory,
with ``syncthreads`` before the tiles are used and again before they are overwritten, and zero
padding at the edges. The loads are coalesced for transposed operands too, and dW, whose output is
small and whose K = T·B is long, is split over K (:func:`indrnn_np.kernels.launch.split_k`) and
summed in a fixed order. The kernel is built once per tile size (a shared array's shape must be a
compile-time constant) and compiled by Numba once per dtype (the tiles take A's dtype).
"""

from __future__ import annotations

import functools

from numba import cuda

from ... import config
from .._cuda import ZERO, device_array
from ..elementwise.cuda import sum_splits
from ..launch import blocks, gemm_grid


@functools.cache
def gemm_kernel(tile: int):
    """The tiled kernel C[z] = op(A) @ op(B) over K-range z, for one tile size (built once per size)."""
    TILE = tile
    PADDED = tile + 1  # a compile-time constant, as shared array shapes must be

    @cuda.jit
    def gemm(A, B, C, trans_a, trans_b, k_chunk):
        # op(A) is (R, K), op(B) is (K, S), C is (Z, R, S): block z sums k in [z k_chunk, (z+1) k_chunk).
        Z, R, S = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        # tiles padded by one column, so that the transposed stores below hit different banks
        sA = cuda.shared.array((TILE, PADDED), A.dtype)  # sA[r, k] = op(A)[row0 + r, k0 + k]
        sB = cuda.shared.array((TILE, PADDED), A.dtype)  # sB[k, c] = op(B)[k0 + k, col0 + c]
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

    return gemm


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
    target = out.reshape(1, R, S) if splits == 1 else device_array((splits, R, S), dtype=A.dtype)
    gemm_kernel(tile)[grid, (tile, tile)](A, B, target, trans_a, trans_b, k_chunk)
    if splits > 1:
        g, tpb = blocks(R * S)
        sum_splits[g, tpb](target, out)
    return out
