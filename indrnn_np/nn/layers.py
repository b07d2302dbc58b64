"""Layer 3: thin parameter holders around the functional ops.

A layer owns its parameters (``params``, a dict of arrays) and, for batch
norm, its running statistics (``buffers``); ``forward(x, train)`` returns the
output and a cache, ``backward(dy, cache)`` takes the cache back and returns
the input gradient and a dict of parameter gradients. Backward never reads
anything but its cache, so the same model can run several forward passes
before their backward passes (as gradient checks do).

A :class:`Sequential` names its layers, and every parameter, gradient and
buffer is visible by ``"<layer>.<param>"``: ``model.params["indrnn1.u"]``,
``model.params["res1.bn1.gamma"]``. The names that end in ``.u`` are the
recurrent weights that the optimizer projects.
"""

from __future__ import annotations

import json

import numpy as np

from ..ops import (
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    buffers,
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

    def forward(self, x, train: bool = True):  # pragma: no cover - interface
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

    def _h0(self, B):
        if self.stateful and self.state is not None and self.state.shape[0] == B:
            return self.state
        return None

    def _keep(self, h):
        if self.stateful:
            self.state = dev.copy(h[-1])

    @property
    def buffers(self):
        return {"state": self.state} if self.stateful and self.state is not None else {}


class IndRNN(_Stateful, Layer):
    """One IndRNN layer, ``h_t = σ(W x_t + u ⊙ h_{t-1} + b)``; x (T, B, M) -> h (T, B, N).

    Parameters
    ----------
    M, N : int
        Input features and neurons.
    activation : str
        ``"relu"`` (paper), ``"tanh"`` or ``"identity"``.
    backend : str
        ``"cpu"``, ``"numpy"`` or ``"cuda"`` (see :func:`indrnn_np.indrnn_forward`).
    u_init : (float, float)
        u ~ U(low, high). The paper: (0, u_max) for hidden layers, and
        (u_min, u_max) for the last IndRNN layer when only the last step is used.
    w_std : float or None
        Input weights W ~ N(0, w_std²) (the official adding code: 0.001);
        None: U(±1/√M).
    rng : numpy.random.Generator
    dtype : float32 or float64
    """

    def __init__(
        self, M, N, *, activation="relu", backend="cpu", u_init=(0.0, 1.0), w_std=0.001, rng, dtype=np.float32
    ):
        self.activation, self.backend = activation, backend
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
    def from_arrays(cls, W, u, b, *, activation="relu", backend="cpu") -> IndRNN:
        """A layer holding copies of trained arrays: W (M, N), u (N,), b (N,), one dtype."""
        W, u, b = (np.array(a, copy=True) for a in (W, u, b))
        if W.ndim != 2 or u.shape != (W.shape[1],) or b.shape != (W.shape[1],):
            raise ValueError(f"need W (M, N), u (N,), b (N,); got {W.shape}, {u.shape}, {b.shape}")
        layer = cls(
            W.shape[0], W.shape[1], activation=activation, backend=backend, rng=np.random.default_rng(0)
        )
        layer.params = {"W": W, "u": u, "b": b}
        return layer

    def forward(self, x, train=True):
        p = self.params
        h, cache = indrnn_forward(
            x, p["W"], p["u"], p["b"], self._h0(x.shape[1]), activation=self.activation, backend=self.backend
        )
        self._keep(h)
        return h, cache

    def backward(self, dh, cache):
        g = indrnn_backward(dh, cache)
        return g.dx, {"W": g.dW, "u": g.du, "b": g.db}

    def param_grads(self, dh, cache):
        g = indrnn_backward(dh, cache, need_dx=False)
        return {"W": g.dW, "u": g.du, "b": g.db}


class Recurrence(_Stateful, Layer):
    """The recurrence alone (IndRec), ``h_t = σ(x_t + u ⊙ h_{t-1} + b)``; (T, B, N) -> (T, B, N)."""

    def __init__(self, N, *, activation="relu", backend="cpu", u_init=(0.0, 1.0), rng, dtype=np.float32):
        self.activation, self.backend = activation, backend
        self.params = {"u": rng.uniform(u_init[0], u_init[1], N).astype(dtype), "b": np.zeros(N, dtype)}

    def forward(self, x, train=True):
        p = self.params
        h, cache = indrnn_recurrence_forward(
            x, p["u"], p["b"], self._h0(x.shape[1]), activation=self.activation, backend=self.backend
        )
        self._keep(h)
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

    def forward(self, x, train=True):
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
        if backend not in ("numpy", "cpu", "cuda"):
            raise ValueError(f"BatchNorm backend must be 'numpy', 'cpu' or 'cuda'; got {backend!r}")
        self.backend = backend
        self.params = {"gamma": np.ones(N, dtype), "beta": np.zeros(N, dtype)}
        shape = (N,) if mode == "time" else (T_max, N)
        self._buffers = {"running_mean": np.zeros(shape, dtype), "running_var": np.ones(shape, dtype)}

    @property
    def buffers(self):
        return self._buffers

    def forward(self, x, train=True):
        p, buf = self.params, self.buffers
        if self.mode == "frame" and len(x.shape) != 3:
            raise ValueError(f"frame-wise batch norm needs x of shape (T, B, N); got shape {tuple(x.shape)}")
        if self.backend == "cuda":
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

    def _forward_cuda(self, x, train):
        p, buf = self.params, self.buffers
        rm, rv = buf["running_mean"], buf["running_var"]
        if not train:
            return dev.batchnorm_inference(x, p["gamma"], p["beta"], rm, rv, self.mode, self.eps), None
        axes = tuple(range(len(x.shape) - 1)) if self.mode == "time" else (1,)
        y, cache, mean, var = batchnorm_forward(x, p["gamma"], p["beta"], axes, self.eps, "cuda")
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


class Dropout(Layer):
    """Dropout with one mask per sequence, shared over time (the paper's choice); identity at inference."""

    def __init__(self, p, *, seed=0):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout p must be in [0, 1); got {p}")
        self.p = p
        self.params = {}
        self.rng = np.random.default_rng(seed)

    def forward(self, x, train=True):
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
    """Keep only the last step: (T, B, N) -> (B, N). No parameters."""

    def __init__(self):
        self.params = {}

    def forward(self, x, train=True):
        return x[-1], x.shape

    def backward(self, dy, shape):
        if dev.is_device(dy):
            return dev.last_step_backward(dy, shape), {}
        dx = buffers.zeros(shape, dy.dtype)
        dx[-1] = dy
        return dx, {}


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

    def forward(self, x, train=True):
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

    def forward(self, x, train=True):
        p = self.params
        return lstm_forward(x, p["W"], p["U"], p["b"])

    def backward(self, dh, cache):
        g = lstm_backward(dh, cache)
        return g.dx, {"W": g.dW, "U": g.dU, "b": g.db}


class Sequential(Layer):
    """Named layers applied in order; parameters, gradients and buffers keyed ``"<layer>.<name>"``."""

    #: The model's backend, ``"numpy"``, ``"cpu"`` or ``"cuda"``: chosen once, by the builder
    #: (:func:`indrnn_np.nn.build_indrnn` and the others) or :func:`indrnn_np.nn.to_device`; the
    #: optimizer and the training loop ask the model for it rather than being told.
    backend = "cpu"

    @property
    def on_device(self) -> bool:
        """True when the model lives on the GPU (``backend == "cuda"``): forward copies a host input there first."""
        return self.backend == "cuda"

    def __init__(self, layers: list[tuple[str, Layer]]):
        names = [n for n, _ in layers]
        if len(set(names)) != len(names) or any("." in n for n in names):
            raise ValueError(f"layer names must be unique and contain no '.'; got {names}")
        self.layers = layers

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter array by name (the arrays themselves: updating them updates the model)."""
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.params.items()}

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

    def forward(self, x, train: bool = True):
        """Returns ``(output, caches)``; on the device, a device-array output."""
        if self.on_device and not dev.is_device(x):
            x = dev.to_device(x)
        caches = []
        for _, layer in self.layers:
            x, cache = layer.forward(x, train)
            caches.append(cache)
        return x, caches

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

    def forward(self, x, train=True):
        y, cache = self.body.forward(x, train)
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

    def forward(self, x, train=True):
        y, cache = self.body.forward(x, train)
        return dev.concat_last(x, y), (tuple(x.shape)[-1], cache)

    def backward(self, dout, cache):
        C, body_cache = cache
        left, right = dev.split_last(dout, C)
        dx, grads = self.body.backward(right, body_cache)
        return dev.add(left, dx), grads
