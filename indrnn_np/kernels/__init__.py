"""Layer 1: the IndRNN recurrence kernels, one module per backend.

``reference`` (plain NumPy, the specification), ``cpu`` (Numba ``njit``) and
``cuda`` (Numba CUDA) define the same two functions with the same argument
order:

``recurrence_forward(xw, u, b, h0, act, h)``
    xw : (T, B, N) input projection ``W x_t`` for every step (bias not added).
    u : (N,) recurrent weights.  b : (N,) bias.  h0 : (B, N) initial state.
    act : int activation code (:data:`ACTIVATIONS`).
    h : (T, B, N) output, written in place.

``recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)``
    dh : (T, B, N) upstream gradient ``∂J/∂h_t`` (direct part only).
    h : (T, B, N) saved forward states.  u, h0, act: as above.
    da : (T, B, N) output ``∂J/∂a_t`` for the pre-activation
    ``a_t = W x_t + u ⊙ h_{t-1} + b``.  dh0 : (B, N) output.
    du_part, db_part : (B, N) outputs, the per-column sums over time; the op
    layer sums them over the batch, which keeps the reduction deterministic.

The same two, computed as a scan over time (``algorithm="scan"``, relu and
identity only; see the section "The recurrence as a scan" of ``reference``),
with the same arguments and the same results to rounding:
``scan_forward(xw, u, b, h0, act, h)`` and
``scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)``.

The GEMMs (``W x_t`` for all steps, ``dW``, ``dx``) are not in the CPU
kernels: NumPy hands them to BLAS. The CUDA module has its own tiled GEMM
and calls cuBLAS through CuPy.

Training on the GPU has more twins: the optimizer update (``adam_update``,
``sgd_update``, ``grad_sumsq`` in all three modules) and the kernels of
:func:`indrnn_np.kernels.cuda.training_kernels` (bias add, dropout, batch
norm, losses, concatenation), each with a NumPy twin of the same name and
arguments in ``reference``.

With few input features the layer skips the GEMMs: the fused kernels (at
the end of each module; the op layer uses them for ``M <=
config.FUSE_MAX_M``) compute ``W x_t`` inside the time loop, and ``dW`` and
``dx`` inside the backward one, so that no (T, B, N) array of ``W x_t`` or
of ``∂J/∂a`` is written:

``fused_forward(x, W, u, b, h0, act, h)``
    x : (T, B, M) input.  W : (M, N).  u, b, h0, act, h: as above.

``fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0)``
    dh, x, h, W, u, h0, act: as above.  dx : (T, B, M) output ``∂J/∂x_t``,
    or None to skip it.  dW_part : (B, M, N) output, per batch row
    ``Σ_t x_t[b, m] ∂J/∂a_t[b, n]``, which the op layer sums over the batch
    as it does du_part.  du_part, db_part, dh0: as in ``recurrence_backward``.
"""

from __future__ import annotations

#: Activation name -> integer code passed to the kernels.
ACTIVATIONS: dict[str, int] = {"identity": 0, "relu": 1, "tanh": 2}

IDENTITY, RELU, TANH = ACTIVATIONS["identity"], ACTIVATIONS["relu"], ACTIVATIONS["tanh"]
