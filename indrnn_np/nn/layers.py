"""Layer 3: thin parameter holders around the functional ops.

A layer owns its parameters (``params``, a dict of arrays) and, for batch
norm, its running statistics (``buffers``); ``forward(x, train, lengths=None)``
returns the output and a cache, ``backward(dy, cache)`` takes the cache back and returns
the input gradient and a dict of parameter gradients. Backward never reads
anything but its cache, so the same model can run several forward passes
before their backward passes (as gradient checks do).

A :class:`Sequential` names its layers, and every parameter, gradient and
buffer is visible by ``"<layer>.<param>"``: ``model.params["indrnn1.u"]``,
``model.params["res1.bn1.gamma"]``. The names that end in ``.u`` are the
recurrent weights that the optimizer projects.

Variable lengths: ``model.forward(x, train, lengths=lengths)`` takes a padded
batch x (T, B, M) and lengths (B,) (:mod:`indrnn_np.ops.sequences`). Every
layer then ignores the padding: the recurrent layers neither read it nor
advance their state through it (and output 0 there), batch norm takes its
statistics over the real steps, :class:`LastStep` reads each sequence's own
last step and :class:`Bidirectional` reverses each sequence's real steps.
Whatever the padding holds, the real steps' outputs and every gradient equal
those of each sequence run alone.
"""

from __future__ import annotations

import json

import numpy as np

from .._checks import WHAT_IT_HOLDS, check_choice, check_lengths
from ..ops import (
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    dropout_backward,
    dropout_forward,
    indrnn_backward,
    indrnn_forward,
    indrnn_recurrence_backward,
    indrnn_recurrence_forward,
    linear_backward,
    linear_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)
from ..ops import device as dev
from ..ops.backend import CPU, backend_of, resolve
from ..ops.indrnn import check_algorithm
from ..ops.pooling import pool_backward, pool_forward
from ..ops.sequences import final_states, mask_padding, put_steps, reverse_padded, take_steps

#: Batch-norm kinds of :func:`indrnn_np.nn.models.build_indrnn`: none, over time, frame-wise.
BN_MODES = ("none", "time", "frame")
#: Where batch norm sits: before the recurrence (Weight-BN-IndRec) or after the IndRNN layer.
BN_POSITIONS = ("before", "after")
#: Heads: a dense layer on the last step, or on every step.
HEADS = ("last", "all")


