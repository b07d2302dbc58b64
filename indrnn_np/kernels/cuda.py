"""The Numba CUDA kernels of every concern, under one name each: the kernel set of ``backend="cuda"``.

The kernels live with their NumPy references, one folder a concern (:mod:`indrnn_np.kernels`): each
concern's ``cuda.py`` holds its kernels as module-level definitions (print one with
``inspect.getsource(indrnn_np.kernels.recurrence.cuda.forward.py_func)``), compiled by Numba once per
dtype at the first launch, and the launchers named as the reference's twins. This module gathers the
launchers and the launch arithmetic (:mod:`indrnn_np.kernels.launch`), and lists every kernel with the
signature it is launched with (:func:`kernel_table`: the PTX, spill and occupancy checks walk it).
The op-level code that allocates device arrays and chains the kernels into a layer is the ops'
(:mod:`indrnn_np.ops.indrnn`, written once for every backend on the backend object of
:mod:`indrnn_np.ops.backend`); the GEMM dispatcher (cuBLAS or the tiled kernel),
:func:`indrnn_np.ops.device.gemm`. Every device array is allocated through :func:`device_array`
(or :func:`to_device`), which counts its bytes in :data:`DEVICE_MEMORY`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import cuda

from .. import config
from ._cuda import DEVICE_MEMORY, device_array, simulator_enabled, to_device, unavailable_reason
from .batchnorm import cuda as batchnorm
from .batchnorm.cuda import batchnorm_backward, batchnorm_forward, batchnorm_inference, running_update
from .elementwise import cuda as elementwise
from .elementwise.cuda import add, bias_add, concat_last, int_fill, reduce_rows, scale_rows, split_last, zeros
from .fused import cuda as fused
from .fused.cuda import FUSED_STEPS, FUSED_WIDTH, fused_backward, fused_forward, fused_launch
from .gemm.cuda import gemm_kernel, tiled_gemm
from .launch import (
    MAX_GRID_X,
    MAX_GRID_YZ,
    MAX_STRIDE_BLOCKS,
    REDUCTION_THREADS,
    blocks,
    check_launch_config,
    gemm_grid,
    launch,
    launch_1d,
    reduction_launch,
    split_k,
)
from .losses import cuda as losses
from .losses.cuda import softmax_xent, squared_error, sum_into
from .optimizer import cuda as optimizer
from .optimizer.cuda import adam_update, grad_sumsq, grad_sumsq_into, sgd_update
from .padding import cuda as padding
from .padding.cuda import gather_steps, mask_steps, reverse_steps, scatter_steps
from .recurrence import cuda as recurrence
from .recurrence.cuda import recurrence_backward, recurrence_backward_atomic, recurrence_forward
from .scan import cuda as scan
from .scan.cuda import scan_backward, scan_forward, scan_layout

# --------------------------------------------------------------------------
# Every kernel, its signature and its launch: one table for the static checks
# --------------------------------------------------------------------------


__all__ = [
    "DEVICE_MEMORY",
    "device_array",
    "FUSED_STEPS",
    "FUSED_WIDTH",
    "KernelEntry",
    "MAX_GRID_X",
    "MAX_GRID_YZ",
    "MAX_STRIDE_BLOCKS",
    "REDUCTION_THREADS",
    "adam_update",
    "add",
    "batchnorm",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "bias_add",
    "blocks",
    "check_launch_config",
    "concat_last",
    "cuda",
    "elementwise",
    "fused",
    "fused_backward",
    "fused_forward",
    "fused_launch",
    "gather_steps",
    "gemm_grid",
    "gemm_kernel",
    "grad_sumsq",
    "grad_sumsq_into",
    "int_fill",
    "kernel_table",
    "launch",
    "launch_1d",
    "losses",
    "mask_steps",
    "optimizer",
    "padding",
    "recurrence",
    "recurrence_backward",
    "recurrence_backward_atomic",
    "recurrence_forward",
    "reduce_rows",
    "reduction_launch",
    "reverse_steps",
    "running_update",
    "scale_rows",
    "scan",
    "scan_backward",
    "scan_forward",
    "scan_layout",
    "scatter_steps",
    "sgd_update",
    "simulator_enabled",
    "softmax_xent",
    "split_k",
    "split_last",
    "squared_error",
    "sum_into",
    "tiled_gemm",
    "to_device",
    "unavailable_reason",
    "zeros",
]


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
    """Every CUDA kernel of one dtype, with the signature each is launched with and its block.

    Every kernel, 39 of them. The one list that the static checks walk (``tests/test_cuda.py`` compiles each entry to PTX,
    ``tests/test_cuda_static.py`` and ``python -m indrnn_np bench cuda-static`` on to SASS). A new
    kernel gets its entry here. The block sizes are read from :mod:`indrnn_np.config` when called:
    the grid-stride kernels take ``config.CUDA_THREADS_PER_BLOCK`` (:func:`launch_1d` through
    ``blocks``, :func:`launch`, :func:`reduction_launch`), the GEMM ``config.CUDA_GEMM_TILE`` squared,
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
    tile = config.CUDA_GEMM_TILE
    sigs = {
        "forward": (
            recurrence.forward,
            f"void({arr3}, {arr1}, {arr1}, {arr2}, int64, {arr3}, int64[::1], boolean)",
        ),
        "backward": (
            recurrence.backward,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, {arr3}, {arr2}, {arr2}, {arr2}, int64[::1], boolean)",
        ),
        "backward_atomic": (
            recurrence.backward_atomic,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, {arr3}, {arr2}, {arr1}, {arr1}, int64[::1], boolean)",
        ),
        "reduce_rows": (elementwise.reduce_rows_kernel, f"void({arr2}, {arr1})"),
        "sum_splits": (elementwise.sum_splits, f"void({arr3}, {arr2})"),
        "fill": (elementwise.fill, f"void({arr1}, {dt})"),
        "scan_compose": (
            scan.scan_compose,
            f"void({arr3}, {arr1}, {arr1}, int64, int64" + f", {arr2}" * 4 + ")",
        ),
        "scan_carry": (
            scan.scan_carry,
            f"void({arr3}, {arr1}, {arr1}, {arr2}, int64, int64, {dt}" + f", {arr2}" * 5 + ")",
        ),
        "scan_replay": (scan.scan_replay, f"void({arr3}, {arr1}, {arr1}, int64, int64, {arr2}, {arr3})"),
        "scan_compose_back": (
            scan.scan_compose_back,
            f"void({arr3}, {arr3}, {arr1}, int64, int64, {arr2}, {arr2})",
        ),
        "scan_carry_back": (
            scan.scan_carry_back,
            f"void({arr3}, {arr3}, {arr1}, int64, int64, {dt}, {arr2}, {arr2}, {arr2})",
        ),
        "scan_replay_back": (
            scan.scan_replay_back,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, int64, {arr2}, {arr3}, {arr2}, {arr2}, {arr2})",
        ),
        "scan_check": (scan.scan_check, f"void({arr2}, {arr3}, int64, int64[::1])"),
        "scan_fix": (scan.scan_fix, f"void({arr3}, {arr1}, {arr1}, int64, int64, int64[::1], {arr3})"),
        "scan_check_back": (scan.scan_check_back, f"void({arr2}, {arr3}, int64, int64[::1])"),
        "scan_fix_back": (
            scan.scan_fix_back,
            f"void({arr3}, {arr3}, {arr1}, {arr2}, int64, int64, int64[::1], {arr3}, {arr2}, {arr2}, {arr2})",
        ),
        "int_fill": (elementwise.fill_int, "void(int64[::1], int64)"),
        "gemm": (gemm_kernel(tile), f"void({arr2}, {arr2}, {arr3}, boolean, boolean, int64)"),
        "adam": (optimizer.adam, f"void({arr1}, {arr1}, {arr1}, {arr1}" + f", {dt}" * 11 + ")"),
        "sgd": (optimizer.sgd, f"void({arr1}, {arr1}, {arr1}" + f", {dt}" * 7 + ")"),
        "sumsq": (optimizer.sumsq, f"void({arr1}, {dt}, {arr2})"),
        "bias_add": (elementwise.bias_add, f"void({arr2}, {arr1})"),
        "add": (elementwise.add, f"void({arr1}, {arr1}, {arr1})"),
        "scale_rows": (elementwise.scale_rows, f"void({arr2}, {arr1}, {arr2})"),
        "bn_forward": (
            batchnorm.batchnorm_forward,
            f"void({arr3}, {arr1}, {arr1}, {dt}, {arr3}, {arr2}, {arr2})",
        ),
        "bn_backward": (
            batchnorm.batchnorm_backward,
            f"void({arr3}, {arr3}, {arr2}, {arr2}, {arr1}, {dt}, {arr3}, {arr2}, {arr2})",
        ),
        "bn_inference": (
            batchnorm.batchnorm_inference,
            f"void({arr3}, {arr1}, {arr1}, {arr2}, {arr2}, {dt}, {arr3})",
        ),
        "running_update": (batchnorm.running_update, f"void({arr1}, {arr1}, {arr1}, {arr1}, {dt}, {dt})"),
        "squared_error": (losses.squared_error, f"void({arr1}, {arr1}, {dt}, {arr1}, {arr1})"),
        "softmax_xent": (losses.softmax_xent, f"void({arr2}, int64[::1], {dt}, {arr2}, {arr1})"),
        "sum_into": (losses.sum_into, f"void({arr1}, {dt}, {arr1})"),
        "concat_last": (elementwise.concat_last, f"void({arr2}, {arr2}, {arr2})"),
        "split_last": (elementwise.split_last, f"void({arr2}, {arr2}, {arr2})"),
        "mask_steps": (padding.mask_steps, f"void({arr3}, int64[::1])"),
        "reverse_steps": (padding.reverse_steps, f"void({arr3}, int64[::1], {arr3})"),
        "gather_steps": (padding.gather_steps, f"void({arr3}, int64[::1], {arr2})"),
        "scatter_steps": (padding.scatter_steps, f"void({arr2}, int64[::1], {arr3})"),
        "fused_forward": (
            fused.forward,
            f"void({arr3}, {arr2}, {arr1}, {arr1}, {arr2}, int64, {arr3}, int64[::1], boolean)",
        ),
        "fused_backward": (
            fused.backward,
            f"void({arr3}, {arr3}, {arr3}, {arr2}, {arr1}, {arr2}, int64, boolean, {arr4}, {arr3}, {arr2}, "
            f"{arr2}, {arr2}, int64[::1], boolean)",
        ),
    }
    grid_stride = (config.CUDA_THREADS_PER_BLOCK, "config.CUDA_THREADS_PER_BLOCK (launch_1d)")
    launches = {
        "gemm": (tile * tile, "config.CUDA_GEMM_TILE² (tiled_gemm)"),
        "fused_backward": (
            fused.fused_launch(1, 2**20)[1],
            "min(config.CUDA_THREADS_PER_BLOCK, config.CUDA_FUSED_WIDTH) (fused_launch; narrower when N is smaller)",
        ),
    }
    return [
        KernelEntry(name, kernel, sig, *launches.get(name, grid_stride))
        for name, (kernel, sig) in sigs.items()
    ]
