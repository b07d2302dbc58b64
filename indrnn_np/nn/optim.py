"""Layer 3: optimizers that know about IndRNN's recurrent weights, gradient clipping, the u projection.

Every optimizer updates a dict of parameter arrays in place from a dict of
gradients with the same names, then projects each recurrent weight (names
ending in ``.u``) into its allowed range, as the official code does after
every step. Built on a model (``Adam(model, lr=...)``), the range is each
layer's ``u_bounds`` (set by the model builders from T and γ); built on a bare
dict of arrays, it must be given (``u_max``), or a warning says u is left free. Weight decay skips u, every bias and batch norm's β and γ
(:func:`default_no_decay`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np

from ..ops import device as dev
from ..ops.backend import CPU, backend_of, resolve
from ..ops.optim import adam_update, grad_sumsq, grad_sumsq_into, sgd_update
from .layers import Layer
from .models import u_bounds_of


class UnprojectedUWarning(UserWarning):
    """Recurrent weights (``*.u``) that an optimizer will not project, because no bound is known."""


# --------------------------------------------------------------------------
# Projection of u and gradient clipping (applied by the optimizer and the training step)
# --------------------------------------------------------------------------


def project_u(
    u: np.ndarray, u_max: float, *, u_min: float | None = None, nonnegative: bool = False, out=None
):
    """Clamp the stored recurrent weights into their allowed range.

    This is what the official code does after each optimizer step: a clamp of
    the weight itself, outside the graph. (Clamping inside the forward pass
    instead would give u a zero gradient wherever it sits outside the bound,
    so it could never come back.)

    Parameters
    ----------
    u : ndarray, (N,)
    u_max : float
        Upper bound on ``|u|`` (e.g. :func:`relu_u_max`).
    u_min : float, optional
        Lower bound; default ``-u_max``, or 0 when ``nonnegative``.
    nonnegative : bool
        Project into [0, u_max] rather than [-u_max, u_max].
    out : ndarray, optional
        Where to write (``out=u`` clamps in place).

    Returns
    -------
    ndarray, (N,)
    """
    if u_max < 0:
        raise ValueError(f"u_max must be >= 0; got {u_max}")
    lo = (0.0 if nonnegative else -u_max) if u_min is None else u_min
    if lo > u_max:
        raise ValueError(f"u_min must be <= u_max; got u_min={lo}, u_max={u_max}")
    return np.clip(u, lo, u_max, out=out)


def clip_grad_elementwise(grads, clip: float = 10.0):
    """Clamp every gradient entry into [-clip, clip].

    Not what the official code's ``grad_clipping=10`` does: that (Lasagne)
    clamps ∂J/∂a_t at every step inside backpropagation through time, a
    bound the adding networks never reach (largest ``|∂J/∂a_t|`` for a batch-32
    loss: 0.058 at T = 5000, 0.0022 at T = 1000, reported by ``neurons``),
    so the official runs are in effect unclipped. This clamp acts on the
    parameters' summed gradients, whose global norm in the T = 5000 run
    has a median of 595 (``grad_norm`` in its metrics.csv).

    Bounds each entry separately, so a large gradient changes direction as
    well as size; entries within the bound are untouched.

    Parameters
    ----------
    grads : ndarray or mapping of name to ndarray
    clip : float

    Returns
    -------
    Same kind as ``grads``, new arrays.
    """
    if clip <= 0:
        raise ValueError(f"clip must be > 0; got {clip}")
    if isinstance(grads, Mapping):
        return {k: np.clip(g, -clip, clip) for k, g in grads.items()}
    return np.clip(grads, -clip, clip)


def _root(total: float) -> float:
    return float(np.sqrt(total)) if np.isfinite(total) else float("inf")


def grad_norms(grads: Mapping, clip: float | None = None, backend: str = "cpu") -> tuple[float, float]:
    """Global gradient norms before and after the element-wise clamp, one read of each gradient.

    Parameters
    ----------
    grads : mapping of str to ndarray
    clip : float, optional
        The clamp ``[-clip, clip]``; None: none (both norms equal).
    backend : str
        Kernels of :mod:`indrnn_np.ops.optim`.

    Returns
    -------
    (float, float)
        ``sqrt(Σ ‖g‖²)`` and the same of the clamped gradients; inf if any entry is inf or NaN.
    """
    raw = clipped = 0.0
    for g in grads.values():
        r, c = grad_sumsq(np.asarray(g), clip, backend)
        raw, clipped = raw + r, clipped + c
    return _root(raw), _root(clipped)


def device_step_stats(loss, grads: Mapping, clip: float | None = None) -> tuple[float, float, float]:
    """``(loss, norm, clipped norm)`` of a training step on the GPU, with **one** copy to the host.

    The loss (a (1,) device array from a device loss op) and each gradient's two sums of squares
    (:func:`indrnn_np.ops.optim.grad_sumsq_into`) are written into one small device array, which
    is copied back once and added in float64.

    Parameters
    ----------
    loss : device array, (1,)
    grads : mapping of str to device array, one dtype
    clip : float, optional
        As :func:`grad_norms`.
    """
    stats = dev.empty(1 + 2 * len(grads), loss.dtype)
    stats[0:1].copy_to_device(loss)
    for k, g in enumerate(grads.values()):
        grad_sumsq_into(g, clip, stats[1 + 2 * k : 3 + 2 * k])
    host = stats.copy_to_host().astype(np.float64)  # the step's one device-to-host copy
    return float(host[0]), _root(float(host[1::2].sum())), _root(float(host[2::2].sum()))


def global_norm(grads: Mapping) -> float:
    """``sqrt(Σ ‖g‖²)`` over every gradient array (inf if any entry is inf or NaN)."""
    total = 0.0
    for g in grads.values():
        g64 = np.asarray(g, dtype=np.float64)
        total += float(np.sum(g64 * g64))
    return _root(total)


def norm_scale(norm: float, max_norm: float) -> float:
    """The factor that shortens a gradient of global norm ``norm`` to at most ``max_norm`` (1 if shorter)."""
    if max_norm <= 0:
        raise ValueError(f"max_norm must be > 0; got {max_norm}")
    return max_norm / norm if np.isfinite(norm) and norm > max_norm else 1.0


def clip_grad_norm(grads: Mapping, max_norm: float):
    """Rescale all gradients together so that their global norm is at most ``max_norm``.

    Keeps the direction of the whole gradient and only shortens it.

    Returns
    -------
    (clipped, norm) : (dict of name to ndarray, float)
        The rescaled gradients and the norm before clipping.
    """
    norm = global_norm(grads)
    scale = norm_scale(norm, max_norm)
    return {
        k: (g * np.asarray(scale, dtype=np.asarray(g).dtype) if scale != 1.0 else g.copy())
        for k, g in grads.items()
    }, norm


def is_recurrent(name: str) -> bool:
    """Recurrent-weight parameters are the ones named ``<layer>.u``."""
    return name.endswith(".u")


#: Parameter names (after the last ``.``) that weight decay skips: the recurrent weights, the
#: biases, and batch norm's shift β and scale γ (as the official code and common PyTorch practice).
NO_DECAY_NAMES = ("u", "b", "beta", "gamma")


def default_no_decay(name: str) -> bool:
    """Whether weight decay skips parameter ``name``: u, every bias b, and batch norm's β and γ.

    Parameters
    ----------
    name : str
        A parameter's name, ``"<layer>.<param>"`` (``"res2.bn1.gamma"``).

    Returns
    -------
    bool
        True when ``name`` ends in ``"." + n`` for an ``n`` of :data:`NO_DECAY_NAMES`.
    """
    return name.endswith(tuple("." + n for n in NO_DECAY_NAMES))


class Optimizer:
    """Shared parts: the parameters, weight decay, the u projection, one fused pass per parameter.

    ``step`` makes one pass over each parameter (:mod:`indrnn_np.ops.optim`):
    the gradient clamped to ``±clip`` and multiplied by ``scale`` (global-norm
    clipping), weight decay added, the optimizer's state and the parameter
    updated, and each recurrent weight projected into its range.

    Parameters
    ----------
    params : Layer or mapping of str to ndarray
        A model (a :class:`indrnn_np.nn.Sequential`): its ``params`` are updated, and
        each recurrent weight's range is its layer's ``u_bounds``. Or a mapping of name
        to array (``model.params``), updated in place; C-contiguous.
    lr : float
    weight_decay : float
        L2 coefficient added to the gradient of every parameter for which
        ``no_decay(name)`` is false.
    u_max : "auto", float or None
        The projection of every ``*.u`` after each step:

        * ``"auto"`` (default): into its layer's ``u_bounds``, known when ``params``
          is a model whose layers state it (the builders of :mod:`indrnn_np.nn.models`
          do). A ``*.u`` whose bound is unknown (any of a bare mapping) is not
          projected, and :class:`UnprojectedUWarning` says so once, at construction.
        * a float: into ``[-u_max, u_max]`` (``[0, u_max]`` with ``u_nonnegative``),
          whatever the layers say (e.g. ``relu_u_max(T, gamma)``).
        * None: no projection (training u unconstrained, on purpose).
    u_nonnegative : bool
        Raise every lower bound to 0: ``[0, u_max]``, or ``[max(lo, 0), hi]`` with ``"auto"``.
    no_decay : callable
        ``no_decay(name) -> bool``; default :func:`default_no_decay` (u, biases, β, γ).
    backend : str, optional
        The model's backend (:attr:`indrnn_np.nn.Sequential.backend`): ``"cpu"``
        (Numba), ``"numpy"`` (the reference) or ``"cuda"``: device-array
        parameters (a model on the GPU) and their state are updated on the GPU;
        host parameters by the ``cpu`` kernels. Default: where the parameters
        live (``"cuda"`` for device arrays, else ``"cpu"``), so a model's own
        choice needs no repeating.

    Attributes
    ----------
    u_bounds : dict of str to (float, float)
        The range each projected parameter is clamped into after every step.

    Raises
    ------
    TypeError
        ``params`` neither a model nor a mapping.
    ValueError
        ``lr <= 0``, ``weight_decay < 0``, ``u_max`` negative or another string than
        ``"auto"``, or a parameter that cannot be updated in place.

    Warns
    -----
    UnprojectedUWarning
        ``u_max="auto"`` and some ``*.u`` has no known bound.
    """

    def __init__(
        self,
        params: Layer | Mapping[str, np.ndarray],
        lr: float,
        *,
        weight_decay=0.0,
        u_max="auto",
        u_nonnegative=False,
        no_decay: Callable[[str], bool] = default_no_decay,
        backend: str | None = None,
    ):
        if isinstance(params, Layer):
            layer_bounds, params = u_bounds_of(params), params.params
        elif isinstance(params, Mapping):  # model.params remembers its model (nn.layers.Parameters)
            owner = getattr(params, "model", None)
            layer_bounds = u_bounds_of(owner) if isinstance(owner, Layer) else {}
        else:
            raise TypeError(
                "params must be a model (an indrnn_np.nn.Layer, e.g. Sequential) or a mapping of "
                f"name to array; got {type(params).__name__}"
            )
        if lr <= 0:
            raise ValueError(f"lr must be > 0; got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0; got {weight_decay}")
        if isinstance(u_max, str):
            if u_max != "auto":
                raise ValueError(f"u_max must be 'auto', a number >= 0 or None; got {u_max!r}")
        elif u_max is not None and not u_max >= 0:
            raise ValueError(f"u_max must be 'auto', a number >= 0 or None; got {u_max}")
        self.params = dict(params)
        if backend is None:  # decided where the model was built: its parameters' placement says it
            backend = backend_of(*self.params.values(), default=CPU)
        backend = resolve(backend)
        for name, p in self.params.items():
            if backend_of(p).on_device:
                if not backend.on_device or not p.is_c_contiguous():
                    raise ValueError(
                        f"parameter {name!r} is a device array: it needs backend 'cuda' (got '{backend}') "
                        "and C-contiguous storage"
                    )
            elif not isinstance(p, np.ndarray) or not p.flags.c_contiguous:
                raise ValueError(
                    f"parameter {name!r} must be a C-contiguous ndarray (it is updated in place)"
                )
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.u_max = u_max
        self.u_nonnegative = u_nonnegative
        self.no_decay = no_decay
        self.backend = backend
        self.u_bounds = self._projection(layer_bounds)
        self.t = 0

    def _projection(self, layer_bounds) -> dict[str, tuple[float, float]]:
        recurrent = [name for name in self.params if is_recurrent(name)]
        if self.u_max is None:
            return {}
        if not isinstance(self.u_max, str):  # one bound for every u
            return {name: ((0.0 if self.u_nonnegative else -self.u_max), self.u_max) for name in recurrent}
        free = [name for name in recurrent if layer_bounds.get(name) is None]
        if free:
            cls = type(self).__name__
            shown = ", ".join(map(repr, free[:3])) + (f" and {len(free) - 3} more" if len(free) > 3 else "")
            warnings.warn(
                f"no u bound is known for {shown}, so {cls} will not project "
                f"{'it' if len(free) == 1 else 'them'}: pass the model itself ({cls}(model, ...); "
                "the model builders set each layer's u_bounds from T and gamma), "
                "u_max=relu_u_max(T, gamma) for one bound, or u_max=None to train u unconstrained "
                "without this warning",
                UnprojectedUWarning,
                stacklevel=4,
            )
        bounds = {name: layer_bounds[name] for name in recurrent if name not in free}
        if self.u_nonnegative:
            bounds = {name: (max(lo, 0.0), hi) for name, (lo, hi) in bounds.items()}
        return bounds

    def _bounds(self, name):
        return self.u_bounds.get(name)

    def _decay(self, name):
        return self.weight_decay if self.weight_decay and not self.no_decay(name) else 0.0

    def step(self, grads: Mapping[str, np.ndarray], *, clip: float | None = None, scale: float = 1.0) -> None:
        """Update every parameter from ``grads`` (same names), one pass each.

        Parameters
        ----------
        grads : mapping of str to ndarray
            One gradient per parameter, of its shape and dtype.
        clip : float, optional
            Element-wise clamp of each gradient to ``[-clip, clip]`` first.
        scale : float
            Then multiply each gradient by this (global-norm clipping; see
            :func:`norm_scale`).
        """
        missing = [name for name in self.params if name not in grads]
        if missing:
            raise KeyError(f"no gradient for parameter {missing[0]!r}")
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be > 0 or None; got {clip}")
        self.t += 1
        for name, p in self.params.items():
            self._update(name, p, grads[name], clip, scale)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"t": np.asarray(self.t), "lr": np.asarray(self.lr)}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        self.lr = float(state["lr"])


class SGD(Optimizer):
    """``v = μ v + g;  p -= lr v`` (plain SGD when momentum μ = 0)."""

    def __init__(self, params, lr, *, momentum=0.0, **kw):
        super().__init__(params, lr, **kw)
        self.momentum = float(momentum)
        self.velocity = {k: dev.zeros_like(v) for k, v in self.params.items()}

    def _update(self, name, p, g, clip, scale):
        sgd_update(
            p, g, self.velocity[name], lr=self.lr, momentum=self.momentum, clip=clip, scale=scale,
            weight_decay=self._decay(name), bounds=self._bounds(name), backend=self.backend,
        )  # fmt: skip

    def state_dict(self):
        return {**super().state_dict(), **{f"velocity/{k}": v for k, v in self.velocity.items()}}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for k in self.velocity:
            dev.assign(self.velocity[k], state[f"velocity/{k}"])


class Adam(Optimizer):
    """Adam (Kingma & Ba): bias-corrected first and second moments."""

    def __init__(self, params, lr=2e-4, *, betas=(0.9, 0.999), eps=1e-8, **kw):
        super().__init__(params, lr, **kw)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = {k: dev.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: dev.zeros_like(v) for k, v in self.params.items()}

    def _update(self, name, p, g, clip, scale):
        adam_update(
            p, g, self.m[name], self.v[name], t=self.t, lr=self.lr, beta1=self.beta1, beta2=self.beta2,
            eps=self.eps, clip=clip, scale=scale, weight_decay=self._decay(name), bounds=self._bounds(name),
            backend=self.backend,
        )  # fmt: skip

    def state_dict(self):
        return {
            **super().state_dict(),
            **{f"m/{k}": v for k, v in self.m.items()},
            **{f"v/{k}": v for k, v in self.v.items()},
        }

    def load_state_dict(self, state):
        super().load_state_dict(state)
        for k in self.m:
            dev.assign(self.m[k], state[f"m/{k}"])
            dev.assign(self.v[k], state[f"v/{k}"])


class StepDecay:
    """The paper's schedule: ``lr = lr0 · factor^(step // every)`` (×0.1 every 20K steps)."""

    def __init__(self, lr0: float, every: int, factor: float = 0.1):
        if every < 1 or not 0 < factor <= 1:
            raise ValueError(f"need every >= 1 and 0 < factor <= 1; got every={every}, factor={factor}")
        self.lr0, self.every, self.factor = float(lr0), int(every), float(factor)

    def lr_at(self, step: int) -> float:
        """Learning rate for ``step`` (0-based count of completed steps)."""
        return self.lr0 * self.factor ** (step // self.every)

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class ReduceOnPlateau:
    """Multiply the learning rate by ``factor`` when a metric has not improved for ``patience`` evaluations.

    Improvement means ``metric < best · (1 - threshold)``.
    """

    def __init__(
        self, lr0: float, factor: float = 0.1, patience: int = 5, threshold: float = 1e-4, min_lr: float = 0.0
    ):
        if not 0 < factor < 1 or patience < 0:
            raise ValueError(
                f"need 0 < factor < 1 and patience >= 0; got factor={factor}, patience={patience}"
            )
        self.lr, self.factor, self.patience = float(lr0), float(factor), int(patience)
        self.threshold, self.min_lr = float(threshold), float(min_lr)
        self.best = float("inf")
        self.bad = 0

    def observe(self, metric: float) -> float:
        """Record one evaluation's metric; return the (possibly reduced) learning rate."""
        if metric < self.best * (1 - self.threshold):
            self.best, self.bad = float(metric), 0
        else:
            self.bad += 1
            if self.bad > self.patience:
                self.lr, self.bad = max(self.lr * self.factor, self.min_lr), 0
        return self.lr

    def state_dict(self) -> dict:
        return {"lr": self.lr, "best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict) -> None:
        self.lr, self.best, self.bad = float(state["lr"]), float(state["best"]), int(state["bad"])
