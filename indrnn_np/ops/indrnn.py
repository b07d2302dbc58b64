"""The IndRNN layer op: forward and BPTT over a whole sequence, and one step.

Axis glossary: T time steps, B batch, M input features, N hidden units.
Arrays are time-major: x ``(T, B, M)``, h ``(T, B, N)``; the sequence ops also take and return
batch-first arrays, ``(B, T, M)`` and ``(B, T, N)``, with ``batch_first=True`` (PyTorch's name).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import config
from .._checks import check_array, check_arrays, check_choice, check_lengths, check_same_dtype, check_shape
from ..kernels import ACTIVATIONS
from ..kernels import reference as _reference
from ..timing import section
from .backend import NUMPY, Backend, backend_of, resolve, to_host
from .sequences import mask_padding


class IndRNNCache(NamedTuple):
    """What :func:`indrnn_backward` needs from :func:`indrnn_forward`.

    Saved: the input x (for dW), the parameters W and u (for dx and the
    recurrent term), h0 and every hidden state h. Not saved: the pre-activation
    a_t = W x_t + u ⊙ h_{t-1} + b, a second (T, B, N) array. Backward
    recomputes σ'(a_t) from h_t instead (relu: h > 0, tanh: 1 - h², identity:
    1), which halves the memory of the cache.
    """

    x: np.ndarray  # (T, B, M); with backend="cuda", these five are device arrays
    W: np.ndarray  # (M, N)
    u: np.ndarray  # (N,)
    h0: np.ndarray  # (B, N)
    h: np.ndarray  # (T, B, N)
    activation: str
    backend: str
    lengths: np.ndarray | None = None  # (B,): x and h are zero in the padding
    algorithm: str = "sequential"  # how backward runs the time loop: "sequential" or "scan"
    batch_first: bool = False  # the caller's layout: backward takes dh (B, T, N), returns dx (B, T, M)
    reverse_time: bool = False  # the recurrence ran in reverse time: backward runs it the same way


class IndRNNGrads(NamedTuple):
    """Gradients of the loss with respect to every input of :func:`indrnn_forward`."""

    dx: np.ndarray  # (T, B, M); (B, T, M) after a batch_first forward
    dW: np.ndarray  # (M, N)
    du: np.ndarray  # (N,)
    db: np.ndarray  # (N,)
    dh0: np.ndarray  # (B, N)


class IndRNNStepCache(NamedTuple):
    """What :func:`indrnn_step_backward` needs: the step's inputs and output."""

    x_t: np.ndarray  # (B, M)
    h_prev: np.ndarray  # (B, N)
    W: np.ndarray  # (M, N)
    u: np.ndarray  # (N,)
    h_t: np.ndarray  # (B, N)
    activation: str


class IndRNNStepGrads(NamedTuple):
    """Gradients of one step, given the full ∂J/∂h_t."""

    dx_t: np.ndarray  # (B, M)
    dW: np.ndarray  # (M, N)
    du: np.ndarray  # (N,)
    db: np.ndarray  # (N,)
    dh_prev: np.ndarray  # (B, N)


def _check_recurrent_params(u, b, h0, B, N, backend=None):
    """u (N,), b (N,) and, unless None, h0 (B, N): the recurrence's own arguments."""
    check_arrays({"u": (u, "(N,)")}, backend=backend, dims={"N": N})
    check_array("b", b, 1, backend=backend)
    check_shape("b", b, (N,), "(N,)")
    if h0 is not None:
        check_array("h0", h0, 2, backend=backend)
        check_shape("h0", h0, (B, N), "(B, N)")


#: How the recurrence's time loop runs: one step after another, or as a scan over time.
ALGORITHMS = ("sequential", "scan")


def check_algorithm(algorithm, activation):
    """ValueError unless algorithm is one of :data:`ALGORITHMS`, and "scan" goes with relu or identity."""
    check_choice("algorithm", algorithm, ALGORITHMS)
    if algorithm == "scan" and activation == "tanh":
        raise ValueError(
            "algorithm='scan' needs activation 'relu' or 'identity'; got 'tanh': a relu or identity "
            "step is a clamped affine map, and compositions of those are again clamped affine maps, "
            "which is what the scan combines; compositions of tanh steps have no such closed form. "
            "Use algorithm='sequential' for tanh."
        )


def _to_time_major(name: str, a, batch_first, backend: str):
    """``a`` as time-major: with ``batch_first``, a (B, T, K) NumPy array as a C-contiguous (T, B, K)
    copy, checked first (a 3-D float array, named ``name``); else ``a`` itself."""
    _check_batch_first(a, name, batch_first)
    if not batch_first:
        return a
    check_array(name, a, 3)
    return np.ascontiguousarray(np.swapaxes(a, 0, 1))


