"""Layer 2: what only the GPU has, and placement helpers that work where an array lives.

The ops are written once on the backend object (:mod:`indrnn_np.ops.backend`: its placement,
allocation, primitives and kernel set): the IndRNN layer, the recurrence, linear layers, dropout,
padding and pooling run on either side. What stays here is what the device does its own way: batch
norm over time or frame-wise (:func:`batchnorm_forward`, ... with the CUDA kernels of
:mod:`indrnn_np.kernels.batchnorm.cuda`), the losses (below), the padding mask with lengths copied
in (:func:`mask_steps`), and helpers that take a host or a device array and ask
:func:`indrnn_np.ops.backend.backend_of` where it lives (:func:`add`, :func:`concat_last`,
:func:`split_last`, :func:`copy`, :func:`zeros_like`), with the CUDA backend's :func:`to_device`,
:func:`empty`, :func:`zeros` (its counted allocations) and the GEMM (:func:`gemm`, cuBLAS or the
tiled kernel) re-exported. A dropout mask is drawn on the host from the layer's own generator (the
same masks as the CPU backend) and copied to the device.

Losses on the device return the loss as a ``(1,)`` device array, not a float:
the training step gathers it with the gradient norms and copies them in one
transfer a step (:mod:`indrnn_np.train.loop`). Their backward is computed in
the forward pass (``∂J/∂pred`` for an upstream ``dloss`` of 1), as the
kernels compute it in the same read of the predictions.

Shapes as the host ops: a leading ``(...)`` is any number of axes.
"""

from __future__ import annotations

import numpy as np

from .backend import CUDA, assign, backend_of, cublas_gemm, gemm, to_host


def _ck():
    return CUDA.kernels


def _f(dtype):
    """The scalar type of a dtype: kernel arguments are cast to it, so float32 stays float32."""
    return np.dtype(dtype).type


# --------------------------------------------------------------------------
# Arrays where they live: the backend object's placement and allocation (:mod:`.backend`)
# --------------------------------------------------------------------------


def is_device(a) -> bool:
    """True for a Numba CUDA device array (real or simulated): it lives on the CUDA backend."""
    return backend_of(a).on_device


def to_device(a):
    """A C-contiguous device array of ``a``: a NumPy array is copied in, a device array returned as it is."""
    return CUDA.to_device(a)


def empty(shape, dtype):
    """An uninitialised device array (counted: :attr:`indrnn_np.ops.backend.Backend.memory`)."""
    return CUDA.empty(shape, dtype)


def zeros(shape, dtype):
    """A device array of zeros, filled on the device."""
    return CUDA.zeros(shape, dtype)


def zeros_like(a):
    """Zeros of a's shape and dtype, where a lives (device or host)."""
    return backend_of(a).zeros_like(a)


def copy(a):
    """A C-contiguous copy of ``a`` where it lives (a device-to-device copy for a device array)."""
    return backend_of(a).copy(a)


def _rows(a) -> int:
    return int(np.prod(a.shape[:-1], dtype=np.int64))


def _launch(kernel, n, *args):
    _ck().launch(kernel, n, *args)


def add(a, b):
    """``a + b`` where the arrays live (residual connections): on the device, two device arrays of
    one shape and dtype."""
    return backend_of(a).add(a, b)


def concat_last(x, y):
    """``concat([x, y], axis=-1)`` where the arrays live: x (..., C), y (..., K) -> (..., C + K)."""
    return backend_of(x).concat_last(x, y)


def split_last(d, C: int):
    """``(d[..., :C], d[..., C:])`` where d lives: on the device two C-contiguous device arrays; on the
    host a view and a C-contiguous copy (the part a body's backward takes)."""
    return backend_of(d).split_last(d, C)


def last_step_backward(dy, shape):
    """∂J/∂x of ``x[-1]``: zeros of ``shape`` (T, B, N) with dy (B, N) in the last step."""
    dx = zeros(shape, dy.dtype)
    dx[shape[0] - 1].copy_to_device(dy)
    return dx