class Layer:
    """Base class: ``params``, ``buffers``, ``forward(x, train) -> (y, cache)``, ``backward(dy, cache) -> (dx, grads)``.

    ``cuda_kernels``: whether the layer runs on device arrays (its parameters moved to the GPU by
    :func:`indrnn_np.nn.to_device`); a layer without is refused there by name.
    """

    params: dict[str, np.ndarray]
    cuda_kernels = True

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trained state saved in checkpoints (running statistics); none by default.

        A property, so no two layers ever share one dict.
        """
        return {}

    def forward(self, x, train: bool = True, lengths=None):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy, cache):  # pragma: no cover - interface
        raise NotImplementedError

    def param_grads(self, dy, cache) -> dict[str, np.ndarray]:
        """The parameter gradients of :meth:`backward` alone, for the first layer of a network.

        Layers whose input gradient costs a GEMM (:class:`IndRNN`, :class:`Dense`) skip it.
        """
        return self.backward(dy, cache)[1]

    def rng_states(self) -> dict[str, str]:
        """JSON strings of the random generators the layer draws from (for checkpoints)."""
        return {}

    def set_rng_states(self, states: dict[str, str]) -> None:
        pass


class _Stateful:
    """Optional state carried from one batch to the next (language modelling).

    When ``stateful`` is set, the layer starts each forward pass from the
    last hidden state of the previous one (``h0 = state``) and keeps its new
    last state; backpropagation still stops at the batch boundary (truncated
    BPTT: backward reads only its cache). The state is a buffer, so it goes
    into checkpoints.
    """

    stateful = False
    state = None
    #: Run the recurrence in reverse time (``reverse_time`` of the ops): set by :class:`Bidirectional`
    #: on its backward direction's recurrences while that direction runs forward, never left set.
    reverse_time = False

    def _h0(self, B):
        if not self.stateful or self.state is None:
            return None
        if self.state.shape[0] != B:
            raise ValueError(
                f"this stateful layer carries a state for a batch of {self.state.shape[0]} sequences; got x "
                f"with a batch of {B}. Reset it first (indrnn_np.nn.set_recurrent_states(model, None)) "
                "to start every sequence from zeros"
            )
        return self.state

    def _keep(self, h, lengths=None):
        if self.stateful:  # each sequence's last real state (padding does not advance it)
            self.state = dev.copy(final_states(h, lengths))

    @property
    def buffers(self):
        return {"state": self.state} if self.stateful and self.state is not None else {}


def _check_batch_first(batch_first) -> bool:
    if not isinstance(batch_first, bool | np.bool_):
        raise TypeError(f"batch_first must be True or False; got {batch_first!r}")
    return bool(batch_first)


def _refuse_batch_first(name: str, layer) -> None:
    """ValueError naming the layer when it was built with ``batch_first=True``: a Sequential passes
    time-major arrays from layer to layer (its lengths, batch norm, LastStep, Bidirectional and the
    next layers read axis 0 as time)."""
    if getattr(layer, "batch_first", False):
        raise ValueError(
            f"layer {name!r} ({type(layer).__name__}) has batch_first=True, but a Sequential passes "
            "time-major arrays (T, B, ...) from layer to layer: build it with batch_first=False and "
            "give the model x time-major (x.transpose(1, 0, 2) of a (B, T, M) batch)"
        )


def _u_bounds(u_bounds) -> tuple[float, float] | None:
    """Check a layer's ``u_bounds``: None, or finite ``(lo, hi)`` with ``lo <= hi``, as floats."""
    if u_bounds is None:
        return None
    try:
        lo, hi = (float(v) for v in u_bounds)
    except (TypeError, ValueError):
        raise ValueError(f"u_bounds must be None or a pair (lo, hi) of numbers; got {u_bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"u_bounds must be finite with lo <= hi; got {u_bounds!r}")
    return lo, hi


class IndRNN(_Stateful, Layer):
    """One IndRNN layer, ``h_t = σ(W x_t + u ⊙ h_{t-1} + b)``; x (T, B, M) -> h (T, B, N).

    Time-major (axis 0 is time), or with ``batch_first=True`` samples first: x (B, T, M) ->
    h (B, T, N), and :meth:`backward` takes dh (B, T, N) and returns dx (B, T, M).

    Parameters
    ----------
    M, N : int
        Input features and neurons.
    activation : str
        ``"relu"`` (paper), ``"tanh"`` or ``"identity"``.
    backend : str
        ``"cpu"``, ``"numpy"`` or ``"cuda"`` (see :func:`indrnn_np.indrnn_forward`).
    algorithm : str
        ``"sequential"`` (the time loop) or ``"scan"`` (relu and identity only: the
        recurrence as a scan over time, see :func:`indrnn_np.indrnn_forward`).
    u_init : (float, float)
        u ~ U(low, high). The paper: (0, u_max) for hidden layers, and
        (u_min, u_max) for the last IndRNN layer when only the last step is used.
    u_bounds : (float, float) or None
        The range ``[lo, hi]`` an optimizer built on the model projects u into after
        every step (:class:`indrnn_np.nn.Optimizer` with its default ``u_max="auto"``),
        e.g. ``(-u_max, u_max)`` with ``u_max = relu_u_max(T, gamma)``, as the model
        builders set it. None: no bound known (the optimizer warns and leaves u free).
    w_std : float or None
        Input weights W ~ N(0, w_std²) (the official adding code: 0.001);
        None: U(±1/√M).
    rng : numpy.random.Generator
    dtype : float32 or float64
    batch_first : bool
        The layer alone, on NumPy arrays, takes and returns samples-first arrays (PyTorch's
        name; see :func:`indrnn_np.indrnn_forward`); ``lengths`` stays (B,). Not inside a
        :class:`Sequential`, which passes time-major arrays from layer to layer (refused there,
        naming the layer).

    Raises
    ------
    ValueError
        ``u_bounds`` not None nor a pair ``lo <= hi`` of finite numbers; an unknown
        ``algorithm``, or ``"scan"`` with tanh.
    TypeError
        ``batch_first`` not a bool.
    """

    def __init__(
        self,
        M,
        N,
        *,
        activation="relu",
        backend="cpu",
        algorithm="sequential",
        u_init=(0.0, 1.0),
        u_bounds=None,
        w_std=0.001,
        rng,
        dtype=np.float32,
        batch_first=False,
    ):
        backend = resolve(backend)
        check_algorithm(algorithm, activation)
        self.activation, self.backend, self.algorithm = activation, backend, algorithm
        self.batch_first = _check_batch_first(batch_first)
        self.u_bounds = _u_bounds(u_bounds)
        if w_std is None:
            W = rng.uniform(-1 / np.sqrt(M), 1 / np.sqrt(M), (M, N))
        else:
            W = w_std * rng.standard_normal((M, N))
        self.params = {
            "W": W.astype(dtype),
            "u": rng.uniform(u_init[0], u_init[1], N).astype(dtype),
            "b": np.zeros(N, dtype),
        }

    @classmethod
    def from_arrays(
        cls,
        W,
        u,
        b,
        *,
        activation="relu",
        backend="cpu",
        u_bounds=None,
        algorithm="sequential",
        batch_first=False,
    ) -> IndRNN:
        """A layer holding copies of trained arrays: W (M, N), u (N,), b (N,), one dtype; the keywords as above."""
        W, u, b = (np.array(a, copy=True) for a in (W, u, b))
        if W.ndim != 2 or u.shape != (W.shape[1],) or b.shape != (W.shape[1],):
            note = f" ({WHAT_IT_HOLDS['u']})" if u.ndim != 1 else ""
            raise ValueError(f"need W (M, N), u (N,), b (N,); got {W.shape}, {u.shape}, {b.shape}{note}")
        layer = cls(
            W.shape[0],
            W.shape[1],
            activation=activation,
            backend=backend,
            algorithm=algorithm,
            u_bounds=u_bounds,
            rng=np.random.default_rng(0),
            batch_first=batch_first,
        )
        layer.params = {"W": W, "u": u, "b": b}
        return layer

    def forward(self, x, train=True, lengths=None):
        p = self.params
        h, cache = indrnn_forward(
            x,
            p["W"],
            p["u"],
            p["b"],
            self._h0(x.shape[0] if self.batch_first else x.shape[1]),
            activation=self.activation,
            backend=self.backend,
            lengths=lengths,
            algorithm=self.algorithm,
            batch_first=self.batch_first,
            reverse_time=self.reverse_time,
        )
        self._keep(cache.h if self.batch_first else h, lengths)  # the cache's h is time-major
        return h, cache

    def backward(self, dh, cache):
        g = indrnn_backward(dh, cache)
        return g.dx, {"W": g.dW, "u": g.du, "b": g.db}

    def param_grads(self, dh, cache):
        g = indrnn_backward(dh, cache, need_dx=False)
        return {"W": g.dW, "u": g.du, "b": g.db}


class Recurrence(_Stateful, Layer):
    """The recurrence alone (IndRec), ``h_t = σ(x_t + u ⊙ h_{t-1} + b)``; (T, B, N) -> (T, B, N).

    Parameters as :class:`IndRNN` (``u_bounds`` and ``batch_first`` included), without M and W:
    time-major (axis 0 is time), or with ``batch_first=True`` (B, T, N) -> (B, T, N) and a
    backward of dh (B, T, N) to (B, T, N); not inside a :class:`Sequential`.
    """

    def __init__(
        self,
        N,
        *,
        activation="relu",
        backend="cpu",
        algorithm="sequential",
        u_init=(0.0, 1.0),
        u_bounds=None,
        rng,
        dtype=np.float32,
        batch_first=False,
    ):
        backend = resolve(backend)
        check_algorithm(algorithm, activation)
        self.activation, self.backend, self.algorithm = activation, backend, algorithm
        self.batch_first = _check_batch_first(batch_first)
        self.u_bounds = _u_bounds(u_bounds)
        self.params = {"u": rng.uniform(u_init[0], u_init[1], N).astype(dtype), "b": np.zeros(N, dtype)}

    def forward(self, x, train=True, lengths=None):
        p = self.params
        h, cache = indrnn_recurrence_forward(
            x,
            p["u"],
            p["b"],
            self._h0(x.shape[0] if self.batch_first else x.shape[1]),
            activation=self.activation,
            backend=self.backend,
            lengths=lengths,
            algorithm=self.algorithm,
            batch_first=self.batch_first,
            reverse_time=self.reverse_time,
        )
        self._keep(cache.h if self.batch_first else h, lengths)  # the cache's h is time-major
        return h, cache

    def backward(self, dh, cache):
        g = indrnn_recurrence_backward(dh, cache)
        return g.dxw, {"u": g.du, "b": g.db}


class Dense(Layer):
    """``y = x W (+ b)`` over every leading axis: x (..., M) -> y (..., N). W, b ~ U(±1/√M) (PyTorch's default)."""

    def __init__(self, M, N, *, bias=True, rng, dtype=np.float32):
        bound = 1.0 / np.sqrt(M)
        self.bias = bias
        self.params = {"W": rng.uniform(-bound, bound, (M, N)).astype(dtype)}
        if bias:
            self.params["b"] = rng.uniform(-bound, bound, N).astype(dtype)

    @classmethod
    def from_arrays(cls, W, b=None) -> Dense:
        """A layer holding copies of trained arrays: W (M, N) and, optionally, b (N,)."""
        W = np.array(W, copy=True)
        if W.ndim != 2 or (b is not None and np.shape(b) != (W.shape[1],)):
            raise ValueError(f"need W (M, N) and b (N,) or None; got {W.shape}, {np.shape(b)}")
        layer = cls(W.shape[0], W.shape[1], bias=b is not None, rng=np.random.default_rng(0), dtype=W.dtype)
        layer.params = {"W": W} if b is None else {"W": W, "b": np.array(b, copy=True)}
        return layer

    def forward(self, x, train=True, lengths=None):
        return linear_forward(x, self.params["W"], self.params.get("b"))

    def backward(self, dy, cache):
        g = linear_backward(dy, cache)
        return g.dx, ({"W": g.dW, "b": g.db} if self.bias else {"W": g.dW})

    def param_grads(self, dy, cache):
        g = linear_backward(dy, cache, need_dx=False)
        return {"W": g.dW, "b": g.db} if self.bias else {"W": g.dW}


class BatchNorm(Layer):
    """Batch norm of (T, B, N) sequences, over time or frame-wise.

    ``mode="time"``: one mean/variance per neuron over the batch and all steps
    (the paper's choice for classification); it also takes a (B, N) array (one
    step, statistics over the batch), as the BN that feeds a last-step head
    does. ``mode="frame"``: per step and neuron over the batch, with running
    statistics per time index, ``(T_max, N)`` (the paper's choice for language
    modelling); at inference a step beyond ``T_max`` uses the last index's
    statistics.

    ``backend="numpy"`` computes the training-mode statistics with the NumPy
    reference, ``"cpu"`` with the Numba CPU kernels (BN over time; frame-wise
    BN is NumPy either way), ``"cuda"`` with the CUDA kernels of
    :mod:`indrnn_np.ops.device` (both kinds; with the layer on the device the
    running statistics are updated there too).

    Running averages: ``r ← (1 - momentum) r + momentum · batch`` (the batch
    variance unbiased, as PyTorch does).
    """

    def __init__(
        self, N, *, mode="time", T_max=None, momentum=0.1, eps=1e-5, backend="cpu", dtype=np.float32
    ):
        if mode not in ("time", "frame"):
            raise ValueError(f"mode must be 'time' or 'frame'; got {mode!r}")
        if mode == "frame" and (T_max is None or T_max < 1):
            raise ValueError(
                f"frame-wise batch norm needs T_max >= 1 (running statistics per step); got {T_max}"
            )
        self.mode, self.momentum, self.eps = mode, momentum, eps
        self.backend = resolve(backend, "BatchNorm backend")
        self.params = {"gamma": np.ones(N, dtype), "beta": np.zeros(N, dtype)}
        shape = (N,) if mode == "time" else (T_max, N)
        self._buffers = {"running_mean": np.zeros(shape, dtype), "running_var": np.ones(shape, dtype)}

    @property
    def buffers(self):
        return self._buffers

    def forward(self, x, train=True, lengths=None):
        p, buf = self.params, self.buffers
        if self.mode == "frame" and len(x.shape) != 3:
            raise ValueError(f"frame-wise batch norm needs x of shape (T, B, N); got shape {tuple(x.shape)}")
        if lengths is not None and len(x.shape) != 3:
            lengths = None  # a (B, N) input (after the last step) has no padding
        if train:
            self._check_values_per_statistic(x, lengths)
        if lengths is not None and train:
            return self._forward_masked(x, lengths)
        if resolve(self.backend).on_device:  # (a name set on the layer by hand resolves too)
            return self._forward_cuda(x, train)
        if not train:
            mean, var = buf["running_mean"], buf["running_var"]
            if self.mode == "frame":
                idx = np.minimum(np.arange(x.shape[0]), mean.shape[0] - 1)
                mean, var = mean[idx][:, None, :], var[idx][:, None, :]
            return batchnorm_inference(x, p["gamma"], p["beta"], mean, var, self.eps), None
        axes = tuple(range(x.ndim - 1)) if self.mode == "time" else (1,)
        y, cache, mean, var = batchnorm_forward(x, p["gamma"], p["beta"], axes, self.eps, self.backend)
        m = x.size // tuple(x.shape)[-1] if self.mode == "time" else x.shape[1]
        unbiased = var * (m / max(m - 1, 1))
        rm, rv = buf["running_mean"], buf["running_var"]
        if self.mode == "frame":
            T = min(x.shape[0], rm.shape[0])
            rm, rv, mean, unbiased = rm[:T], rv[:T], mean[:T], unbiased[:T]
        rm *= 1 - self.momentum
        rm += self.momentum * mean
        rv *= 1 - self.momentum
        rv += self.momentum * unbiased
        return y, cache

    def _check_values_per_statistic(self, x, lengths):
        # As PyTorch: a variance of one value is 0, and the running variance would decay to 0
        shape = tuple(x.shape)
        if self.mode == "time":
            n = int(np.sum(lengths)) if lengths is not None else int(np.prod(shape[:-1]))
            where = f"x of shape {shape}" + ("" if lengths is None else f" with {n} real steps in all")
        else:
            counts = (
                np.full(shape[0], shape[1])
                if lengths is None
                else (np.arange(shape[0])[:, None] < np.asarray(lengths)).sum(axis=1)
            )
            present = counts[counts > 0]
            n = int(present.min()) if present.size else 0
            where = f"x of shape {shape}" + (
                ""
                if lengths is None
                else f": step {int(np.flatnonzero(counts == n)[0])} has only {n} real sequence(s)"
            )
        if n < 2:
            raise ValueError(
                f"batch norm in training needs more than one value per statistic; got {where}. "
                "Use a batch of at least 2 sequences"
                + (
                    ""
                    if self.mode == "time"
                    else " that share every step, or batch norm over time (bn='time')"
                )
            )

    def _forward_masked(self, x, lengths):
        """Training-mode batch norm of a padded batch: statistics over the real steps only."""
        p, buf = self.params, self.buffers
        axes = (0, 1) if self.mode == "time" else (1,)
        y, cache, mean, var = batchnorm_forward(
            x, p["gamma"], p["beta"], axes, self.eps, self.backend, lengths=lengths
        )
        T = x.shape[0]
        counts = (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).sum(axis=1)  # real sequences per step
        rm, rv = buf["running_mean"], buf["running_var"]
        host_rm, host_rv = dev.to_host(rm), dev.to_host(rv)  # the buffers themselves on the host
        mean, var = dev.to_host(mean), dev.to_host(var)
        if self.mode == "time":
            m = int(counts.sum())
            _running(host_rm, host_rv, mean, var, self.momentum, m / (m - 1))
        else:  # each step's statistics move only when some sequence has that step
            for t in range(min(T, host_rm.shape[0])):
                c = int(counts[t])
                if c > 0:
                    _running(host_rm[t], host_rv[t], mean[t], var[t], self.momentum, c / max(c - 1, 1))
        dev.assign(rm, host_rm)  # back into the buffers where they live (on the host: themselves)
        dev.assign(rv, host_rv)
        return y, cache

    def _forward_cuda(self, x, train):
        p, buf = self.params, self.buffers
        rm, rv = buf["running_mean"], buf["running_var"]
        if not train:
            return dev.batchnorm_inference(x, p["gamma"], p["beta"], rm, rv, self.mode, self.eps), None
        axes = tuple(range(len(x.shape) - 1)) if self.mode == "time" else (1,)
        y, cache, mean, var = batchnorm_forward(x, p["gamma"], p["beta"], axes, self.eps, self.backend)
        m = x.size // tuple(x.shape)[-1] if self.mode == "time" else x.shape[1]
        if self.mode == "frame":
            G = min(x.shape[0], rm.shape[0])
            rm, rv, mean, var = rm[:G], rv[:G], mean[:G], var[:G]
        dev.running_update(rm, rv, mean, var, self.momentum, m / max(m - 1, 1))
        return y, cache

    def backward(self, dy, cache):
        if cache is None:
            raise RuntimeError("backward of an inference-mode batch norm: call forward with train=True")
        g = batchnorm_backward(dy, cache)
        return g.dx, {"gamma": g.dgamma, "beta": g.dbeta}


def _running(rm, rv, mean, var, momentum, unbias):
    """Running averages in place: ``r ← (1 - momentum) r + momentum · batch`` (the variance unbiased)."""
    rm *= 1 - momentum
    rm += momentum * mean
    rv *= 1 - momentum
    rv += momentum * (var * unbias)


class Dropout(Layer):
    """Dropout with one mask per sequence, shared over time (the paper's choice); identity at inference."""

    def __init__(self, p, *, seed=0):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1); got {p}")
        self.p = p
        self.params = {}
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train=True, lengths=None):
        if not train or self.p == 0.0:
            return x, None
        return dropout_forward(x, self.p, self.rng)

    def backward(self, dy, mask):
        return (dy if mask is None else dropout_backward(dy, mask)), {}

    def rng_states(self):
        return {"rng": json.dumps(self.rng.bit_generator.state)}

    def set_rng_states(self, states):
        self.rng.bit_generator.state = json.loads(states["rng"])


