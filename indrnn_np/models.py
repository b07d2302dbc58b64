"""Layer 3: thin parameter holders around the functional ops.

A layer owns its parameters (a dict of arrays) and nothing else: ``forward``
returns the output and a cache, ``backward`` takes the cache back and returns
the input gradient and a dict of parameter gradients. No layer keeps state
between calls, so the same model can run several forward passes before their
backward passes (as gradient checks do).

A :class:`Sequential` names its layers, and every parameter and gradient is
visible by ``"<layer>.<param>"``: ``model.params["indrnn1.u"]``.
"""

from __future__ import annotations

import numpy as np

from .dynamics import relu_u_max, relu_u_min
from .ops import indrnn_backward, indrnn_forward, linear_backward, linear_forward


class Layer:
    """Base class: ``params`` dict, ``forward(x, train) -> (y, cache)``, ``backward(dy, cache) -> (dx, grads)``."""

    params: dict[str, np.ndarray]

    def forward(self, x, train: bool = True):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dy, cache):  # pragma: no cover - interface
        raise NotImplementedError


class IndRNN(Layer):
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
    w_std : float
        Input weights W ~ N(0, w_std²) (the official adding code: 0.001).
    rng : numpy.random.Generator
    dtype : float32 or float64
    """

    def __init__(
        self, M, N, *, activation="relu", backend="cpu", u_init=(0.0, 1.0), w_std=0.001, rng, dtype=np.float32
    ):
        self.activation, self.backend = activation, backend
        self.params = {
            "W": (w_std * rng.standard_normal((M, N))).astype(dtype),
            "u": rng.uniform(u_init[0], u_init[1], N).astype(dtype),
            "b": np.zeros(N, dtype),
        }

    def forward(self, x, train=True):
        p = self.params
        return indrnn_forward(x, p["W"], p["u"], p["b"], activation=self.activation, backend=self.backend)

    def backward(self, dh, cache):
        g = indrnn_backward(dh, cache)
        return g.dx, {"W": g.dW, "u": g.du, "b": g.db}


class Dense(Layer):
    """``y = x W + b`` over every leading axis; x (..., M) -> y (..., N). W ~ U(±1/√M) (PyTorch's default)."""

    def __init__(self, M, N, *, rng, dtype=np.float32):
        bound = 1.0 / np.sqrt(M)
        self.params = {
            "W": rng.uniform(-bound, bound, (M, N)).astype(dtype),
            "b": rng.uniform(-bound, bound, N).astype(dtype),
        }

    def forward(self, x, train=True):
        return linear_forward(x, self.params["W"], self.params["b"])

    def backward(self, dy, cache):
        g = linear_backward(dy, cache)
        return g.dx, {"W": g.dW, "b": g.db}


class LastStep(Layer):
    """Keep only the last step: (T, B, N) -> (B, N). No parameters."""

    params: dict = {}

    def forward(self, x, train=True):
        return x[-1], x.shape

    def backward(self, dy, shape):
        dx = np.zeros(shape, dy.dtype)
        dx[-1] = dy
        return dx, {}


class Sequential:
    """Named layers applied in order; parameters and gradients keyed ``"<layer>.<param>"``."""

    def __init__(self, layers: list[tuple[str, Layer]]):
        names = [n for n, _ in layers]
        if len(set(names)) != len(names) or any("." in n for n in names):
            raise ValueError(f"layer names must be unique and contain no '.'; got {names}")
        self.layers = layers

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter array by name (the arrays themselves: updating them updates the model)."""
        return {f"{n}.{k}": v for n, layer in self.layers for k, v in layer.params.items()}

    def num_params(self) -> int:
        return int(sum(v.size for v in self.params.values()))

    def forward(self, x, train: bool = True):
        """Returns ``(output, caches)``."""
        caches = []
        for _, layer in self.layers:
            x, cache = layer.forward(x, train)
            caches.append(cache)
        return x, caches

    def backward(self, dout, caches):
        """Returns ``(dx, grads)`` with ``grads`` keyed like :attr:`params`."""
        grads = {}
        for (n, layer), cache in zip(reversed(self.layers), reversed(caches), strict=True):
            dout, g = layer.backward(dout, cache)
            grads.update({f"{n}.{k}": v for k, v in g.items()})
        return dout, grads


def indrnn_regressor(
    T: int,
    M: int = 2,
    hidden: int = 128,
    layers: int = 2,
    outputs: int = 1,
    *,
    gamma: float = 2.0,
    activation: str = "relu",
    backend: str = "cpu",
    seed: int = 0,
    dtype=np.float32,
) -> Sequential:
    """The paper's adding-problem network: stacked IndRNN layers, a dense head on the last step.

    Initialisation (Deep IndRNN paper and the official code): u ~ U(0, u_max)
    in hidden layers and U(u_min, u_max) in the last IndRNN layer, with
    u_max = γ^{1/T} and u_min = (1/γ)^{1/T}; input weights ~ N(0, 0.001²).
    """
    if layers < 1 or hidden < 1:
        raise ValueError(f"layers and hidden must be >= 1; got {layers}, {hidden}")
    rng = np.random.default_rng(seed)
    u_max, u_min = relu_u_max(T, gamma), relu_u_min(T, gamma)
    stack: list[tuple[str, Layer]] = []
    for i in range(layers):
        last = i == layers - 1
        stack.append(
            (
                f"indrnn{i + 1}",
                IndRNN(
                    M if i == 0 else hidden,
                    hidden,
                    activation=activation,
                    backend=backend,
                    u_init=(u_min if last else 0.0, u_max),
                    rng=rng,
                    dtype=dtype,
                ),
            )
        )
    stack += [("last", LastStep()), ("head", Dense(hidden, outputs, rng=rng, dtype=dtype))]
    return Sequential(stack)