def _check_batch_first(a, name, batch_first) -> None:
    """TypeError unless batch_first is a bool, or when it is True and ``a`` is a device array."""
    if not isinstance(batch_first, bool | np.bool_):
        raise TypeError(f"batch_first must be True or False; got {batch_first!r}")
    if batch_first and backend_of(a).on_device:
        raise TypeError(
            f"batch_first=True takes NumPy arrays: {name} is a device array; give it time-major "
            "(batch_first=False), as the model's layers on the device take it"
        )


def _batch_first_out(a):
    """A time-major (T, B, K) result as batch-first (B, T, K): a view of the same array (on the host)."""
    return None if a is None else np.swapaxes(to_host(a), 0, 1)


def _recurrence_kernels(kernels, algorithm, backend=None, lengths=None, T=0, B=0, reverse_time=False):
    """(forward, backward) kernels of one backend's module for the algorithm; for the sequential loop,
    with its last two arguments bound: each sequence's real steps (``lengths``, T for all when None,
    an int array on the backend's side) and ``reverse_time``."""
    if algorithm == "scan":
        return kernels.scan_forward, kernels.scan_backward
    steps = _step_lengths(backend, lengths, T, B)

    def forward(*args):
        kernels.recurrence_forward(*args, steps, reverse_time)

    def backward(*args):
        kernels.recurrence_backward(*args, steps, reverse_time)

    return forward, backward


def _step_lengths(backend, lengths, T, B):
    """The kernels' ``lengths`` argument: each sequence's real steps, int64 (B,) on the backend's side.

    Without ``lengths``, None on the host: the Numba kernels are then compiled without the per-row
    lookup (measured 2026-12-07, (T, B, N) = (1000, 50, 128) float32: the forward 3.98 ms with a
    (B,) array of T against 3.26 ms with None, the backward 8.25 against 7.22 ms). On the device,
    T for every sequence, allocated through the backend so that its memory count sees it."""
    if lengths is None:
        return backend.ints(np.full(B, T)) if backend.on_device else None
    return backend.ints(lengths)


def check_reverse_time(reverse_time, algorithm) -> bool:
    """``reverse_time`` as a bool: TypeError unless a bool, ValueError with ``algorithm="scan"``."""
    if not isinstance(reverse_time, bool | np.bool_):
        raise TypeError(f"reverse_time must be True or False; got {reverse_time!r}")
    if reverse_time and algorithm == "scan":
        raise ValueError(
            "reverse_time=True runs the sequential loop only; got algorithm='scan' (reverse the "
            "sequences with indrnn_np.ops.reverse_padded instead)"
        )
    return bool(reverse_time)


def _layer_args(x, W, u, b, h0, activation, backend, lengths, algorithm, batch_first):
    """:func:`indrnn_forward`'s arguments checked, all before any kernel runs (a ValueError or
    TypeError naming the argument), and x made time-major.

    Returns
    -------
    x : ndarray or device array, (T, B, M)
        Time-major: with ``batch_first``, a C-contiguous copy; else x itself.
    lengths : ndarray of int64, (B,), or None
    act : int
        The activation's code (:data:`indrnn_np.kernels.ACTIVATIONS`).
    backend : Backend
        The backend resolved (:func:`indrnn_np.ops.backend.resolve`).
    """
    backend = resolve(backend)
    check_choice("activation", activation, tuple(ACTIVATIONS))
    _check_batch_first(x, "x", batch_first)
    dims, _ = check_arrays(
        {
            "x": (x, "(B, T, M)" if batch_first else "(T, B, M)"),
            "W": (W, "(M, N)"),
            "u": (u, "(N,)"),
            "b": (b, "(N,)"),
            "h0": (h0, "(B, N)"),
        },
        backend=None if batch_first else backend,
    )
    check_algorithm(algorithm, activation)
    if lengths is not None:
        lengths = check_lengths(lengths, dims["T"], dims["B"])
    if batch_first:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1))
    return x, lengths, ACTIVATIONS[activation], backend