class LastStep(Layer):
    """Keep only the last step: (T, B, N) -> (B, N). No parameters.

    With lengths, each sequence's own last real step ``x[lengths[b] - 1, b]``.

    Parameters
    ----------
    split : int, optional
        For the output of a :class:`Bidirectional` layer (concatenated): the
        features from ``split`` on are the backward direction's, whose final
        state is at step 0 (it read the sequence in reverse); they are read
        there. None: every feature at the last step.
    """

    def __init__(self, split: int | None = None):
        self.params = {}
        self.split = split

    def forward(self, x, train=True, lengths=None):
        shape = tuple(x.shape)
        if lengths is None and self.split is None:
            return x[-1], shape
        T, B = shape[0], shape[1]
        last = np.full(B, T - 1, np.int64) if lengths is None else np.asarray(lengths, np.int64) - 1
        if self.split is None:
            return take_steps(x, last), (shape, last)
        C = self.split
        fwd, bwd = dev.split_last(x, C)
        y = dev.concat_last(take_steps(fwd, last), take_steps(bwd, np.zeros(B, np.int64)))
        return y, (shape, last)

    def backward(self, dy, cache):
        if isinstance(cache[0], tuple):  # lengths or split
            shape, last = cache
            if self.split is None:
                return put_steps(dy, last, shape), {}
            C = self.split
            d_fwd, d_bwd = dev.split_last(dy, C)
            B = shape[1]
            dx = dev.concat_last(
                put_steps(d_fwd, last, (*shape[:2], C)),
                put_steps(d_bwd, np.zeros(B, np.int64), (*shape[:2], shape[2] - C)),
            )
            return dx, {}
        shape = cache
        dx = backend_of(dy).zeros(shape, dy.dtype)
        dev.assign(dx[shape[0] - 1], dy)
        return dx, {}


