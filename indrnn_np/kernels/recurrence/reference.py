"""The recurrence, in plain NumPy: the specification the fast kernels follow.

Each step is vectorised over the batch and the neurons, and the loop over time
is an ordinary Python loop, so a learner can put a breakpoint inside it and
watch one step at a time (``indrnn_forward(..., backend="numpy")`` calls it
after one GEMM). Every line sits under the equation it computes.

Notation (CVPR 2018 paper): the pre-activation of step t is

    a_t = W x_t + u ⊙ h_{t-1} + b
    h_t = σ(a_t)                                  (Eq. 2)

``xw`` below holds ``W x_t`` for every t, computed by one GEMM in the op layer.
The initial state is h_0 (``h0``), as in the paper, whose steps run 1..T: the loops below count
from 0 like the arrays, so their ``h[t]`` is the paper's h_{t+1} and ``h[t - 1]`` at t = 0 is ``h0``.
The twins: :mod:`.cpu` (Numba) and :mod:`.cuda` (Numba CUDA), same names and arguments.

Reverse time (``reverse=True``, the backward direction of a bidirectional layer): each sequence b runs
from its last real step ``lengths[b] - 1`` down to step 0, ``h[t] = σ(xw[t] + u ⊙ h[t + 1] + b)`` with
h0 before step ``lengths[b] - 1``, so ``h[t]`` stays step t's state and no reversed copy of xw, h, dh
or da is made. Its padding steps ``lengths[b] .. T - 1`` come after, in forward order, as the forward
direction's do (the op layer zeroes them). The result equals reversing each sequence's real steps
(:func:`indrnn_np.ops.reverse_padded`), running forward, and reversing back.
"""

from __future__ import annotations

import numpy as np

from .. import IDENTITY, RELU, TANH


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


def step_order(T: int, lengths, reverse: bool, B: int = 1) -> np.ndarray:
    """The time index of each row's s-th step, ``(T, B)`` int: ``s``, or with ``reverse``
    ``lengths[b] - 1 - s`` for the real steps ``s < lengths[b]`` and ``s`` for the padding
    (lengths None: T for each of the B rows)."""
    s = np.arange(T)[:, None]
    L = np.full((1, B), T) if lengths is None else np.asarray(lengths, dtype=np.int64)[None, :]
    if not reverse:
        return np.broadcast_to(s, (T, L.shape[1]))
    return np.where(s < L, L - 1 - s, s)


def recurrence_forward(xw, u, b, h0, act, h, lengths=None, reverse=False):
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
        Initial hidden state h_0 (the state before the first step).
    act : int
        Activation code (``indrnn_np.kernels.ACTIVATIONS``).
    h : ndarray, (T, B, N)
        Output: the hidden state of every step.
    lengths : int ndarray, (B,), optional
        Each sequence's real steps (None: T for all, no padding); read only with ``reverse``.
    reverse : bool
        Run in reverse time (see the module's docstring): step ``lengths[b] - 1`` first, step 0 last.
    """
    if reverse:
        rows = np.arange(xw.shape[1])
        order = step_order(
            xw.shape[0], lengths, True, xw.shape[1]
        )  # (T, B): row b's s-th step is time order[s, b]
        h_prev = h0
        for s in range(xw.shape[0]):
            t = order[s]  # (B,)
            # a_t = W x_t + u ⊙ h_{t+1} + b      (h_{t+1}: the step read before, one later in time)
            h[t, rows] = activate(xw[t, rows] + u * h_prev + b, act)
            h_prev = h[t, rows]
        return
    h_prev = h0  # (B, N)
    for t in range(xw.shape[0]):
        # a_t = W x_t + u ⊙ h_{t-1} + b     (u ⊙ h: each neuron sees only itself)
        a = xw[t] + u * h_prev + b  # (B, N)
        # h_t = σ(a_t)                       (Eq. 2)
        h[t] = activate(a, act)
        h_prev = h[t]


def recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part, lengths=None, reverse=False):
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
        Output: ``∂J/∂h_0``, the gradient of the initial state.
    du_part, db_part : ndarray, (B, N)
        Outputs: per (b, n) column, ``Σ_t ∂J/∂a_t · h_{t-1}`` and ``Σ_t ∂J/∂a_t``.
    lengths, reverse :
        As :func:`recurrence_forward`: with ``reverse`` the forward pass ran in reverse time, so
        BPTT runs from step 0 up to step ``lengths[b] - 1`` and "the previous state" is h_{t+1}.
    """
    T = dh.shape[0]
    du_part[...] = 0
    db_part[...] = 0
    if reverse:
        rows = np.arange(dh.shape[1])
        order = step_order(T, lengths, True, dh.shape[1])
        carry = np.zeros_like(h0)
        for s in range(T - 1, -1, -1):  # the forward pass's steps, last first
            t = order[s]
            g = dh[t, rows] + carry
            da[t, rows] = g * activation_derivative(h[t, rows], act)
            h_prev = h[order[s - 1], rows] if s > 0 else h0  # the state this step read
            du_part += da[t, rows] * h_prev
            db_part += da[t, rows]
            carry = u * da[t, rows]
        dh0[...] = carry
        return
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
