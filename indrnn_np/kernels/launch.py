"""Launch arithmetic of the CUDA kernels: pure functions (no numba), tested at sizes no test could run.

Launches fit any size: the grid-stride kernels loop ``for i in range(cuda.grid(1), n,
cuda.gridsize(1))``, the GEMM puts its row tiles (T·B rows) on grid.x, and the sizes from
:mod:`indrnn_np.config` (read at every launch) are checked against CUDA's limits
(:func:`check_launch_config`).
"""

from __future__ import annotations

from .. import config

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


def blocks(n_threads: int) -> tuple[int, int]:
    """:func:`launch_1d` with the configured block size (``config.CUDA_THREADS_PER_BLOCK``)."""
    return launch_1d(n_threads, config.CUDA_THREADS_PER_BLOCK)


def launch(kernel, n_items: int, *args) -> None:
    """Launch a grid-stride kernel over ``n_items`` items with the configured block size."""
    grid, tpb = blocks(n_items)
    kernel[grid, tpb](*args)


#: Threads of a reduction's first stage (per-thread partial sums, then one ordered sum of these).
REDUCTION_THREADS = 4096


def reduction_launch(n_items: int) -> tuple[int, int]:
    """(blocks, threads per block) of a reduction's first stage over ``n_items``: at most
    :data:`REDUCTION_THREADS` threads, each summing its share of a grid-stride loop into one
    partial sum (``blocks * threads`` of them)."""
    return launch_1d(min(n_items, REDUCTION_THREADS), config.CUDA_THREADS_PER_BLOCK)