class Pool(Layer):
    """Pool over time: (T, B, N) -> (B, N), the mean or the maximum of each sequence's real steps.

    No parameters. With lengths, only each sequence's own steps count (:func:`indrnn_np.ops.pool_forward`),
    so the padding never reaches the head. A bidirectional layer's output is pooled as it is: both
    halves cover the same real steps.

    Parameters
    ----------
    mode : {"mean", "max"}
    """

    def __init__(self, mode: str = "mean"):
        check_choice("mode", mode, ("mean", "max"))
        self.params = {}
        self.mode = mode

    def forward(self, x, train=True, lengths=None):
        return pool_forward(x, self.mode, lengths)

    def backward(self, dy, cache):
        return pool_backward(dy, cache), {}


class RNN(Layer):
    """A conventional RNN layer, ``h_t = σ(W x_t + h_{t-1} U + b)``; (T, B, M) -> (T, B, N).

    ``identity_init=True`` with ReLU is the IRNN (Le et al. 2015): U = I,
    W ~ N(0, 0.001²), b = 0. Otherwise W, U, b ~ U(±1/√N) (PyTorch's default).
    No CUDA kernels (a baseline for the CPU).
    """

    cuda_kernels = False

    def __init__(self, M, N, *, activation="tanh", identity_init=False, rng, dtype=np.float32):
        self.activation = activation
        k = 1.0 / np.sqrt(N)
        if identity_init:
            W, U, b = 0.001 * rng.standard_normal((M, N)), np.eye(N), np.zeros(N)
        else:
            W, U, b = rng.uniform(-k, k, (M, N)), rng.uniform(-k, k, (N, N)), rng.uniform(-k, k, N)
        self.params = {"W": W.astype(dtype), "U": U.astype(dtype), "b": b.astype(dtype)}

    def forward(self, x, train=True, lengths=None):
        # causal: the real steps' outputs never read the padding, and the layers and losses that
        # take lengths send no gradient to it; the padding's outputs are left as computed
        p = self.params
        return rnn_forward(x, p["W"], p["U"], p["b"], activation=self.activation)

    def backward(self, dh, cache):
        g = rnn_backward(dh, cache)
        return g.dx, {"W": g.dW, "U": g.dU, "b": g.db}


