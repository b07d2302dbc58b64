"""Baseline recurrent layers in the same explicit style: a conventional RNN and an LSTM.

Their recurrence is a matrix product per step (``h_{t-1} U``), so unlike
IndRNN's there is no way to split it into independent columns: the loop over
time stays a loop of small GEMMs. Both are batched NumPy: each step is a
handful of whole-batch array operations, and the input projection of all T
steps is one GEMM up front.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import check_array, check_same_dtype, check_shape
from .basic import matmul


class RNNGrads(NamedTuple):
    dx: np.ndarray  # (T, B, M)
    dW: np.ndarray  # (M, N)
    dU: np.ndarray  # (N, N)
    db: np.ndarray  # (N,)
    dh0: np.ndarray  # (B, N)


def rnn_forward(x, W, U, b, h0=None, activation="tanh"):
    """A conventional RNN, ``h_t = σ(W x_t + h_{t-1} U + b)``, in plain NumPy.

    The recurrent weight U is a full ``(N, N)`` matrix: every neuron sees every
    neuron's past, which is what IndRNN's vector u removes.

    Parameters
    ----------
    x : ndarray, (T, B, M)
    W : ndarray, (M, N)
    U : ndarray, (N, N)
        Row vectors convention: ``h_{t-1} U``.
    b : ndarray, (N,)
    h0 : ndarray, (B, N), optional
    activation : {"tanh", "relu", "identity"}

    Returns
    -------
    h : ndarray, (T, B, N)
    cache : tuple
    """
    from ..kernels import ACTIVATIONS
    from ..kernels.reference import activate

    check_array("x", x, 3)
    T, B, M = x.shape
    check_array("W", W, 2)
    if W.shape[0] != M:
        raise ValueError(f"W must have shape (M, N) with M = x.shape[2] = {M}; got {W.shape}")
    N = W.shape[1]
    check_array("U", U, 2)
    check_shape("U", U, (N, N), "(N, N)")
    check_array("b", b, 1)
    check_shape("b", b, (N,), "(N,)")
    if h0 is None:
        h0 = np.zeros((B, N), x.dtype)
    check_array("h0", h0, 2)
    check_shape("h0", h0, (B, N), "(B, N)")
    check_same_dtype("x", x.dtype, {"W": W, "U": U, "b": b, "h0": h0})
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}; got {activation!r}")
    act = ACTIVATIONS[activation]
    xw = matmul(x.reshape(T * B, M), W).reshape(T, B, N) + b  # W x_t + b for all t
    h = np.empty_like(xw)
    h_prev = h0
    for t in range(T):
        # h_t = σ(W x_t + h_{t-1} U + b): a matrix product every step
        h[t] = activate(xw[t] + matmul(h_prev, U), act)
        h_prev = h[t]
    return h, (x, W, U, h0, h, act)


def rnn_backward(dh, cache) -> RNNGrads:
    """BPTT for :func:`rnn_forward`; the carry is ``∂J/∂a_{t+1} Uᵀ``, a matrix product."""
    from ..kernels.reference import activation_derivative

    x, W, U, h0, h, act = cache
    T, B, M = x.shape
    N = W.shape[1]
    check_array("dh", dh, 3)
    check_shape("dh", dh, (T, B, N), "(T, B, N)")
    da = np.empty_like(h)
    dU = np.zeros_like(U)
    carry = np.zeros_like(h0)
    floor = _subnormal_floor(h.dtype)
    for t in range(T - 1, -1, -1):
        da[t] = (dh[t] + carry) * activation_derivative(h[t], act)  # ∂J/∂a_t
        h_prev = h[t - 1] if t > 0 else h0
        dU += matmul(h_prev.T, da[t])  # (N, N)
        carry = _flush_subnormal(matmul(da[t], U.T), floor)  # ∂J/∂h_{t-1} through U
    da2d = da.reshape(T * B, N)
    return RNNGrads(
        dx=matmul(da2d, W.T).reshape(T, B, M),
        dW=matmul(x.reshape(T * B, M).T, da2d),
        dU=dU,
        db=da2d.sum(axis=0),
        dh0=carry,
    )


class LSTMGrads(NamedTuple):
    dx: np.ndarray  # (T, B, M)
    dW: np.ndarray  # (M, 4N)
    dU: np.ndarray  # (N, 4N)
    db: np.ndarray  # (4N,)
    dh0: np.ndarray  # (B, N)
    dc0: np.ndarray  # (B, N)


def _subnormal_floor(dtype) -> float:
    """2^20 × the smallest normal number of ``dtype`` (1.2e-32 for float32)."""
    return float(np.finfo(dtype).tiny) * 2.0**20


def _flush_subnormal(a, floor):
    """Set entries with |a| < floor to 0, in place; returns a.

    A gradient that has vanished through hundreds of steps ends up in the
    subnormal range, where the CPU's arithmetic is tens of times slower:
    without this, an LSTM backward at T = 1000 took 3.5 s instead of 0.4 s.
    Values this small cannot change a float32 or float64 parameter update.
    """
    a[np.abs(a) < floor] = 0
    return a


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # σ(z) without overflow for large |z|


def lstm_forward(x, W, U, b, h0=None, c0=None):
    """An LSTM layer (Hochreiter & Schmidhuber), gates in the order i, f, g, o.

    ``z_t = W x_t + h_{t-1} U + b``, split into four (B, N) blocks:

        i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o)
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    Parameters
    ----------
    x : ndarray, (T, B, M)
    W : ndarray, (M, 4N)
    U : ndarray, (N, 4N)
    b : ndarray, (4N,)
        The forget-gate block ``b[N:2N]`` is usually initialised to 1.
    h0, c0 : ndarray, (B, N), optional

    Returns
    -------
    h : ndarray, (T, B, N)
    cache : tuple
        x, W, U, h0, c0, and per step the gates (T, B, 4N) and cells (T, B, N).
    """
    check_array("x", x, 3)
    T, B, M = x.shape
    check_array("W", W, 2)
    if W.shape[0] != M or W.shape[1] % 4:
        raise ValueError(f"W must have shape (M, 4N) with M = {M}; got {W.shape}")
    N = W.shape[1] // 4
    check_array("U", U, 2)
    check_shape("U", U, (N, 4 * N), "(N, 4N)")
    check_array("b", b, 1)
    check_shape("b", b, (4 * N,), "(4N,)")
    h0 = np.zeros((B, N), x.dtype) if h0 is None else h0
    c0 = np.zeros((B, N), x.dtype) if c0 is None else c0
    for name, a in (("h0", h0), ("c0", c0)):
        check_array(name, a, 2)
        check_shape(name, a, (B, N), "(B, N)")
    check_same_dtype("x", x.dtype, {"W": W, "U": U, "b": b, "h0": h0, "c0": c0})
    xw = matmul(x.reshape(T * B, M), W).reshape(T, B, 4 * N) + b  # W x_t + b for all t
    gates = np.empty_like(xw)  # activated i, f, g, o
    c = np.empty((T, B, N), x.dtype)
    h = np.empty((T, B, N), x.dtype)
    h_prev, c_prev = h0, c0
    for t in range(T):
        z = xw[t] + matmul(h_prev, U)  # (B, 4N)
        gates[t, :, : 2 * N] = _sigmoid(z[:, : 2 * N])  # i, f
        gates[t, :, 2 * N : 3 * N] = np.tanh(z[:, 2 * N : 3 * N])  # g
        gates[t, :, 3 * N :] = _sigmoid(z[:, 3 * N :])  # o
        i, f, g, o = (gates[t, :, k * N : (k + 1) * N] for k in range(4))
        c[t] = f * c_prev + i * g  # c_t = f ⊙ c_{t-1} + i ⊙ g
        h[t] = o * np.tanh(c[t])  # h_t = o ⊙ tanh(c_t)
        h_prev, c_prev = h[t], c[t]
    return h, (x, W, U, h0, c0, gates, c, h)


def lstm_backward(dh, cache) -> LSTMGrads:
    """BPTT for :func:`lstm_forward`; the carries are ∂J/∂h_{t-1} (through U) and ∂J/∂c_{t-1} (through f)."""
    x, W, U, h0, c0, gates, c, h = cache
    T, B, M = x.shape
    N = U.shape[0]
    check_array("dh", dh, 3)
    check_shape("dh", dh, (T, B, N), "(T, B, N)")
    dz = np.empty_like(gates)  # ∂J/∂z_t, pre-activation of the gates
    dU = np.zeros_like(U)
    dh_next = np.zeros((B, N), x.dtype)
    dc_next = np.zeros((B, N), x.dtype)
    floor = _subnormal_floor(x.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = (gates[t, :, k * N : (k + 1) * N] for k in range(4))
        c_prev = c[t - 1] if t > 0 else c0
        h_prev = h[t - 1] if t > 0 else h0
        tc = np.tanh(c[t])
        dh_t = dh[t] + dh_next
        dc = dc_next + dh_t * o * (1 - tc * tc)  # through h_t = o tanh(c_t)
        dz[t, :, :N] = dc * g * i * (1 - i)  # i
        dz[t, :, N : 2 * N] = dc * c_prev * f * (1 - f)  # f
        dz[t, :, 2 * N : 3 * N] = dc * i * (1 - g * g)  # g
        dz[t, :, 3 * N :] = dh_t * tc * o * (1 - o)  # o
        dU += matmul(h_prev.T, dz[t])  # (N, 4N)
        dh_next = _flush_subnormal(matmul(dz[t], U.T), floor)  # ∂J/∂h_{t-1}
        dc_next = _flush_subnormal(dc * f, floor)  # ∂J/∂c_{t-1}
    dz2d = dz.reshape(T * B, 4 * N)
    return LSTMGrads(
        dx=matmul(dz2d, W.T).reshape(T, B, M),
        dW=matmul(x.reshape(T * B, M).T, dz2d),
        dU=dU,
        db=dz2d.sum(axis=0),
        dh0=dh_next,
        dc0=dc_next,
    )
