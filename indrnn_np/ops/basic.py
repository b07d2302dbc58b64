"""Dense layers and losses as forward/backward pairs.

Shapes: a leading ``(...)`` means any number of leading axes, e.g. ``(T, B)``
for a projection applied at every step (one GEMM over all T*B rows) or
``(B,)`` for a head on the last step only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_lengths, check_same_dtype, check_shape
from . import buffers, device
from .backend import CPU, CUDA, NUMPY, backend_of, matmul, resolve

__all__ = ["matmul"]  # re-exported: the CPU ops' one GEMM (:func:`indrnn_np.ops.backend.matmul`)


class LinearGrads(NamedTuple):
    dx: np.ndarray  # (..., M)
    dW: np.ndarray  # (M, N)
    db: np.ndarray | None  # (N,); None for a layer without bias


def linear_forward(x, W, b=None):
    """``y = x W + b`` over every leading axis, as one GEMM.

    Parameters
    ----------
    x : ndarray, (..., M)
    W : ndarray, (M, N)
    b : ndarray, (N,), or None for no bias (no addition, and no db)

    Returns
    -------
    y : ndarray, (..., N)
        A device array when x is one (the GEMM and the bias run on the GPU; W and b must be
        device arrays too).
    cache : tuple (x, W, has_bias)
    """
    bk = backend_of(x)
    check_array("x", x, None, backend=bk)
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (..., M); got a 0-d array")
    M = tuple(x.shape)[-1]
    check_array("W", W, 2, backend=bk)
    if W.shape[0] != M:
        raise ValueError(f"W must have shape (M, N) with M = x.shape[-1] = {M}; got {tuple(W.shape)}")
    if b is not None:
        check_array("b", b, 1, backend=bk)
        check_shape("b", b, (W.shape[1],), "(N,)")
    check_same_dtype("x", x.dtype, {"W": W, "b": b})
    y = bk.matmul(x.reshape(-1, M), W)  # (rows, N): one GEMM over every row
    if b is not None:
        bk.bias_add(y, b)
    return y.reshape(*x.shape[:-1], W.shape[1]), (x, W, b is not None)


def linear_backward(dy, cache, *, need_dx: bool = True) -> LinearGrads:
    """Backward of :func:`linear_forward`: dx = dy Wᵀ, dW = xᵀ dy, db = Σ dy (None without bias).

    ``need_dx=False`` skips the GEMM of dx and returns ``dx=None``.
    """
    x, W, has_bias = cache
    N = W.shape[1]
    bk = backend_of(x)
    check_array("dy", dy, x.ndim, backend=bk)
    check_shape("dy", dy, (*x.shape[:-1], N), "(..., N)")
    dy2d = dy.reshape(-1, N)
    x2d = x.reshape(-1, tuple(x.shape)[-1])
    dW = bk.matmul(x2d, dy2d, trans_a=True, long_k=True)  # (M, N)
    return LinearGrads(
        dx=bk.matmul(dy2d, W, trans_b=True).reshape(x.shape) if need_dx else None,  # (..., M)
        dW=dW,
        db=bk.sum_rows(dy2d) if has_bias else None,  # (N,)
    )


def mse_forward(pred, target, lengths=None):
    """Mean squared error ``J = mean((pred - target)²)`` over every element.

    Parameters
    ----------
    pred, target : ndarray, same shape
    lengths : int array, (B,), optional
        With per-step predictions ``(T, B, ...)``: a padded batch; the mean is
        over the real steps only (the padding's values of pred and target are
        ignored, and ∂J/∂pred is 0 there). Ignored for any other pred (a
        last-step head's (B, K) already reads each sequence's own last step).

    Returns
    -------
    loss : float
        On device arrays, a (1,) device array (not copied back: the training step
        copies it once, with the gradient norms).
    cache : tuple (diff,), or (∂J/∂pred,) on the device
    """
    per_step = lengths is not None and len(pred.shape) >= 3
    if per_step:
        from .sequences import mask_padding

        lengths = check_lengths(lengths, pred.shape[0], pred.shape[1])
        count = int(lengths.sum()) * int(np.prod(pred.shape[2:]))
    bk = backend_of(pred)
    if bk.on_device:  # the loss and ∂J/∂pred in one pass of the CUDA kernels
        check_array("pred", pred, None, backend=bk)
        if not per_step:
            return device.mse_forward(pred, target)
        target = bk.to_device_as(target, pred.dtype)
        if tuple(target.shape) != tuple(pred.shape):
            raise ValueError(f"target must have pred's shape {tuple(pred.shape)}; got {tuple(target.shape)}")
        return device.mse_forward(mask_padding(pred, lengths), mask_padding(target, lengths), count=count)
    check_array("pred", pred, None)
    if not isinstance(target, np.ndarray) or target.shape != pred.shape:
        raise ValueError(
            f"target must be an array of pred's shape {pred.shape}; got {getattr(target, 'shape', type(target).__name__)}"
        )
    diff = pred - target.astype(pred.dtype, copy=False)
    if per_step:
        mask_padding(diff, lengths, copy=False)  # NaN padding in the target is ignored too
        return float(np.sum(diff * diff) / count), (diff, count)
    return float(np.mean(diff * diff)), (diff, diff.size)


def mse_backward(dloss, cache):
    """∂J/∂pred = 2 (pred - target) / count, times the upstream scalar ``dloss`` (count: the values
    the mean ran over)."""
    if backend_of(cache[0]).on_device:
        return device.loss_backward(dloss, cache)
    diff, count = cache
    return (2.0 * float(dloss) / count) * diff


# --------------------------------------------------------------------------
# Batch normalisation
# --------------------------------------------------------------------------


class BatchNormGrads(NamedTuple):
    dx: np.ndarray  # like x
    dgamma: np.ndarray  # (N,)
    dbeta: np.ndarray  # (N,)


class BatchNormCache(NamedTuple):
    backend: object  # the NUMPY or CPU backend (the Numba rows kernels), or "masked" (with lengths)
    a: np.ndarray  # numpy, masked: x̂; cpu: x (C-contiguous)
    mean: np.ndarray | None  # cpu: μ, (N,) float64
    inv_std: np.ndarray  # 1/σ, broadcastable against x (numpy, masked) or (N,) float64 (cpu)
    gamma: np.ndarray
    axes: tuple
    mask: np.ndarray | None = None  # masked: (T, B, 1), 1 on real steps
    count: np.ndarray | None = None  # masked: values per statistic, broadcastable against x
    on_device: bool = False  # masked: x came as a device array (computed on the host)


def batchnorm_forward(x, gamma, beta, axes, eps: float = 1e-5, backend: str = "cpu", lengths=None):
    """Training-mode batch normalisation: ``y = γ (x - μ) / √(σ² + ε) + β``.

    The statistics are taken over ``axes``:

    * ``(0, 1)`` of a (T, B, N) array: **BN over time**, one mean and variance
      per neuron over the batch and every step (the paper, for classification);
    * ``(1,)``: **frame-wise** BN, one mean and variance per (step, neuron),
      over the batch only (the paper, for language modelling).

    γ and β are per neuron, ``(N,)``, shared by every step in both cases.

    Parameters
    ----------
    x : ndarray, (T, B, N) (or any shape whose last axis is N)
    gamma, beta : ndarray, (N,)
    axes : tuple of int
        Axes to normalise over; must not include the last.
    eps : float
    backend : {"cpu", "numpy", "cuda"}
        ``"cuda"``: the kernels of :mod:`indrnn_np.ops.device` (x a device array, or
        copied to the device; BN over time or frame-wise only; the cache and
        statistics are device arrays, the statistics (G, N): G = 1 over time, T
        frame-wise). ``"cpu"``: when ``axes`` are every axis but the last (BN over time,
        or over the batch of a (B, N) array), the Numba kernels of
        :mod:`indrnn_np.kernels.cpu` (one pass per statistic, parallel,
        float64 sums); frame-wise BN stays in NumPy. ``"numpy"``: always the
        NumPy expressions below (the reference).
    lengths : int array, (B,), optional
        Variable lengths of a padded (T, B, N) batch (:mod:`indrnn_np.ops.sequences`):
        the statistics use the real steps only (over time: every real step of
        every sequence; frame-wise, at step t: the sequences that have it), and
        y is 0 in the padding. Computed with NumPy on any backend (a device x is
        copied to the host and y back). A frame-wise step that no sequence has
        gets mean 0 and variance 1.

    Returns
    -------
    y : ndarray, like x
    cache : BatchNormCache
    mean, var : ndarray
        The batch statistics (var biased), shaped like x with ``axes`` removed
        (the layer folds them into its running averages).
    """
    backend = resolve(backend)
    check_array("x", x, None, backend=backend)
    N = tuple(x.shape)[-1]
    for name, a in (("gamma", gamma), ("beta", beta)):
        check_array(name, a, 1, backend=backend)
        check_shape(name, a, (N,), "(N,)")
    check_same_dtype("x", x.dtype, {"gamma": gamma, "beta": beta})
    axes = tuple(a % x.ndim for a in axes)
    if x.ndim - 1 in axes:
        raise ValueError(f"axes must not include the feature axis {x.ndim - 1}; got {axes}")
    if lengths is not None:
        return _batchnorm_masked(x, gamma, beta, axes, eps, lengths)
    if backend.on_device:
        if axes == tuple(range(x.ndim - 1)):
            return device.batchnorm_forward(x, gamma, beta, "time", eps)
        if x.ndim == 3 and axes == (1,):
            return device.batchnorm_forward(x, gamma, beta, "frame", eps)
        raise ValueError(
            f"the cuda batch norm normalises over time (axes {tuple(range(x.ndim - 1))}) or frame-wise "
            f"(axes (1,) of a (T, B, N) array); got axes {axes} for shape {tuple(x.shape)}"
        )
    if backend is CPU and axes == tuple(range(x.ndim - 1)) and x.size > 0:
        cpu = backend.kernels
        x = np.ascontiguousarray(x)
        x2 = x.reshape(-1, N)
        y = buffers.empty(x2.shape, x2.dtype)
        mean, var = np.empty(N), np.empty(N)
        cpu.batchnorm_rows_forward(x2, gamma, beta, float(eps), y, mean, var)
        cache = BatchNormCache(CPU, x, mean, 1.0 / np.sqrt(var + eps), gamma, axes)
        return y.reshape(x.shape), cache, mean.astype(x.dtype), var.astype(x.dtype)
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta
    cache = BatchNormCache(NUMPY, xhat, None, inv_std, gamma, axes)
    return y, cache, np.squeeze(mean, axis=axes), np.squeeze(var, axis=axes)


def _batchnorm_masked(x, gamma, beta, axes, eps, lengths):
    """Batch norm of a padded (T, B, N) batch over its real steps; see :func:`batchnorm_forward`."""
    if x.ndim != 3 or axes not in ((0, 1), (1,)):
        raise ValueError(
            f"batch norm with lengths needs x of shape (T, B, N) and axes (0, 1) (over time) or (1,) "
            f"(frame-wise); got shape {tuple(x.shape)} and axes {axes}"
        )
    bk = backend_of(x)
    on_device = bk.on_device
    x, gamma, beta = (bk.to_host(a) for a in (x, gamma, beta))
    T, B, _ = x.shape
    real = (np.arange(T)[:, None] < check_lengths(lengths, T, B)[None, :])[..., None]  # (T, B, 1)
    m = real.astype(x.dtype)
    x = np.where(real, x, 0)  # whatever the padding holds (NaN included) is never read
    count = m.sum(axis=axes, keepdims=True)  # values per statistic
    safe = np.maximum(count, 1)
    mean = (x * m).sum(axis=axes, keepdims=True) / safe
    xc = (x - mean) * m  # 0 in the padding
    var = (xc * xc).sum(axis=axes, keepdims=True) / safe
    var = np.where(count > 0, var, 1)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = xc * inv_std
    y = gamma * xhat + beta * m
    cache = BatchNormCache("masked", xhat, None, inv_std, gamma, axes, m, safe, on_device)
    mean, var = np.squeeze(mean, axis=axes), np.squeeze(var, axis=axes)
    return bk.to_device(y), cache, bk.to_device(mean), bk.to_device(var)


def batchnorm_backward(dy, cache) -> BatchNormGrads:
    """Backward of :func:`batchnorm_forward`.

    With m values per statistic, ``x̂ = (x - μ) / σ`` and ``g = ∂J/∂x̂ = γ ∂J/∂y``:
    ``∂J/∂x = (g - mean(g) - x̂ · mean(g x̂)) / σ`` (means over the
    normalisation axes), ``∂J/∂γ = Σ ∂J/∂y x̂`` and ``∂J/∂β = Σ ∂J/∂y`` over
    every axis but the last. With lengths, the means and sums run over the real
    steps and ∂J/∂x is 0 in the padding.
    """
    if isinstance(cache, BatchNormCache) and cache.backend == "masked":
        xhat, inv_std, gamma, axes, m, count = (
            cache.a,
            cache.inv_std,
            cache.gamma,
            cache.axes,
            cache.mask,
            cache.count,
        )
        bk = CUDA if cache.on_device else NUMPY  # where x came from, and the gradients go back to
        check_array("dy", dy, 3, backend=bk)
        check_shape("dy", dy, xhat.shape, "x's shape")
        dy = np.where(m > 0, bk.to_host(dy), 0)
        g = dy * gamma
        dx = (
            inv_std
            * (
                g
                - g.sum(axis=axes, keepdims=True) / count
                - xhat * (g * xhat).sum(axis=axes, keepdims=True) / count
            )
            * m
        )
        grads = (dx, (dy * xhat).sum(axis=(0, 1)), dy.sum(axis=(0, 1)))
        return BatchNormGrads(*(bk.to_device(a) for a in grads))
    if not isinstance(cache, BatchNormCache):  # the cuda backend's cache
        check_array("dy", dy, cache[0].ndim, backend=CUDA)
        check_shape("dy", dy, cache[0].shape, "x's shape")
        return BatchNormGrads(*device.batchnorm_backward(device.to_device(dy), cache))
    if cache.backend is CPU:
        cpu = CPU.kernels
        x = cache.a
        check_array("dy", dy, x.ndim)
        check_shape("dy", dy, x.shape, "x's shape")
        check_same_dtype("x", x.dtype, {"dy": dy})
        N = tuple(x.shape)[-1]
        dx = buffers.empty(x.shape, x.dtype)
        dgamma, dbeta = np.empty(N), np.empty(N)
        dy2 = np.ascontiguousarray(dy).reshape(-1, N)
        cpu.batchnorm_rows_backward(
            dy2, x.reshape(-1, N), cache.mean, cache.inv_std, cache.gamma, dx.reshape(-1, N), dgamma, dbeta
        )
        return BatchNormGrads(dx, dgamma.astype(dy.dtype), dbeta.astype(dy.dtype))
    xhat, inv_std, gamma, axes = cache.a, cache.inv_std, cache.gamma, cache.axes
    check_array("dy", dy, xhat.ndim)
    check_shape("dy", dy, xhat.shape, "x's shape")
    all_but_last = tuple(range(xhat.ndim - 1))
    g = dy * gamma
    dx = inv_std * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    return BatchNormGrads(dx, (dy * xhat).sum(axis=all_but_last), dy.sum(axis=all_but_last))


def batchnorm_inference(x, gamma, beta, mean, var, eps: float = 1e-5):
    """Inference-mode batch normalisation with stored statistics (broadcast against x)."""
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


# --------------------------------------------------------------------------
# Dropout, one mask per sequence
# --------------------------------------------------------------------------


def dropout_forward(x, p: float, rng: np.random.Generator):
    """Inverted dropout with **one mask per sequence, shared over time**.

    Parameters
    ----------
    x : ndarray, (T, B, N)
    p : float
        Drop probability, in [0, 1).
    rng : numpy.random.Generator

    Returns
    -------
    y : ndarray, (T, B, N)
        ``x * mask / (1 - p)`` with mask ``(B, N)`` the same at every step.
    cache : ndarray, (B, N)
        The scaled mask.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1); got {p}")
    check_array("x", x, 3, backend=CUDA)  # a NumPy or a device array
    mask = (rng.random(tuple(x.shape[1:])) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)  # (B, N)
    bk = backend_of(x)
    mask = bk.to_device(mask)  # the same draws on every backend, copied to the device there
    return bk.scale_rows(x, mask), mask