class LSTM(Layer):
    """An LSTM layer; (T, B, M) -> (T, B, N). Weights ~ U(±1/√N), forget-gate bias 1. No CUDA kernels."""

    cuda_kernels = False

    def __init__(self, M, N, *, rng, dtype=np.float32):
        k = 1.0 / np.sqrt(N)
        b = rng.uniform(-k, k, 4 * N)
        b[N : 2 * N] = 1.0  # forget gate open at the start
        self.params = {
            "W": rng.uniform(-k, k, (M, 4 * N)).astype(dtype),
            "U": rng.uniform(-k, k, (N, 4 * N)).astype(dtype),
            "b": b.astype(dtype),
        }

    def forward(self, x, train=True, lengths=None):
        p = self.params  # with lengths: as RNN.forward
        return lstm_forward(x, p["W"], p["U"], p["b"])

    def backward(self, dh, cache):
        g = lstm_backward(dh, cache)
        return g.dx, {"W": g.dW, "U": g.dU, "b": g.db}


class Parameters(dict):
    """A model's parameters by name (a plain dict) that also remembers the model they belong to.

    ``model.params`` returns one; :class:`indrnn_np.nn.Optimizer` reads the layers' u bounds
    through :attr:`model`, so ``Adam(model.params, ...)`` projects u as ``Adam(model, ...)`` does.
    """

    def __init__(self, items, model=None):
        super().__init__(items)
        self.model = model


