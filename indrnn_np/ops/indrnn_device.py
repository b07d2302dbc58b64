"""Layer 2: the IndRNN layer on the GPU, chaining the CUDA kernels of :mod:`indrnn_np.kernels.cuda`.

What :func:`indrnn_np.ops.indrnn_forward` and :func:`indrnn_np.ops.indrnn_backward` run for
``backend="cuda"``: the device arrays allocated, the GEMMs (:func:`indrnn_np.ops.device.gemm`), the
recurrence, scan or fused kernels, and the batch sums reduced. The CUDA target is loaded only when
one of these runs (:func:`indrnn_np.ops.backend.require_cuda`).
"""

from __future__ import annotations

from .. import config
from .._checks import is_device_array
from . import device
from .backend import require_cuda


def recurrence_backward_sums(dh, h, u, h0, act, algorithm="sequential"):
    """BPTT of the recurrence alone on device arrays: ``(da (T, B, N), du (N,), db (N,), dh0 (B, N))``,
    the batch sums reduced as :data:`config.CUDA_REDUCTION` says (``algorithm="scan"``: always the
    two-stage sums, after the chunks' sums)."""
    ck = require_cuda()
    T, B, N = dh.shape
    da = device.empty((T, B, N), dh.dtype)
    dh0 = device.empty((B, N), dh.dtype)
    if algorithm != "scan" and config.cuda_reduction() == "atomic":
        du, db = device.zeros(N, dh.dtype), device.zeros(N, dh.dtype)
        ck.recurrence_backward_atomic(dh, h, u, h0, act, da, dh0, du, db)
        return da, du, db, dh0
    # per-(b, n) sums over time, then over the batch in a fixed order: the scan's and the loop's alike
    backward = ck.scan_backward if algorithm == "scan" else ck.recurrence_backward
    du, db = device.empty(N, dh.dtype), device.empty(N, dh.dtype)
    du_part = device.empty((B, N), dh.dtype)
    db_part = device.empty((B, N), dh.dtype)
    backward(dh, h, u, h0, act, da, dh0, du_part, db_part)
    ck.reduce_rows(du_part, du)
    ck.reduce_rows(db_part, db)
    return da, du, db, dh0


def layer_forward(x, W, u, b, h0, act, algorithm="sequential"):
    """The layer forward on the GPU (``algorithm="scan"``: the recurrence as :func:`scan_forward`).

    Returns
    -------
    h : (T, B, N)
        A NumPy array when x was a NumPy array, else a device array.
    x_d, W_d, u_d, h0_d, h_d : device arrays
        Kept in the cache so that backward reads them without a second copy.
    """
    ck = require_cuda()
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(x)
    x_d, W_d, u_d, b_d = (device.to_device(a) for a in (x, W, u, b))
    h0_d = device.zeros((B, N), x.dtype) if h0 is None else device.to_device(h0)
    xw = device.gemm(x_d.reshape(T * B, M), W_d).reshape(T, B, N)  # W x_t for all t: one GEMM
    h_d = device.empty((T, B, N), x.dtype)
    (ck.scan_forward if algorithm == "scan" else ck.recurrence_forward)(xw, u_d, b_d, h0_d, act, h_d)
    return (h_d.copy_to_host() if host else h_d), x_d, W_d, u_d, h0_d, h_d


def layer_backward(dh, x, W, u, h0, h, act, need_dx=True, algorithm="sequential"):
    """BPTT of the layer on the GPU; returns dx, dW, du, db, dh0 (NumPy when dh is NumPy; dx None
    without ``need_dx``)."""
    ck = require_cuda()
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(dh)
    da, du, db, dh0 = recurrence_backward_sums(device.to_device(dh), h, u, h0, act, algorithm)
    da2d = da.reshape(T * B, N)
    splits = ck.split_k(T * B, M, N, config.CUDA_GEMM_TILE)
    dW = device.gemm(x.reshape(T * B, M), da2d, trans_a=True, splits=splits)  # (M, N) = xᵀ ∂J/∂a
    dx = device.gemm(da2d, W, trans_b=True).reshape(T, B, M) if need_dx else None  # (T*B, M) = ∂J/∂a Wᵀ
    out = (dx, dW, du, db, dh0)
    return tuple(None if a is None else a.copy_to_host() for a in out) if host else out


def layer_forward_fused(x, W, u, b, h0, act):
    """:func:`layer_forward` with :func:`fused_forward`: no GEMM and no (T, B, N) array of ``W x_t``.
    Same arguments and returns."""
    ck = require_cuda()
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(x)
    x_d, W_d, u_d, b_d = (device.to_device(a) for a in (x, W, u, b))
    h0_d = device.zeros((B, N), x.dtype) if h0 is None else device.to_device(h0)
    h_d = device.empty((T, B, N), x.dtype)
    ck.fused_forward(x_d, W_d, u_d, b_d, h0_d, act, h_d)
    return (h_d.copy_to_host() if host else h_d), x_d, W_d, u_d, h0_d, h_d


def layer_backward_fused(dh, x, W, u, h0, h, act, need_dx=True):
    """:func:`layer_backward` with :func:`fused_backward`: dW and dx summed in the kernel, no (T, B, N)
    array of ∂J/∂a; the batch sums of dW, du, db in two stages (the fused kernel has no atomic variant).
    Same arguments and returns."""
    ck = require_cuda()
    T, B, M = x.shape
    N = W.shape[1]
    host = not is_device_array(dh)
    dh = device.to_device(dh)
    dx = device.empty((T, B, M), dh.dtype) if need_dx else None
    dW_part = device.empty((B, M, N), dh.dtype)
    dh0, du_part, db_part = (device.empty((B, N), dh.dtype) for _ in range(3))
    ck.fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0)
    dW = device.empty((M, N), dh.dtype)
    du, db = device.empty(N, dh.dtype), device.empty(N, dh.dtype)
    ck.reduce_rows(dW_part.reshape(B, M * N), dW.reshape(M * N))
    ck.reduce_rows(du_part, du)
    ck.reduce_rows(db_part, db)
    out = (dx, dW, du, db, dh0)
    return tuple(None if a is None else a.copy_to_host() for a in out) if host else out