def indrnn_forward(
    x,
    W,
    u,
    b,
    h0=None,
    activation="relu",
    backend="cpu",
    lengths=None,
    algorithm="sequential",
    batch_first=False,
    reverse_time=False,
):
    """Run one IndRNN layer over a whole sequence.

    ``h_t = σ(W x_t + u ⊙ h_{t-1} + b)`` (Eq. 2 of Li et al., 2018): u is a
    vector, so each neuron recurs only on its own past.

    The input projection ``W x_t`` for all T steps is one GEMM
    ``(T*B, M) @ (M, N)``; only the element-wise recurrence runs in a kernel.
    On the ``"cpu"`` and ``"cuda"`` backends, with few inputs (``M <=
    config.FUSE_MAX_M``, default 8, ``INDRNN_FUSE_MAX_M``) the sequential kernel
    computes ``W x_t`` itself instead, step by step, and no (T, B, N) array of it
    is written (the scan reads the GEMM's). ``"numpy"`` never does: it is the
    specification, the plain path written out in this function's body (the
    GEMM, then the loop of Eq. 2 in
    :func:`indrnn_np.kernels.reference.recurrence_forward`), which a debugger
    reaches after a few calls at every M, and which the fused kernels are
    tested against.

    Parameters
    ----------
    x : ndarray, (T, B, M), or (B, T, M) with ``batch_first``
        Input sequence, time-major (axis 0 is time) unless ``batch_first``.
        float32 or float64; every other array must have the same dtype, and
        the outputs keep it.
    W : ndarray, (M, N)
        Input weights.
    u : ndarray, (N,)
        Recurrent weights, one per neuron.
    b : ndarray, (N,)
        Bias.
    h0 : ndarray, (B, N), optional
        Initial state h_0 (the paper's numbering: steps 1..T, so ``h[t]`` is
        h_{t+1}); zeros when None. Its gradient is ``indrnn_backward(...).dh0``.
    activation : {"relu", "tanh", "identity"}
        σ.
    backend : {"cpu", "numpy", "cuda"}
        ``"numpy"``: the plain NumPy reference: one GEMM, then a Python loop
        over time (:func:`indrnn_np.kernels.reference.recurrence_forward`).
        ``"cpu"``: Numba kernels, parallel over columns. ``"cuda"``: Numba
        CUDA kernels; takes NumPy arrays (copied to the GPU and back: the
        outputs are NumPy arrays) or Numba device arrays (kept on the GPU:
        the outputs are device arrays).
    lengths : int array, (B,), optional
        Variable lengths in a padded batch: sequence b's real steps are
        ``0 .. lengths[b] - 1`` (1 <= lengths[b] <= T) and the steps after are
        padding. Padding never advances the state: h is 0 there, so sequence
        b's final state is ``h[lengths[b] - 1, b]``
        (:func:`indrnn_np.ops.final_states`), the values of x there are
        ignored (the cache keeps a copy of x with them zeroed), and so is
        their ``dh`` in :func:`indrnn_backward`. The result equals running
        each sequence alone, unpadded.
    algorithm : {"sequential", "scan"}
        How the time loop runs. ``"sequential"``: one step after another (T
        dependent steps per column). ``"scan"``: each step is a clamped affine
        map ``h ↦ max(u h + z_t, 0)``, and these compose into maps of the same
        form, so time is cut into chunks composed independently, then each
        chunk is replayed from its true initial state
        (:func:`indrnn_np.kernels.reference.scan_forward`): K chunks of L
        steps take L + K + L dependent steps (about 3√T when K ≈ √T; the CPU
        and GPU kernels choose K from B·N), for about three times the work.
        The same results to rounding (float64: within ``max(1e-12, T·ε)`` of
        ``max(1, max|value|)`` per output, h and every gradient, measured by
        ``benchmarks/scan_precision.py``; NaN and inf where the loop has them), for relu and identity only;
        backward (:func:`indrnn_backward`) runs the same way. Pays off only
        where the columns B·N are too few to fill the machine: see the
        crossover table in the performance results.
    batch_first : bool
        False (the default): x and h are time-major, ``(T, B, ·)``. True
        (PyTorch's name): samples first, x ``(B, T, M)`` and h ``(B, T, N)``,
        axis 1 is time; ``lengths`` is (B,) either way, and
        :func:`indrnn_backward` then takes dh ``(B, T, N)`` and returns dx
        ``(B, T, M)`` (the cache says so). x is copied time-major first; h is a
        batch-first view of the time-major states. NumPy arrays only (a device
        array is refused: give it time-major).
    reverse_time : bool
        Run the recurrence in reverse time (the backward direction of a
        bidirectional layer): each sequence from its last real step
        ``lengths[b] - 1`` (T - 1 without lengths) down to step 0,
        ``h_t = σ(W x_t + u ⊙ h_{t+1} + b)`` with h0 before the last real
        step; ``h[t]`` stays step t's state and the padding stays 0. The same
        as reversing each sequence's real steps
        (:func:`indrnn_np.ops.reverse_padded`), running forward and reversing
        h back, without those copies; backward follows the cache. The
        sequential algorithm only.

    Returns
    -------
    h : ndarray, (T, B, N), or (B, T, N) with ``batch_first``
        Hidden state of every step.
    cache : IndRNNCache
        For :func:`indrnn_backward`. It references x (not a copy, unless
        ``lengths`` or ``batch_first`` is given): do not modify x in place
        before calling backward.

    Raises
    ------
    ValueError
        Unknown activation, backend or algorithm, a shape that does not fit,
        lengths outside [1, T], or ``algorithm="scan"`` with tanh.
    TypeError
        Non-array or non-float input, or mixed dtypes.
    CudaUnavailableError
        ``backend="cuda"`` with no usable CUDA target.
    """
    x, lengths, act, backend = _layer_args(
        x, W, u, b, h0, activation, backend, lengths, algorithm, batch_first
    )
    if reverse_time is not False:  # the default needs no check (a call fewer to step over)
        reverse_time = check_reverse_time(reverse_time, algorithm)
    if backend is NUMPY:
        # The specification, line by line, at every M: the input projection, then the loop of Eq. 2.
        T, B, M = x.shape
        N = W.shape[1]
        if lengths is not None:
            x = mask_padding(x, lengths)  # a copy with the padding's inputs zeroed (backward's dW reads x)
        if h0 is None:
            h0 = np.zeros((B, N), x.dtype)
        # W x_t for every t: one GEMM over all T*B rows
        xw = (x.reshape(T * B, M) @ W).reshape(T, B, N)  # (T, B, N)
        h = np.empty_like(xw)
        # h_t = σ(W x_t + u ⊙ h_{t-1} + b) for t = 0 .. T-1 (Eq. 2): the loop is in the reference kernel
        if algorithm == "scan":
            _reference.scan_forward(xw, u, b, h0, act, h)
        else:  # reverse_time: each sequence from its last real step down to step 0
            _reference.recurrence_forward(xw, u, b, h0, act, h, lengths, reverse_time)
        if lengths is not None:
            mask_padding(h, lengths, copy=False)  # h is 0 in the padding
        cache = IndRNNCache(
            x, W, u, h0, h, activation, backend, lengths, algorithm, reverse_time=reverse_time
        )
    else:
        h, cache = _forward_kernels(x, W, u, b, h0, activation, backend, lengths, algorithm, reverse_time)
    if batch_first:
        return _batch_first_out(h), cache._replace(batch_first=True)
    return h, cache