class Sequential(Layer):
    """Named layers applied in order; parameters, gradients and buffers keyed ``"<layer>.<name>"``."""

    #: The model's backend, ``"numpy"``, ``"cpu"`` or ``"cuda"``: chosen once, by the builder
    #: (:func:`indrnn_np.nn.build_indrnn` and the others) or :func:`indrnn_np.nn.to_device`; the
    #: optimizer and the training loop ask the model for it rather than being told.
    backend = CPU

    @property
    def on_device(self) -> bool:
        """True when the model lives on the GPU (its backend's ``on_device``): forward copies a host input
        there first."""
        return resolve(self.backend).on_device

    def __init__(self, layers: list[tuple[str, Layer]]):
        names = [n for n, _ in layers]
        if len(set(names)) != len(names) or any("." in n for n in names):
            raise ValueError(f"layer names must be unique and contain no '.'; got {names}")
        for name, layer in layers:
            _refuse_batch_first(name, layer)
        self.layers = layers

    @property
    def params(self) -> Parameters:
        """Every parameter array by name (the arrays themselves: updating them updates the model).

        A :class:`Parameters` dict that remembers this model, so that an optimizer given
        ``model.params`` finds each layer's u bound as one given ``model`` does.
        """
        return Parameters({f"{n}.{k}": v for n, layer in self.layers for k, v in layer.params.items()}, self)

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.buffers.items()}

    def rng_states(self):
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.rng_states().items()}

    def set_rng_states(self, states):
        for n, layer in self.layers:
            prefix = n + "."
            layer.set_rng_states({k[len(prefix) :]: v for k, v in states.items() if k.startswith(prefix)})

    def num_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    def forward(self, x, train: bool = True, lengths=None):
        """Returns ``(output, caches)``; on the device, a device-array output.

        Parameters
        ----------
        x : ndarray, (T, B, M)
        train : bool
            Training mode (batch statistics, dropout) or inference.
        lengths : int array, (B,), optional
            A padded batch of sequences of different lengths (1 <= lengths[b] <= T): every
            layer ignores the padding (see the module's docstring); x's padding values may be
            anything (they are replaced by zeros first).

        Raises
        ------
        TypeError
            x's dtype is not the parameters' (:meth:`check_input`), naming ``x``.
        ValueError
            lengths of the wrong shape or outside [1, T].
        """
        self.check_input(x)
        x = resolve(self.backend).to_device(x)  # on the GPU, a host x copied there
        if lengths is not None:
            if len(x.shape) != 3:
                raise ValueError(f"x with lengths must have shape (T, B, M); got {tuple(x.shape)}")
            lengths = check_lengths(lengths, x.shape[0], x.shape[1])
            x = mask_padding(x, lengths)
        return self._run(x, train, lengths)

    def _run(self, x, train, lengths):
        caches = []
        for name, layer in self.layers:
            _refuse_batch_first(name, layer)  # set after the model was built
            x, cache = (
                layer.forward(x, train, lengths=lengths) if lengths is not None else layer.forward(x, train)
            )
            caches.append(cache)
        return x, caches

    def check_input(self, x) -> None:
        """Check the batch a model is given, once at its entry, before any layer sees it.

        Parameters
        ----------
        x : ndarray or device array
            The model's input.

        Raises
        ------
        TypeError
            ``x`` has another dtype than the model's parameters (float64 data for a
            float32 model): mixed precision is never cast silently.
        """
        dtype = next((p.dtype for _, layer in self.layers for p in layer.params.values()), None)
        x_dtype = getattr(x, "dtype", None)
        if dtype is None or x_dtype is None or np.dtype(x_dtype) == np.dtype(dtype):
            return
        x_dtype, dtype = np.dtype(x_dtype), np.dtype(dtype)
        rebuild = f", or build the model with dtype=np.{x_dtype}" if x_dtype.kind == "f" else ""
        raise TypeError(
            f"x has dtype {x_dtype} but the model's parameters are {dtype}: "
            f"cast the batch with x.astype(np.{dtype}){rebuild}"
        )

    def backward(self, dout, caches, *, input_grad: bool = True):
        """Returns ``(dx, grads)`` with ``grads`` keyed like :attr:`params`.

        ``input_grad=False`` (training: the data needs no gradient) skips the
        first layer's input gradient and returns ``dx=None``.
        """
        grads = {}
        for i, ((n, layer), cache) in enumerate(zip(reversed(self.layers), reversed(caches), strict=True)):
            if not input_grad and i == len(self.layers) - 1:
                g, dout = layer.param_grads(dout, cache), None
            else:
                dout, g = layer.backward(dout, cache)
            grads.update({f"{n}.{k}": v for k, v in g.items()})
        return dout, grads

    def param_grads(self, dout, caches):
        return self.backward(dout, caches, input_grad=False)[1]