# --------------------------------------------------------------------------
# Batch norm: over time (one group of T·B rows) or frame-wise (T groups of B rows)
# --------------------------------------------------------------------------


def _groups(x, mode):
    """x viewed as (G, R, N): one group for BN over time (or a (B, N) array), T groups frame-wise."""
    N = tuple(x.shape)[-1]
    if mode == "frame":
        return x.reshape(x.shape[0], _rows(x) // x.shape[0], N)
    return x.reshape(1, _rows(x), N)


def batchnorm_forward(x, gamma, beta, mode, eps):
    """Training-mode batch norm on the device.

    Returns
    -------
    y : device array, like x
    cache : tuple, for :func:`batchnorm_backward`
    mean, var : device arrays, (G, N)
        The batch statistics (var biased): G = 1 over time, G = T frame-wise.
    """
    x = to_device(x)
    x3 = _groups(x, mode)
    G, R, N = x3.shape
    f = _f(x.dtype)
    y, mean, var = empty(x.shape, x.dtype), empty((G, N), x.dtype), empty((G, N), x.dtype)
    _launch(_ck().batchnorm_forward, G * N, x3, gamma, beta, f(eps), _groups(y, mode), mean, var)
    return y, (x, mean, var, gamma, f(eps), mode), mean, var


def batchnorm_backward(dy, cache):
    """``(dx, dgamma, dbeta)`` of :func:`batchnorm_forward`, on the device."""
    ck = _ck()
    x, mean, var, gamma, eps, mode = cache
    x3 = _groups(x, mode)
    G, R, N = x3.shape
    dx = empty(x.shape, x.dtype)
    dgamma_part, dbeta_part = empty((G, N), x.dtype), empty((G, N), x.dtype)
    _launch(
        _ck().batchnorm_backward, G * N, _groups(dy, mode), x3, mean, var, gamma, eps,
        _groups(dx, mode), dgamma_part, dbeta_part,
    )  # fmt: skip
    dgamma, dbeta = empty(N, x.dtype), empty(N, x.dtype)
    ck.reduce_rows(dgamma_part, dgamma)
    ck.reduce_rows(dbeta_part, dbeta)
    return dx, dgamma, dbeta


def batchnorm_inference(x, gamma, beta, mean, var, mode, eps):
    """Inference-mode batch norm with stored statistics mean, var (S, N) or (N,) on the device;
    frame-wise, step t uses row ``min(t, S - 1)``."""
    x = to_device(x)
    x3 = _groups(x, mode)
    N = x3.shape[2]
    mean2, var2 = (a.reshape(a.size // N, N) for a in (mean, var))
    y = empty(x.shape, x.dtype)
    _launch(
        _ck().batchnorm_inference, x.size, x3, gamma, beta, mean2, var2, _f(x.dtype)(eps),
        _groups(y, mode),
    )  # fmt: skip
    return y


def running_update(rm, rv, mean, var, momentum, unbias) -> None:
    """Running averages of the statistics, in place on the device; rm, rv, mean, var of one shape."""
    f = _f(rm.dtype)
    flat = [a.reshape(a.size) for a in (rm, rv, mean, var)]
    _launch(_ck().running_update, rm.size, *flat, f(momentum), f(unbias))


# --------------------------------------------------------------------------
# Dropout's mask, the same at every step
# --------------------------------------------------------------------------


def scale_rows(x, mask):
    """``x * mask``, the (B, N) mask broadcast over the T steps of x (T, B, N)."""
    return CUDA.scale_rows(x, mask)


# --------------------------------------------------------------------------
# Losses: the loss as a (1,) device array, the gradient computed in the same pass
# --------------------------------------------------------------------------


def _reduce(part, scale, out=None):
    out = empty(1, part.dtype) if out is None else out
    _ck().sum_into[1, 1](part, _f(part.dtype)(scale), out)  # one thread: a fixed order
    return out


def mse_forward(pred, target, count=None):
    """``mean((pred - target)²)`` on the device: ``(loss (1,), cache)``; the cache holds ∂J/∂pred.

    ``count``: divide the sum by this instead of pred's size (a padded batch whose padding the
    caller has zeroed in both arrays: the mean over the real values).
    """
    ck = _ck()
    target = CUDA.to_device_as(target, pred.dtype)
    if tuple(target.shape) != tuple(pred.shape):
        raise ValueError(f"target must have pred's shape {tuple(pred.shape)}; got {tuple(target.shape)}")
    P = pred.size
    n = P if count is None else count
    f = _f(pred.dtype)
    dpred = empty(pred.shape, pred.dtype)
    grid, tpb = ck.reduction_launch(P)
    part = empty(grid * tpb, pred.dtype)
    _ck().squared_error[grid, tpb](pred.reshape(P), target.reshape(P), f(2.0 / n), dpred.reshape(P), part)
    return _reduce(part, 1.0 / n), (dpred,)


def softmax_cross_entropy_forward(logits, labels, lengths=None):
    """Mean cross-entropy on the device: ``(loss (1,), cache)``; labels (...) integers, host or device.

    ``lengths`` (B,): logits (T, B, C) is a padded batch; its padding rows (whose labels the caller
    has set to any valid class) count nothing, and the mean is over the real rows.
    """
    C = tuple(logits.shape)[-1]
    R = _rows(logits)
    if not backend_of(labels).on_device:
        labels = np.asarray(labels)
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers; got dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= C):
            raise ValueError(f"labels must be in [0, {C}); got values from {labels.min()} to {labels.max()}")
        labels = to_device(labels.astype(np.int64))
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"labels must have shape logits.shape[:-1] = {tuple(logits.shape[:-1])}; got {tuple(labels.shape)}"
        )
    n = R if lengths is None else int(np.sum(lengths))
    dlogits, loss_rows = empty(logits.shape, logits.dtype), empty(R, logits.dtype)
    _launch(
        _ck().softmax_xent, R, logits.reshape(R, C), labels.reshape(R),
        _f(logits.dtype)(1.0 / n), dlogits.reshape(R, C), loss_rows,
    )  # fmt: skip
    if lengths is not None:
        T, B = logits.shape[0], logits.shape[1]
        mask_steps(dlogits, lengths)
        mask_steps(loss_rows.reshape(T, B, 1), lengths)
    return _reduce(loss_rows, 1.0 / n), (dlogits,)


def loss_backward(dloss, cache):
    """∂J/∂pred of a device loss for the upstream scalar ``dloss`` (1: the gradient the forward made)."""
    (d,) = cache
    if float(dloss) == 1.0:
        return d
    out = empty(d.shape, d.dtype)
    factor = to_device(np.full(d.size, dloss, dtype=d.dtype))
    _launch(_ck().scale_rows, d.size, d.reshape(1, d.size), factor, out.reshape(1, d.size))
    return out


def device_ints(a):
    """An int64 device array of ``a`` (lengths, steps: B integers copied in)."""
    return CUDA.ints(a)


def mask_steps(a, lengths) -> None:
    """Zero the padding of the device array ``a`` (T, B, ...) in place: ``a[t, b] = 0`` for
    ``t >= lengths[b]`` (lengths checked by the caller)."""
    T, B = a.shape[0], a.shape[1]
    _launch(_ck().mask_steps, a.size, a.reshape(T, B, a.size // (T * B)), device_ints(lengths))


__all__ = [
    "add",
    "assign",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "concat_last",
    "copy",
    "cublas_gemm",
    "device_ints",
    "empty",
    "gemm",
    "is_device",
    "last_step_backward",
    "loss_backward",
    "mask_steps",
    "mse_forward",
    "running_update",
    "scale_rows",
    "softmax_cross_entropy_forward",
    "split_last",
    "to_device",
    "to_host",
    "zeros",
    "zeros_like",
]
