"""The plain NumPy IndRNN recurrence: the specification the fast kernels follow.

Each step is vectorised over the batch and the neurons, and the loop over time
is an ordinary Python loop, so a learner can put a breakpoint inside it and
watch one step at a time. Every line sits under the equation it computes.

Notation (CVPR 2018 paper): the pre-activation of step t is

    a_t = W x_t + u ⊙ h_{t-1} + b
    h_t = σ(a_t)                                  (Eq. 2)

``xw`` below holds ``W x_t`` for every t, computed by one GEMM in the op layer.
See :mod:`indrnn_np.kernels` for the shared signatures.
"""

from __future__ import annotations

import numpy as np

from . import IDENTITY, RELU, TANH


def activate(a: np.ndarray, act: int) -> np.ndarray:
    """σ(a) for the activation code ``act``."""
    if act == RELU:
        return np.maximum(a, 0)
    if act == TANH:
        return np.tanh(a)
    if act == IDENTITY:
        return a.copy()
    raise ValueError(f"act must be one of 0, 1, 2, got {act!r}")


def activation_derivative(h: np.ndarray, act: int) -> np.ndarray:
    """σ'(a_t), recomputed from the output h_t = σ(a_t) alone.

    relu: 1 where h > 0 else 0 (the subgradient 0 is used at a = 0);
    tanh: 1 - h²; identity: 1. This is why the forward pass needs to save only
    h and not the pre-activation a.
    """
    if act == RELU:
        return (h > 0).astype(h.dtype)
    if act == TANH:
        return 1 - h * h
    if act == IDENTITY:
        return np.ones_like(h)
    raise ValueError(f"act must be one of 0, 1, 2, got {act!r}")


def recurrence_forward(xw, u, b, h0, act, h):
    """Run the recurrence forward over all T steps, writing ``h`` in place.

    Parameters
    ----------
    xw : ndarray, (T, B, N)
        ``W x_t`` for every step.
    u : ndarray, (N,)
        Recurrent weights, one per neuron.
    b : ndarray, (N,)
        Bias.
    h0 : ndarray, (B, N)
        Initial hidden state h_{-1}.
    act : int
        Activation code (``indrnn_np.kernels.ACTIVATIONS``).
    h : ndarray, (T, B, N)
        Output: the hidden state of every step.
    """
    h_prev = h0  # (B, N)
    for t in range(xw.shape[0]):
        # a_t = W x_t + u ⊙ h_{t-1} + b     (u ⊙ h: each neuron sees only itself)
        a = xw[t] + u * h_prev + b  # (B, N)
        # h_t = σ(a_t)                       (Eq. 2)
        h[t] = activate(a, act)
        h_prev = h[t]


def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part):
    """Backpropagation through time for the recurrence, in reverse time order.

    ``∂J/∂h_t`` has two parts: ``dh[t]``, what the layers above send to step t
    directly, and what step t+1 sends back through its recurrent term
    ``u ⊙ h_t``, which is ``u ⊙ ∂J/∂a_{t+1}``. Unrolling this gives the paper's
    Eq. 4: ``∂J/∂h_t = ∂J/∂h_T · Π_k u σ'_{k+1}``.

    Parameters
    ----------
    dh : ndarray, (T, B, N)
        Upstream gradient with respect to each h_t.
    h : ndarray, (T, B, N)
        Saved forward states (σ' is recomputed from them).
    u : ndarray, (N,)
    h0 : ndarray, (B, N)
    act : int
    da : ndarray, (T, B, N)
        Output: ``∂J/∂a_t``, which is also ∂J/∂(W x_t) and feeds dW and dx.
    dh0 : ndarray, (B, N)
        Output: ``∂J/∂h_{-1}``.
    du_part, db_part : ndarray, (B, N)
        Outputs: per (b, n) column, ``Σ_t ∂J/∂a_t · h_{t-1}`` and ``Σ_t ∂J/∂a_t``.
    """
    T = dh.shape[0]
    du_part[...] = 0
    db_part[...] = 0
    # carry = u ⊙ ∂J/∂a_{t+1}: the gradient that step t+1 sends back to h_t.
    carry = np.zeros_like(h0)  # (B, N)
    for t in range(T - 1, -1, -1):
        # ∂J/∂h_t = (direct) + (through time)
        g = dh[t] + carry  # (B, N)
        # ∂J/∂a_t = ∂J/∂h_t ⊙ σ'(a_t)
        da[t] = g * activation_derivative(h[t], act)
        h_prev = h[t - 1] if t > 0 else h0
        # ∂a_t/∂u = h_{t-1},  ∂a_t/∂b = 1
        du_part += da[t] * h_prev
        db_part += da[t]
        # ∂a_t/∂h_{t-1} = u
        carry = u * da[t]
    dh0[...] = carry