class _Wrapper(Layer):
    """A layer around a :class:`Sequential` body: the body's parameters, buffers and generators are its own."""

    def __init__(self, body: Sequential):
        self.body = body

    @property
    def params(self):
        return self.body.params

    @property
    def buffers(self):
        return self.body.buffers

    def rng_states(self):
        return self.body.rng_states()

    def set_rng_states(self, states):
        self.body.set_rng_states(states)


class Residual(_Wrapper):
    """``x + F(x)`` with an identity shortcut; F is a :class:`Sequential`. Shapes in = out."""

    def forward(self, x, train=True, lengths=None):
        y, cache = self.body._run(x, train, lengths)
        return dev.add(x, y), cache

    def backward(self, dy, cache):
        dx, grads = self.body.backward(dy, cache)
        return dev.add(dy, dx), grads


class DenseConnection(_Wrapper):
    """``concat(x, F(x))`` along the features (DenseNet): x (..., C) -> (..., C + K) where F(x) is (..., K).

    Every later layer sees every earlier layer's features. Backward splits the
    gradient: its first C features go straight to x, the rest through F, and
    the two add.
    """

    def forward(self, x, train=True, lengths=None):
        y, cache = self.body._run(x, train, lengths)
        return dev.concat_last(x, y), (tuple(x.shape)[-1], cache)

    def backward(self, dout, cache):
        C, body_cache = cache
        left, right = dev.split_last(dout, C)
        dx, grads = self.body.backward(right, body_cache)
        return dev.add(left, dx), grads


