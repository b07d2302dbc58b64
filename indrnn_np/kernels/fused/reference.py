"""The fused small-input layer, in plain NumPy: the specification of the fused CPU and CUDA kernels.

The NumPy backend itself never fuses (it runs the GEMM, then :mod:`..recurrence.reference`): these
twins are what the fused kernels of :mod:`.cpu` and :mod:`.cuda` are tested against, and they are
tested against that plain path.
"""

from __future__ import annotations

import numpy as np

from ..recurrence.reference import activate, activation_derivative, step_order

# --------------------------------------------------------------------------
# Fused small-input projection
# --------------------------------------------------------------------------
# With few input features (the adding problem's first layer has M = 2), W x_t is M multiply-adds per
# (b, n) column: computing it inside the recurrence costs less than writing W x_t for every step to a
# (T, B, N) array and reading it back, and the same holds backward for ∂J/∂a, which dW and dx need.
# These kernels take x and W instead of xw, and backward leaves no ∂J/∂a array behind: each step's
# ∂J/∂a_t goes straight into the per-column sums of dW and into dx. The op layer uses them when
# M <= config.FUSE_MAX_M.


def fused_forward(x, W, u, b, h0, act, h, lengths=None, reverse=False):
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
    lengths : int ndarray, (B,), optional
    reverse : bool, optional
        In reverse time, as :func:`indrnn_np.kernels.reference.recurrence_forward`.
    """
    if reverse:
        rows = np.arange(x.shape[1])
        order = step_order(
            x.shape[0], lengths, True, x.shape[1]
        )  # (T, B): row b's s-th step is time order[s, b]
        h_prev = h0
        for s in range(x.shape[0]):
            t = order[s]
            h[t, rows] = activate(x[t, rows] @ W + u * h_prev + b, act)
            h_prev = h[t, rows]
        return
    h_prev = h0  # (B, N)
    for t in range(x.shape[0]):
        # a_t = W x_t + u ⊙ h_{t-1} + b     (W x_t: M multiply-adds per neuron, for this step only)
        a = x[t] @ W + u * h_prev + b  # (B, N)
        # h_t = σ(a_t)                       (Eq. 2)
        h[t] = activate(a, act)
        h_prev = h[t]


def fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0, lengths=None, reverse=False):
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
        Output: ``∂J/∂h_0``, the gradient of the initial state.
    lengths, reverse :
        As :func:`fused_forward`.
    """
    T = dh.shape[0]
    dW_part[...] = 0
    du_part[...] = 0
    db_part[...] = 0
    if reverse:
        rows = np.arange(dh.shape[1])
        order = step_order(T, lengths, True, dh.shape[1])
        carry = np.zeros_like(h0)
        for s in range(T - 1, -1, -1):  # the forward pass's steps, last first
            t = order[s]
            da = (dh[t, rows] + carry) * activation_derivative(h[t, rows], act)
            h_prev = h[order[s - 1], rows] if s > 0 else h0
            du_part += da * h_prev
            db_part += da
            dW_part += x[t, rows][:, :, None] * da[:, None, :]
            if dx is not None:
                dx[t, rows] = da @ W.T
            carry = u * da
        dh0[...] = carry
        return
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
