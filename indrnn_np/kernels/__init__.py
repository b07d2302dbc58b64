"""Layer 1: the kernels, one folder per concern, each with its twins side by side.

In the spirit of llm.c's ``dev/cuda``: every concern is a folder holding its
plain NumPy reference (``reference.py``, the specification), its Numba CPU
kernels (``cpu.py``, where the CPU has its own) and its Numba CUDA kernels
(``cuda.py``, module-level ``cuda.jit`` definitions compiled per dtype at the
first launch), with the same names and argument order:

``recurrence/`` (the time loop of Eq. 2 and its BPTT), ``scan/`` (the same as a
scan over time), ``fused/`` (the small-input layer, ``W x_t`` in the loop),
``batchnorm/``, ``optimizer/`` (Adam, SGD, the gradient norm), ``padding/``
(variable lengths), ``losses/``, ``elementwise/`` (bias, residual add,
dropout's scaling, concatenation, row sums) and ``gemm/`` (the tiled CUDA
GEMM). :mod:`.launch` holds the CUDA launch arithmetic. The modules
``reference``, ``cpu`` and ``cuda`` gather each backend's kernels under one
name each: the kernel sets the op layer picks by backend
(:func:`indrnn_np.ops.backend.backend_kernels`); ``cuda.kernel_table`` lists
every CUDA kernel with its signature for the static checks.

The recurrence's two functions:

``recurrence_forward(xw, u, b, h0, act, h, lengths=None, reverse=False)``
    xw : (T, B, N) input projection ``W x_t`` for every step (bias not added).
    u : (N,) recurrent weights.  b : (N,) bias.  h0 : (B, N) initial state.
    act : int activation code (:data:`ACTIVATIONS`).
    h : (T, B, N) output, written in place.
    lengths : (B,) int64, optional, each sequence's real steps (None: T for
    all, no padding).  reverse : bool, optional (False), run in reverse time: each sequence from its
    step ``lengths[b] - 1`` down to step 0, ``h[t]`` still step t's state
    (the backward direction of a bidirectional layer, with no reversed copies;
    the same results as reversing each sequence's real steps, running
    forward and reversing back). The padding steps run after, as forward.

``recurrence_backward(dh, h, u, h0, act, da, dh0, du_part, db_part, lengths=None, reverse=False)``
    dh : (T, B, N) upstream gradient ``∂J/∂h_t`` (direct part only).
    h : (T, B, N) saved forward states.  u, h0, act: as above.
    da : (T, B, N) output ``∂J/∂a_t`` for the pre-activation
    ``a_t = W x_t + u ⊙ h_{t-1} + b``.  dh0 : (B, N) output.
    du_part, db_part : (B, N) outputs, the per-column sums over time; the op
    layer sums them over the batch, which keeps the reduction deterministic.
    lengths, reverse : as forward's (BPTT in the forward pass's order, reversed).

The same two, computed as a scan over time (``algorithm="scan"``, relu and
identity only; see the section "The recurrence as a scan" of ``reference``),
with the first arguments and the same results to rounding (forward in time
only: a bidirectional layer's scan reads reversed copies):
``scan_forward(xw, u, b, h0, act, h)`` and
``scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)``.

The GEMMs (``W x_t`` for all steps, ``dW``, ``dx``) are not in the CPU
kernels: NumPy hands them to BLAS. The CUDA module has its own tiled GEMM
and calls cuBLAS through CuPy.

Training on the GPU has more twins: the optimizer update (``adam_update``,
``sgd_update``, ``grad_sumsq`` in all three modules) and the kernels of
the concerns ``batchnorm``, ``losses``, ``elementwise`` and ``padding`` (bias add, dropout, batch
norm, losses, concatenation), each with a NumPy twin of the same name and
arguments in ``reference``.

With few input features the CPU and CUDA layers skip the GEMMs: the fused
kernels (``fused/``; the op layer uses them for ``M <= config.FUSE_MAX_M``,
never for ``backend="numpy"``) compute ``W x_t`` inside the time loop, and ``dW`` and
``dx`` inside the backward one, so that no (T, B, N) array of ``W x_t`` or
of ``∂J/∂a`` is written:

``fused_forward(x, W, u, b, h0, act, h, lengths=None, reverse=False)``
    x : (T, B, M) input.  W : (M, N).  u, b, h0, act, h, lengths, reverse: as above.

``fused_backward(dh, x, h, W, u, h0, act, dx, dW_part, du_part, db_part, dh0, lengths=None, reverse=False)``
    dh, x, h, W, u, h0, act: as above.  dx : (T, B, M) output ``∂J/∂x_t``,
    or None to skip it.  dW_part : (B, M, N) output, per batch row
    ``Σ_t x_t[b, m] ∂J/∂a_t[b, n]``, which the op layer sums over the batch
    as it does du_part.  du_part, db_part, dh0, lengths, reverse: as in ``recurrence_backward``.
"""

from __future__ import annotations

#: Activation name -> integer code passed to the kernels.
ACTIVATIONS: dict[str, int] = {"identity": 0, "relu": 1, "tanh": 2}

IDENTITY, RELU, TANH = ACTIVATIONS["identity"], ACTIVATIONS["relu"], ACTIVATIONS["tanh"]