class Bidirectional(_Wrapper):
    """A bidirectional layer: one direction reads each sequence forward, the other in reverse.

    ``forward_layer`` sees x as it is; ``backward_layer`` sees each sequence's
    real steps in reverse order (:func:`indrnn_np.ops.reverse_padded`; with no
    lengths, ``x[::-1]``), and its output is reversed back, so that at step t
    both outputs belong to step t. Merged by concatenating the features
    (``merge="concat"``: (T, B, N_f + N_b)) or summing them (``"sum"``: one
    width). The two directions have their own parameters, named
    ``"fwd.<name>"`` and ``"bwd.<name>"``.

    The backward direction's final state (having read the whole sequence) is
    at step 0: a last-step head reads it with ``LastStep(split=N_f)`` on the
    concatenated output (:func:`indrnn_np.nn.build_indrnn` with
    ``bidirectional=True`` does this).

    No reversed copies where none are needed: when the backward direction is an
    :class:`IndRNN` or :class:`Recurrence`, or a :class:`Sequential` of those
    with :class:`Dense` and batch norm over time (``mode="time"``: per step,
    neither depends on the order of the steps), its recurrences run in reverse
    time themselves (``reverse_time`` of :func:`indrnn_np.ops.indrnn_forward`,
    sequential algorithm, not stateful), which gives the same results (to
    rounding) without reversing x, h, dy and dx. Any other backward direction
    (frame-wise batch norm, whose statistics are per step index; dropout,
    whose mask is drawn per position; the scan; stateful layers) reads
    reversed copies as described above.

    Parameters
    ----------
    forward_layer, backward_layer : Layer
        Each (T, B, M) -> (T, B, N): an :class:`IndRNN`, or a
        :class:`Sequential` such as Dense → BatchNorm → Recurrence.
    merge : {"concat", "sum"}
    """

    def __init__(self, forward_layer: Layer, backward_layer: Layer, *, merge: str = "concat"):
        if merge not in ("concat", "sum"):
            raise ValueError(f"merge must be 'concat' or 'sum'; got {merge!r}")
        super().__init__(Sequential([("fwd", forward_layer), ("bwd", backward_layer)]))
        self.merge = merge

    @property
    def directions(self) -> tuple[Layer, Layer]:
        return self.body.layers[0][1], self.body.layers[1][1]

    def _reverse_in_time(self):
        """The backward direction's recurrences when they can run in reverse time in place of the
        reversed copies (see the class docstring); None when the copies are needed."""
        _, b = self.directions
        layers = [layer for _, layer in b.layers] if type(b) is Sequential else [b]
        recurrences = []
        for layer in layers:
            if isinstance(layer, IndRNN | Recurrence):
                if layer.algorithm != "sequential" or layer.stateful or layer.batch_first:
                    return None
                recurrences.append(layer)
            elif not (type(layer) is Dense or (type(layer) is BatchNorm and layer.mode == "time")):
                return None
        return recurrences

    def _reverse(self, a, lengths):
        if lengths is None:
            if backend_of(a).on_device:  # the reverse kernel (a reversed view is not a device array)
                return reverse_padded(a, np.full(a.shape[1], a.shape[0]))
            return dev.copy(a[::-1])
        return reverse_padded(a, lengths)

    def forward(self, x, train=True, lengths=None):
        f, b = self.directions
        kw = {} if lengths is None else {"lengths": lengths}
        hf, cf = f.forward(x, train, **kw)
        recurrences = self._reverse_in_time()
        if recurrences is not None:  # the recurrences read each sequence from its end: no copies
            for layer in recurrences:
                layer.reverse_time = True
            try:
                hb, cb = b.forward(x, train, **kw)
            finally:
                for layer in recurrences:
                    del layer.reverse_time  # back to the class's False
        else:
            hb_rev, cb = b.forward(self._reverse(x, lengths), train, **kw)
            hb = self._reverse(hb_rev, lengths)
        y = dev.concat_last(hf, hb) if self.merge == "concat" else dev.add(hf, hb)
        return y, (cf, cb, tuple(hf.shape)[-1], lengths, recurrences is not None)

    def backward(self, dy, cache):
        cf, cb, C, lengths, in_reverse_time = cache
        f, b = self.directions
        if self.merge == "concat":
            d_f, d_b = dev.split_last(dy, C)  # the ops below take a view (they copy what they keep)
        else:
            d_f, d_b = dy, dy
        dx_f, g_f = f.backward(d_f, cf)
        if in_reverse_time:  # the caches say so: backward runs each recurrence as forward did
            dx_b, g_b = b.backward(d_b, cb)
        else:
            dx_b_rev, g_b = b.backward(self._reverse(d_b, lengths), cb)
            dx_b = self._reverse(dx_b_rev, lengths)
        return dev.add(dx_f, dx_b), self._named(g_f, g_b)

    def param_grads(self, dy, cache):
        """The parameter gradients alone (the network's first layer): neither direction computes its
        input gradient (:meth:`IndRNN.param_grads` skips its GEMM), so there is no dx to reverse or
        add."""
        cf, cb, C, lengths, in_reverse_time = cache
        f, b = self.directions
        d_f, d_b = dev.split_last(dy, C) if self.merge == "concat" else (dy, dy)
        g_f = f.param_grads(d_f, cf)
        g_b = b.param_grads(d_b if in_reverse_time else self._reverse(d_b, lengths), cb)
        return self._named(g_f, g_b)

    @staticmethod
    def _named(g_f, g_b):
        grads = {f"fwd.{k}": v for k, v in g_f.items()}
        grads.update({f"bwd.{k}": v for k, v in g_b.items()})
        return grads