# --------------------------------------------------------------------------
# The optimizer update: one pass over each parameter
# --------------------------------------------------------------------------
# The training step's work after backpropagation, written as the fast kernels do it: first one
# read of each gradient for the global norm (to detect inf/NaN and for norm clipping), then one
# pass that clamps the gradient, rescales it, adds weight decay, updates the optimizer's moments
# and the parameter, and projects the parameter into [lo, hi] (u's range; ±inf for the others).
# All arrays are flat (the parameter's ravel), of one dtype; the scalars are of that dtype too.


def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` in float64; ``clip <= 0`` means no clamp (both sums equal).

    Parameters
    ----------
    g : ndarray, (P,)
    clip : float
    """
    g64 = g.astype(np.float64)
    raw = float(np.sum(g64 * g64))
    if clip <= 0:
        return raw, raw
    c = np.clip(g64, -clip, clip)
    return raw, float(np.sum(c * c))


def _effective_grad(p, g, clip, scale, wd):
    # clamp to ±clip (clip > 0), rescale (global-norm clipping), add weight decay
    if clip > 0:
        g = np.clip(g, -clip, clip)
    return g * scale + wd * p


def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam on one parameter, in place, then the projection ``p = clip(p, lo, hi)``.

    Parameters
    ----------
    p, g, m, v : ndarray, (P,)
        Parameter, gradient, first and second moments (``p``, ``m``, ``v`` updated).
    clip, scale, wd : scalar
        Element-wise clamp (``<= 0``: none), global-norm factor, weight decay (0: none).
    lr, beta1, beta2, eps : scalar
    c1, c2 : scalar
        The bias corrections ``1 - beta1**t`` and ``1 - beta2**t``.
    lo, hi : scalar
        The projection's bounds (``-inf``, ``inf``: none).
    """
    ge = _effective_grad(p, g, clip, scale, wd)
    m *= beta1
    m += (1 - beta1) * ge
    v *= beta2
    v += (1 - beta2) * ge * ge
    p -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
    np.clip(p, lo, hi, out=p)


def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum on one parameter, in place: ``vel = μ vel + g; p -= lr vel``, then the projection.

    Parameters as :func:`adam_update`; ``vel`` (P,) is the velocity (updated).
    """
    ge = _effective_grad(p, g, clip, scale, wd)
    vel *= momentum
    vel += ge
    p -= lr * vel
    np.clip(p, lo, hi, out=p)


# --------------------------------------------------------------------------
# Training on the device: the specification of the CUDA kernels of the same names
# --------------------------------------------------------------------------
# The host ops (indrnn_np.ops.basic) compute these with NumPy expressions of their own; these
# functions have the CUDA kernels' signatures (outputs written in place), so that each kernel of
# kernels/cuda.py training_kernels() is tested against its twin here. Sums are in float64.


def reduce_rows(part, out):
    """``out (N,) = Σ_b part[b]`` over the rows of part (B, N), in order."""
    out[...] = part.sum(axis=0)


def bias_add(y, b):
    """``y (R, N) += b (N,)`` on every row."""
    y += b


def add(a, b, out):
    """``out = a + b``; flat arrays (P,)."""
    np.add(a, b, out=out)


def scale_rows(x, mask, y):
    """``y[t, j] = x[t, j] mask[j]``: x, y (T, K), mask (K,) (dropout's mask, the same every step)."""
    np.multiply(x, mask, out=y)


def batchnorm_forward(x, gamma, beta, eps, y, mean, var):
    """Training-mode batch norm of each group's rows.

    Parameters
    ----------
    x : ndarray, (G, R, N)
        G groups of R rows; statistics per (group, neuron) over the rows. BN over time is
        G = 1, R = T·B; frame-wise BN is G = T, R = B.
    gamma, beta : ndarray, (N,)
    eps : scalar
    y : ndarray, (G, R, N), written: ``γ (x - μ) / √(σ² + ε) + β``
    mean, var : ndarray, (G, N), written: μ and the biased variance σ².
    """
    x64 = x.astype(np.float64)
    mean[...] = x64.mean(axis=1)
    var[...] = ((x64 - x64.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    mu, v = x64.mean(axis=1, keepdims=True), var.astype(np.float64)[:, None, :]
    y[...] = gamma * (x64 - mu) / np.sqrt(v + eps) + beta


def batchnorm_backward(dy, x, mean, var, gamma, eps, dx, dgamma_part, dbeta_part):
    """Backward of :func:`batchnorm_forward`: dx (G, R, N) and the per-group sums (G, N) of
    ``∂J/∂y x̂`` and ``∂J/∂y`` (summed over the groups for ∂J/∂γ and ∂J/∂β)."""
    R = x.shape[1]
    mu = mean.astype(np.float64)[:, None, :]
    inv = 1.0 / np.sqrt(var.astype(np.float64)[:, None, :] + eps)
    xhat = (x - mu) * inv
    dy64 = dy.astype(np.float64)
    dbeta_part[...] = dy64.sum(axis=1)
    dgamma_part[...] = (dy64 * xhat).sum(axis=1)
    g = dy64 * gamma
    dx[...] = inv * (g - g.sum(axis=1, keepdims=True) / R - xhat * (g * xhat).sum(axis=1, keepdims=True) / R)


def batchnorm_inference(x, gamma, beta, mean, var, eps, y):
    """Inference-mode batch norm: group g of x (G, R, N) uses row ``min(g, S - 1)`` of the
    statistics mean, var (S, N)."""
    idx = np.minimum(np.arange(x.shape[0]), mean.shape[0] - 1)
    y[...] = gamma * (x - mean[idx][:, None, :]) / np.sqrt(var[idx][:, None, :] + eps) + beta


def running_update(rm, rv, mean, var, momentum, unbias):
    """Running averages, in place: ``rm = (1 - m) rm + m mean``, ``rv = (1 - m) rv + m var unbias``;
    flat arrays (P,)."""
    rm[...] = (1 - momentum) * rm + momentum * mean
    rv[...] = (1 - momentum) * rv + momentum * (var * unbias)


def squared_error(pred, target, scale, dpred, part):
    """``dpred = scale (pred - target)`` and ``Σ part = Σ (pred - target)²``; flat arrays.

    The CUDA twin leaves one partial sum per thread in ``part``; this one writes the whole
    sum into ``part[0]`` and zeros after it.
    """
    d = pred.astype(np.float64) - target
    dpred[...] = scale * d
    part[...] = 0
    part[0] = np.sum(d * d)


def softmax_xent(logits, labels, scale, dlogits, loss_rows):
    """Per row of logits (R, C) with integer labels (R,): ``loss_rows`` (R,) the cross-entropy in
    nats, and ``dlogits = scale (softmax - onehot)``."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(logits.shape[0])
    loss_rows[...] = -log_p[rows, labels]
    d = np.exp(log_p)
    d[rows, labels] -= 1
    dlogits[...] = scale * d


def sum_into(part, scale, out):
    """``out[0] = scale Σ part``."""
    out[0] = scale * np.sum(part, dtype=np.float64)


def concat_last(x, y, out):
    """``out (R, C + K) = [x (R, C), y (R, K)]``."""
    out[...] = np.concatenate([x, y], axis=1)


def split_last(d, left, right):
    """The inverse of :func:`concat_last`: ``left = d[:, :C]``, ``right = d[:, C:]``."""
    C = left.shape[1]
    left[...] = d[:, :C]
    right[...] = d[:, C:]


# --------------------------------------------------------------------------
# Variable lengths: padded batches
# --------------------------------------------------------------------------
# A batch of sequences of different lengths is stored padded to T steps, (T, B, K); lengths (B,)
# says how many leading steps of each sequence are real. These move whole rows of K values; the op
# layer (indrnn_np.ops.sequences) calls them for the host backends and their CUDA twins on the GPU.


def mask_steps(a, lengths):
    """Zero the padding of a (T, B, K), in place: ``a[t, b] = 0`` for ``t >= lengths[b]``."""
    T = a.shape[0]
    pad = np.arange(T)[:, None] >= lengths[None, :]  # (T, B)
    a[pad] = 0


def reverse_steps(x, lengths, out):
    """Each sequence's real steps in reverse order: ``out[t, b] = x[lengths[b] - 1 - t, b]`` for
    ``t < lengths[b]``, and 0 in the padding. x, out (T, B, K); applying it twice gives x back
    (padding zeroed)."""
    T = x.shape[0]
    t = np.arange(T)[:, None]  # (T, 1)
    src = lengths[None, :] - 1 - t  # (T, B)
    valid = src >= 0
    cols = np.broadcast_to(np.arange(x.shape[1])[None, :], src.shape)
    out[...] = 0
    out[valid] = x[src[valid], cols[valid]]


def gather_steps(x, steps, out):
    """One step of each sequence: ``out[b] = x[steps[b], b]``; x (T, B, K), steps (B,), out (B, K)."""
    out[...] = x[steps, np.arange(x.shape[1])]


def scatter_steps(dy, steps, dx):
    """The backward of :func:`gather_steps`: ``dx = 0`` then ``dx[steps[b], b] = dy[b]``; dy (B, K),
    dx (T, B, K)."""
    dx[...] = 0
    dx[steps, np.arange(dx.shape[1])] = dy


# --------------------------------------------------------------------------
# Fused small-input projection
# --------------------------------------------------------------------------
# With few input features (the adding problem's first layer has M = 2), W x_t is M multiply-adds per
# (b, n) column: computing it inside the recurrence costs less than writing W x_t for every step to a
# (T, B, N) array and reading it back, and the same holds backward for ∂J/∂a, which dW and dx need.
# These kernels take x and W instead of xw, and backward leaves no ∂J/∂a array behind: each step's
# ∂J/∂a_t goes straight into the per-column sums of dW and into dx. The op layer uses them when
# M <= config.FUSE_MAX_M.


def fused_forward(x, W, u, b, h0, act, h):
    """The layer's forward with the input projection inside the time loop, writing ``h`` in place.

    Parameters
    ----------
    x : ndarray, (T, B, M)
        Input sequence.
    W : ndarray, (M, N)
        Input weights.
    u, b : ndarray, (N,)
    h0 : ndarray, (B, N)
    act : int
    h : ndarray, (T, B, N)
        Output: the hidden state of every step.
    """
    h_prev = h0  # (B, N)
    for t in range(x.shape[0]):
        # a_t = W x_t + u ⊙ h_{t-1} + b     (W x_t: M multiply-adds per neuron, for this step only)
        a = x[t] @ W + u * h_prev + b  # (B, N)
        # h_t = σ(a_t)                       (Eq. 2)
        h[t] = activate(a, act)
        h_prev = h[t]


def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0):
    """BPTT of :func:`fused_forward`, in reverse time order, with no ∂J/∂a array.

    The recurrence's backward (:func:`recurrence_backward`) plus, at every step,
    ``∂J/∂W += x_tᵀ ∂J/∂a_t`` and ``∂J/∂x_t = ∂J/∂a_t Wᵀ``.

    Parameters
    ----------
    dh : ndarray, (T, B, N)
        Upstream gradient with respect to each h_t.
    x : ndarray, (T, B, M)
        The forward input.
    h : ndarray, (T, B, N)
        Saved forward states (σ' is recomputed from them).
    W : ndarray, (M, N)
    u : ndarray, (N,)
    h0 : ndarray, (B, N)
    act : int
    dx : ndarray, (T, B, M), or None
        Output: ``∂J/∂x_t``; None skips it (the input needs no gradient).
    dW_part : ndarray, (B, M, N)
        Output: per batch row, ``Σ_t x_t[b, m] ∂J/∂a_t[b, n]``; the op layer sums it over the batch.
    du_part, db_part : ndarray, (B, N)
        Outputs: per (b, n) column, ``Σ_t ∂J/∂a_t · h_{t-1}`` and ``Σ_t ∂J/∂a_t``.
    dh0 : ndarray, (B, N)
        Output: ``∂J/∂h_{-1}``.
    """
    T = dh.shape[0]
    dW_part[...] = 0
    du_part[...] = 0
    db_part[...] = 0
    # carry = u ⊙ ∂J/∂a_{t+1}: the gradient that step t+1 sends back to h_t.
    carry = np.zeros_like(h0)  # (B, N)
    for t in range(T - 1, -1, -1):
        # ∂J/∂a_t = (∂J/∂h_t direct + through time) ⊙ σ'(a_t)
        da = (dh[t] + carry) * activation_derivative(h[t], act)  # (B, N), this step only
        h_prev = h[t - 1] if t > 0 else h0
        # ∂a_t/∂u = h_{t-1},  ∂a_t/∂b = 1
        du_part += da * h_prev
        db_part += da
        # ∂a_t[b, n]/∂W[m, n] = x_t[b, m]: per row, the outer product x_t[b] ⊗ ∂J/∂a_t[b]
        dW_part += x[t][:, :, None] * da[:, None, :]  # (B, M, N)
        # ∂a_t/∂x_t = Wᵀ
        if dx is not None:
            dx[t] = da @ W.T  # (B, M)
        # ∂a_t/∂h_{t-1} = u
        carry = u * da
    dh0[...] = carry