def _forward_kernels(x, W, u, b, h0, activation, backend: Backend, lengths, algorithm, reverse_time=False):
    """:func:`indrnn_forward` of a checked, time-major x on the Numba backends (``"cpu"``, ``"cuda"``),
    written once: the backend object places the arrays (on the GPU for ``"cuda"``: the cache keeps
    the device copies, so backward reads them without a second transfer), allocates (the pool on the
    host) and provides the kernels; timed, and with the fused kernels for small M."""
    T, B, M = x.shape
    N = W.shape[1]
    act = ACTIVATIONS[activation]
    kernels = backend.kernels  # CudaUnavailableError before anything is copied
    x_in = x
    x, back = backend.take(x)  # back: h to where x came from
    if lengths is not None:  # the padding of x zeroed (backward's dW reads x): a copy unless take made one
        x = mask_padding(x, lengths, copy=x is x_in)
    u, b = backend.put(u), backend.put(b)
    h0 = backend.zeros_unpooled((B, N), x.dtype) if h0 is None else backend.put(h0)
    h = backend.empty((T, B, N), x.dtype)
    if _fused(M, algorithm):
        W = backend.put(W)
        with section("recurrence"):
            kernels.fused_forward(x, W, u, b, h0, act, h, _step_lengths(backend, lengths, T, B), reverse_time)
    else:
        W = backend.to_device(W)
        # W x_t for every t: one GEMM over all T*B rows.
        xw = backend.matmul(x.reshape(T * B, M), W).reshape(T, B, N)  # (T, B, N)
        # h gets its own buffer although the recurrence could overwrite xw in
        # place: with the two aliased, the CPU kernel's loop no longer vectorises
        # (measured 4x slower). xw is freed on return.
        forward, _ = _recurrence_kernels(kernels, algorithm, backend, lengths, T, B, reverse_time)
        with section("recurrence"):
            forward(xw, u, b, h0, act, h)
    if lengths is not None:
        mask_padding(h, lengths, copy=False)
    cache = IndRNNCache(x, W, u, h0, h, activation, backend, lengths, algorithm, reverse_time=reverse_time)
    return back(h), cache