def dropout_backward(dy, mask):
    """∂J/∂x = ∂J/∂y ⊙ mask (the same mask at every step)."""
    return backend_of(dy).scale_rows(dy, mask)


# --------------------------------------------------------------------------
# Softmax cross-entropy
# --------------------------------------------------------------------------


def softmax_cross_entropy_forward(logits, labels, lengths=None):
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)``, in nats.

    Parameters
    ----------
    logits : ndarray, (..., C)
    labels : ndarray of int, (...)
        Values in [0, C) (in the padding, with ``lengths``: any integer).
    lengths : int array, (B,), optional
        With per-step logits ``(T, B, C)``: a padded batch; the mean is over
        the real steps, and ∂J/∂logits is 0 in the padding. Ignored for any
        other shape.

    Returns
    -------
    loss : float
        ``-mean(log softmax(logits)[labels])``.
    cache : tuple
        On device logits, the loss is a (1,) device array and the cache holds ∂J/∂logits.
    """
    mask = None
    if lengths is not None and len(logits.shape) == 3:  # per step: a padded batch
        lengths = check_lengths(lengths, logits.shape[0], logits.shape[1])
        mask = np.arange(logits.shape[0])[:, None] < lengths[None, :]  # (T, B)
        labels = np.asarray(backend_of(labels).to_host(labels))
        if labels.shape == mask.shape and labels.dtype.kind in "iu":
            labels = np.where(mask, labels, 0)  # the padding's labels, whatever they are, ignored
    if backend_of(logits).on_device:  # the loss and ∂J/∂logits in one pass of the CUDA kernels
        check_array("logits", logits, None, backend=CUDA)
        return device.softmax_cross_entropy_forward(logits, labels, None if mask is None else lengths)
    check_array("logits", logits, None)
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers; got dtype {labels.dtype}")
    if labels.shape != logits.shape[:-1]:
        raise ValueError(
            f"labels must have shape logits.shape[:-1] = {logits.shape[:-1]}; got {labels.shape}"
        )
    C = tuple(logits.shape)[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(f"labels must be in [0, {C}); got values from {labels.min()} to {labels.max()}")
    shifted = logits - logits.max(axis=-1, keepdims=True)  # log-sum-exp without overflow
    log_z = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    log_p = shifted - log_z
    picked = np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
    if mask is None:
        return float(-picked.mean()), (log_p, labels, None, labels.size)
    count = int(mask.sum())
    return float(-np.sum(picked, where=mask) / count), (log_p, labels, mask, count)


def softmax_cross_entropy_backward(dloss, cache):
    """∂J/∂logits = (softmax(logits) - onehot(labels)) / count, times ``dloss`` (0 in a padding)."""
    if backend_of(cache[0]).on_device:
        return device.loss_backward(dloss, cache)
    log_p, labels, mask, count = cache
    d = np.exp(log_p)
    np.put_along_axis(d, labels[..., None], np.take_along_axis(d, labels[..., None], axis=-1) - 1, axis=-1)
    if mask is not None:
        d *= mask[..., None]
    return d * (float(dloss) / count)