def indrnn_backward(dh, cache: IndRNNCache, *, need_dx: bool = True) -> IndRNNGrads:
    """Backpropagation through time for :func:`indrnn_forward`.

    Runs the time loop in reverse (as a scan in reverse time when the forward
    pass ran with ``algorithm="scan"``: the cache says which), recomputing σ'(a_t) from the saved h_t, and
    accumulates du and db per (b, n) column before summing over the batch (a
    fixed order: results are reproducible run to run). dW and dx are GEMMs
    over all T*B rows: ``dW = xᵀ ∂J/∂a`` and ``dx = ∂J/∂a Wᵀ``; on the
    ``"cpu"`` and ``"cuda"`` backends with ``M <= config.FUSE_MAX_M`` the
    kernel sums them step by step instead, and no (T, B, N) array of ∂J/∂a is
    written. With ``"numpy"``, the BPTT loop is
    :func:`indrnn_np.kernels.reference.recurrence_backward`, then the two GEMMs
    in this function's body.

    Parameters
    ----------
    dh : ndarray, (T, B, N), or (B, T, N) when the forward pass was ``batch_first``
        ``∂J/∂h_t`` from whatever consumes h (the loss or the next layer); the
        part that flows through time is added here. Same dtype as the forward
        inputs; a device array when the forward pass used device arrays. With
        ``lengths`` in the forward pass, its padding steps are ignored.
    cache : IndRNNCache
        From :func:`indrnn_forward`.
    need_dx : bool
        False skips the GEMM of ``dx`` (the network's input needs no gradient)
        and returns ``dx=None``.

    Returns
    -------
    IndRNNGrads
        ``dx (T, B, M)`` (``(B, T, M)`` after a ``batch_first`` forward pass), ``dW (M, N)``,
        ``du (N,)``, ``db (N,)``, ``dh0 (B, N)``.
    """
    dh, cache = _backward_args(dh, cache)
    x, W, u, h0, h, activation, backend, lengths, algorithm, batch_first, reverse_time = cache
    if backend is NUMPY:
        # The specification, line by line, at every M: the loop of BPTT, then dW and dx.
        T, B, M = x.shape
        N = W.shape[1]
        da = np.empty_like(h)  # ∂J/∂a_t, (T, B, N)
        dh0, du_part, db_part = np.empty_like(h0), np.empty_like(h0), np.empty_like(h0)
        # ∂J/∂a_t for t = T-1 .. 0 (Eq. 4), with du and db per (b, n) column: in the reference kernel
        act = ACTIVATIONS[activation]
        if algorithm == "scan":
            _reference.scan_backward(dh, h, u, h0, act, da, dh0, du_part, db_part)
        else:
            _reference.recurrence_backward(
                dh, h, u, h0, act, da, dh0, du_part, db_part, lengths, reverse_time
            )
        da2d = da.reshape(T * B, N)
        dW = x.reshape(T * B, M).T @ da2d  # ∂J/∂W = Σ_t x_tᵀ ∂J/∂a_t, (M, N)
        dx = (da2d @ W.T).reshape(T, B, M) if need_dx else None  # ∂J/∂x_t = ∂J/∂a_t Wᵀ, (T, B, M)
        grads = IndRNNGrads(dx, dW, du_part.sum(axis=0), db_part.sum(axis=0), dh0)
    else:
        grads = _backward_kernels(dh, cache, need_dx)
    if batch_first:
        return grads._replace(dx=_batch_first_out(grads.dx))
    return grads


def _backward_args(dh, cache):
    """:func:`indrnn_backward`'s arguments checked (a ValueError or TypeError naming the argument);
    returns dh time-major, with its padding zeroed when the forward pass had ``lengths``."""
    if not isinstance(cache, IndRNNCache):
        raise TypeError(f"cache must be the IndRNNCache from indrnn_forward; got {type(cache).__name__}")
    x, W, activation, backend, lengths = cache.x, cache.W, cache.activation, cache.backend, cache.lengths
    algorithm, batch_first = cache.algorithm, cache.batch_first
    if not isinstance(backend, Backend):  # a cache edited by hand
        backend = resolve(backend, "cache.backend")
        cache = cache._replace(backend=backend)
    check_algorithm(algorithm, activation)  # a cache edited by hand
    T, B, _ = x.shape
    check_arrays(
        {"dh": (dh, "(B, T, N) (batch_first)" if batch_first else "(T, B, N)")},
        backend=None if batch_first else backend,
        dims={"T": T, "B": B, "N": W.shape[1]},
        dtype=(x.dtype, "the forward inputs"),
    )
    if batch_first:
        dh = np.ascontiguousarray(np.swapaxes(dh, 0, 1))
    if lengths is not None:  # padding sends nothing back: with dh 0 there, so is ∂J/∂a
        dh = mask_padding(dh, lengths)
    return dh, cache


def _backward_kernels(dh, cache: IndRNNCache, need_dx: bool) -> IndRNNGrads:
    """:func:`indrnn_backward` of a checked, time-major dh on the Numba backends (``"cpu"``,
    ``"cuda"``), written once as :func:`_forward_kernels`: through the backend object's placement,
    allocation and kernels, timed, and with the fused kernels for small M."""
    x, W, u, h0, h, activation, backend, lengths, algorithm, _, reverse_time = cache
    T, B, M = x.shape
    N = W.shape[1]
    act = ACTIVATIONS[activation]
    kernels = backend.kernels  # CudaUnavailableError before anything is copied
    dh, back = backend.take(dh)  # back: the gradients to where dh came from
    if _fused(M, algorithm):
        # ∂J/∂a never leaves the kernel; dW, dx are summed as it goes (dW per batch row, then over
        # the rows here, in a fixed order)
        dx = backend.empty((T, B, M), x.dtype) if need_dx else None
        dW_part = backend.empty_unpooled((B, M, N), x.dtype)  # per row b: Σ_t x_t[b, m] ∂J/∂a_t[b, n]
        dh0, du_part, db_part = (backend.empty_unpooled((B, N), x.dtype) for _ in range(3))
        with section("recurrence"):
            kernels.fused_backward(
                dh,
                x,
                h,
                backend.put(W),
                u,
                h0,
                act,
                dx,
                dW_part,
                du_part,
                db_part,
                dh0,
                _step_lengths(backend, lengths, T, B),
                reverse_time,
            )
        dW = backend.sum_rows(dW_part)
        grads = (dx, dW, backend.sum_rows(du_part), backend.sum_rows(db_part), dh0)
    else:
        da, du, db, dh0 = _recurrence_backward_sums(
            dh, h, u, h0, act, algorithm, backend, lengths, reverse_time
        )
        da2d = da.reshape(T * B, N)
        dW = backend.matmul(x.reshape(T * B, M), da2d, trans_a=True, long_k=True)  # (M, N) = xᵀ ∂J/∂a
        dx = backend.matmul(da2d, W, trans_b=True).reshape(T, B, M) if need_dx else None  # ∂J/∂a Wᵀ
        grads = (dx, dW, du, db, dh0)
    return IndRNNGrads(*(None if a is None else back(a) for a in grads))


def _recurrence_backward_sums(
    dh, h, u, h0, act, algorithm, backend: Backend, lengths=None, reverse_time=False
):
    """BPTT of the recurrence alone, on the backend's side: ``(da (T, B, N), du (N,), db (N,), dh0 (B, N))``,
    du and db summed per (b, n) column over time by the kernel, then over the batch in a fixed order
    (on the CUDA backend, by atomics in the kernel where :func:`indrnn_np.config.cuda_reduction` says
    so, for the sequential loop)."""
    T, B, N = dh.shape
    kernels = backend.kernels
    da = backend.empty((T, B, N), dh.dtype)  # ∂J/∂a_t, (T, B, N)
    dh0 = backend.empty_unpooled((B, N), dh.dtype)
    if algorithm != "scan" and backend.reduces_atomically():
        du, db = backend.zeros_unpooled(N, dh.dtype), backend.zeros_unpooled(N, dh.dtype)
        kernels.recurrence_backward_atomic(
            dh, h, u, h0, act, da, dh0, du, db, _step_lengths(backend, lengths, T, B), reverse_time
        )
        return da, du, db, dh0
    du_part = backend.empty_unpooled((B, N), dh.dtype)  # (B, N) per-column sums over time
    db_part = backend.empty_unpooled((B, N), dh.dtype)
    _, backward = _recurrence_kernels(kernels, algorithm, backend, lengths, T, B, reverse_time)
    with section("recurrence"):
        backward(dh, h, u, h0, act, da, dh0, du_part, db_part)
    return da, backend.sum_rows(du_part), backend.sum_rows(db_part), dh0


def _fused(M: int, algorithm: str = "sequential", backend=None) -> bool:
    """Whether the layer computes ``W x_t`` inside the recurrence (the fused kernels): on the CPU and
    CUDA backends, the sequential time loop with 1 <= M <= :data:`indrnn_np.config.FUSE_MAX_M` (the
    scan reads a projected ``W x_t``). Never on ``"numpy"``, the specification: its plain path is
    what the fused kernels are tested against."""
    fuses = True if backend is None else resolve(backend).fuses
    return fuses and algorithm == "sequential" and 1 <= M <= config.FUSE_MAX_M


class RecurrenceCache(NamedTuple):
    """What :func:`indrnn_recurrence_backward` needs: u, h0 and the saved h."""

    u: np.ndarray  # (N,)
    h0: np.ndarray  # (B, N)
    h: np.ndarray  # (T, B, N)
    activation: str
    backend: str
    lengths: np.ndarray | None = None
    algorithm: str = "sequential"
    batch_first: bool = False  # the caller's layout: backward takes dh (B, T, N), returns dxw (B, T, N)
    reverse_time: bool = False  # the recurrence ran in reverse time: backward runs it the same way


class RecurrenceGrads(NamedTuple):
    dxw: np.ndarray  # (T, B, N): ∂J/∂a_t, the gradient of the recurrence's input; (B, T, N) batch_first
    du: np.ndarray  # (N,)
    db: np.ndarray  # (N,)
    dh0: np.ndarray  # (B, N)


def indrnn_recurrence_forward(
    xw,
    u,
    b,
    h0=None,
    activation="relu",
    backend="cpu",
    lengths=None,
    algorithm="sequential",
    batch_first=False,
    reverse_time=False,
):
    """The recurrence alone: ``h_t = σ(xw_t + u ⊙ h_{t-1} + b)``.

    For architectures that put something between the input projection and
    the recurrence, such as the paper's Weight → BN → IndRec (Fig. 1a) or
    the residual block's BN → IndRec → Weight. :func:`indrnn_forward` is this
    op after one GEMM.

    Parameters
    ----------
    xw : ndarray, (T, B, N), or (B, T, N) with ``batch_first``
        The recurrence's input (``W x_t``, batch-normalised or not); axis 0 is
        time unless ``batch_first``.
    u, b : ndarray, (N,)
    h0 : ndarray, (B, N), optional
    activation, backend : as :func:`indrnn_forward` (with ``"cuda"``, device arrays
        stay on the device; NumPy arrays are copied there, and h back).
    lengths : int array, (B,), optional
        As :func:`indrnn_forward`: padding steps of xw are ignored, h is 0 there.
    algorithm : {"sequential", "scan"}
        As :func:`indrnn_forward`.
    batch_first : bool
        As :func:`indrnn_forward`: xw and h ``(B, T, N)``, axis 1 is time, and
        :func:`indrnn_recurrence_backward` takes dh and returns dxw ``(B, T, N)``.
    reverse_time : bool
        As :func:`indrnn_forward`: each sequence from its last real step down to step 0,
        ``h_t = σ(xw_t + u ⊙ h_{t+1} + b)``, with no reversed copies.

    Returns
    -------
    h : ndarray, (T, B, N), or (B, T, N) with ``batch_first``
    cache : RecurrenceCache
    """
    xw = _to_time_major("xw", xw, batch_first, backend)
    h, cache = _recurrence_forward(xw, u, b, h0, activation, backend, lengths, algorithm, reverse_time)
    if batch_first:
        return _batch_first_out(h), cache._replace(batch_first=True)
    return h, cache


def _recurrence_forward(xw, u, b, h0, activation, backend, lengths, algorithm, reverse_time=False):
    """:func:`indrnn_recurrence_forward` of a time-major xw."""
    backend = resolve(backend)
    check_choice("activation", activation, tuple(ACTIVATIONS))
    check_array("xw", xw, 3, backend=backend)
    T, B, N = xw.shape
    _check_recurrent_params(u, b, h0, B, N, backend=backend)
    check_same_dtype("xw", xw.dtype, {"u": u, "b": b, "h0": h0})
    check_algorithm(algorithm, activation)
    if reverse_time is not False:  # the default needs no check (a call fewer to step over)
        reverse_time = check_reverse_time(reverse_time, algorithm)
    if lengths is not None:
        lengths = check_lengths(lengths, T, B)
    kernels = backend.kernels  # CudaUnavailableError before anything is copied
    xw, back = backend.take(xw)
    u, b = backend.put(u), backend.put(b)
    h0 = backend.zeros_unpooled((B, N), xw.dtype) if h0 is None else backend.put(h0)
    h = backend.empty(xw.shape, xw.dtype)
    forward, _ = _recurrence_kernels(kernels, algorithm, backend, lengths, T, B, reverse_time)
    with section("recurrence"):
        forward(xw, u, b, h0, ACTIVATIONS[activation], h)
    if lengths is not None:  # the padding's h computed from whatever xw held there, then zeroed
        mask_padding(h, lengths, copy=False)
    return back(h), RecurrenceCache(
        u, h0, h, activation, backend, lengths, algorithm, reverse_time=reverse_time
    )


def indrnn_recurrence_backward(dh, cache: RecurrenceCache) -> RecurrenceGrads:
    """BPTT of :func:`indrnn_recurrence_forward`; returns ``dxw (T, B, N)``, du, db, dh0.

    After a ``batch_first`` forward pass, dh and dxw are ``(B, T, N)`` (axis 1 is time).
    """
    if not isinstance(cache, RecurrenceCache):
        raise TypeError(
            f"cache must be the RecurrenceCache from indrnn_recurrence_forward; got {type(cache).__name__}"
        )
    activation, algorithm, batch_first, h = cache.activation, cache.algorithm, cache.batch_first, cache.h
    check_algorithm(algorithm, activation)  # a cache edited by hand
    if batch_first:
        T, B, N = h.shape
        check_array("dh", dh, 3)
        check_shape("dh", dh, (B, T, N), "(B, T, N) (batch_first)")
        g = _recurrence_backward(_to_time_major("dh", dh, True, cache.backend), cache)
        return g._replace(dxw=_batch_first_out(g.dxw))
    return _recurrence_backward(dh, cache)


def _recurrence_backward(dh, cache: RecurrenceCache) -> RecurrenceGrads:
    """:func:`indrnn_recurrence_backward` of a time-major dh."""
    u, h0, h, activation, backend, lengths, algorithm, _, reverse_time = cache
    backend = resolve(backend, "cache.backend")
    check_array("dh", dh, 3, backend=backend)
    check_shape("dh", dh, h.shape, "(T, B, N)")
    check_same_dtype("the forward inputs", h.dtype, {"dh": dh})
    if lengths is not None:
        dh = mask_padding(dh, lengths)
    dh, back = backend.take(dh)
    grads = _recurrence_backward_sums(
        dh, h, u, h0, ACTIVATIONS[activation], algorithm, backend, lengths, reverse_time
    )
    return RecurrenceGrads(*(back(a) for a in grads))


def indrnn_step_forward(x_t, h_prev, W, u, b, activation="relu"):
    """One IndRNN step, for teaching: ``h_t = σ(W x_t + u ⊙ h_{t-1} + b)``.

    Parameters
    ----------
    x_t : ndarray, (B, M)
    h_prev : ndarray, (B, N)
        h_{t-1}.
    W : ndarray, (M, N)
    u, b : ndarray, (N,)
    activation : {"relu", "tanh", "identity"}

    Returns
    -------
    h_t : ndarray, (B, N)
    cache : IndRNNStepCache
    """
    check_choice("activation", activation, tuple(ACTIVATIONS))
    check_array("x_t", x_t, 2)
    B, M = x_t.shape
    check_array("W", W, 2)
    if W.shape[0] != M:
        raise ValueError(f"W must have shape (M, N) with M = x_t.shape[1] = {M}; got {tuple(W.shape)}")
    N = W.shape[1]
    check_array("h_prev", h_prev, 2)
    check_shape("h_prev", h_prev, (B, N), "(B, N)")
    _check_recurrent_params(u, b, None, B, N)
    check_same_dtype("x_t", x_t.dtype, {"h_prev": h_prev, "W": W, "u": u, "b": b})
    # a_t = W x_t + u ⊙ h_{t-1} + b
    a_t = x_t @ W + u * h_prev + b  # (B, N)
    # h_t = σ(a_t)
    h_t = _reference.activate(a_t, ACTIVATIONS[activation])
    return h_t, IndRNNStepCache(x_t, h_prev, W, u, h_t, activation)


def indrnn_step_backward(dh_t, cache: IndRNNStepCache) -> IndRNNStepGrads:
    """Backward of :func:`indrnn_step_forward`.

    Parameters
    ----------
    dh_t : ndarray, (B, N)
        The full ``∂J/∂h_t`` (direct part plus what later steps sent back).
    cache : IndRNNStepCache

    Returns
    -------
    IndRNNStepGrads
        ``dx_t (B, M)``, ``dW (M, N)``, ``du (N,)``, ``db (N,)``,
        ``dh_prev (B, N)`` (the part of ∂J/∂h_{t-1} that flows through this step).
    """
    if not isinstance(cache, IndRNNStepCache):
        raise TypeError(
            f"cache must be the IndRNNStepCache from indrnn_step_forward; got {type(cache).__name__}"
        )
    x_t, h_prev, W, u, h_t, activation = cache
    check_array("dh_t", dh_t, 2)
    check_shape("dh_t", dh_t, h_t.shape, "(B, N)")
    check_same_dtype("the forward inputs", x_t.dtype, {"dh_t": dh_t})
    # ∂J/∂a_t = ∂J/∂h_t ⊙ σ'(a_t)
    da = dh_t * _reference.activation_derivative(h_t, ACTIVATIONS[activation])  # (B, N)
    return IndRNNStepGrads(
        dx_t=da @ W.T,  # (B, M)
        dW=x_t.T @ da,  # (M, N)
        du=(da * h_prev).sum(axis=0),  # (N,)
        db=da.sum(axis=0),  # (N,)
        dh_prev=u * da,  # (B, N)
    )
