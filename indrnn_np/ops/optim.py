"""Layer 2: the optimizer's per-parameter update as checked calls into the kernels.

One read of each gradient gives the global norm (:func:`grad_sumsq`); one
pass over each parameter then clamps the gradient, rescales it, adds weight
decay, updates the optimizer state and the parameter, and projects the
parameter into ``[lo, hi]`` (:func:`adam_update`, :func:`sgd_update`). The
``numpy`` backend runs the reference (:mod:`indrnn_np.kernels.reference`),
``cpu`` the Numba twins. Parameters that are Numba CUDA device arrays (a
model moved there by :func:`indrnn_np.nn.to_device`) are updated on the
device by the CUDA twins, whatever the backend's name; host parameters with
the ``cuda`` backend are updated by the ``cpu`` kernels.

Every scalar is cast to the parameter's dtype before the kernel runs, so a
float32 parameter is updated in float32 arithmetic, as NumPy's own
``float32_array * python_float`` does.
"""

from __future__ import annotations

import math

from .backend import BACKENDS, CUDA, backend_of, resolve

#: Backends of the update (the recurrence's backend names; ``cuda`` updates host parameters).
UPDATE_BACKENDS = BACKENDS


def update_kernels(backend):
    """The kernel module that updates host parameters for a backend (:attr:`Backend.update_kernels`)."""
    return resolve(backend).update_kernels


def _kernels_for(p, backend):
    """The CUDA kernels for a device parameter; otherwise the backend's kernels for host parameters."""
    return resolve(backend).kernels_for_update(p)


def _flat_param(name, p):
    """p flattened, checked where it lives (:meth:`Backend.flat`)."""
    return backend_of(p).flat(name, p)


def _flat_like(name, a, p, *, state=False):
    """a (a gradient, or with ``state`` an optimizer state updated in place) flattened, checked against
    the parameter p where p lives (:meth:`Backend.flat_like`)."""
    return backend_of(p).flat_like(name, a, p, state=state)


def _bounds(bounds, dtype):
    lo, hi = (-math.inf, math.inf) if bounds is None else bounds
    if not lo <= hi:
        raise ValueError(f"bounds must be (lo, hi) with lo <= hi; got {bounds}")
    return dtype.type(lo), dtype.type(hi)


def grad_sumsq(g, clip=None, backend="cpu") -> tuple[float, float]:
    """Sums of squares of one gradient, before and after the element-wise clamp, in float64.

    Parameters
    ----------
    g : ndarray, any shape, float32 or float64
    clip : float, optional
        The clamp ``[-clip, clip]``; None: no clamp (both sums equal).
    backend : str

    Returns
    -------
    (float, float)
        ``Σ g²`` and ``Σ clamp(g)²``; inf or NaN when ``g`` holds one.
    """
    flat = backend_of(g).flat_gradient("g", g)
    raw, clipped = _kernels_for(g, backend).grad_sumsq(flat, float(clip or 0.0))
    return float(raw), float(clipped)


def grad_sumsq_into(g, clip, out) -> None:
    """:func:`grad_sumsq` of a device gradient, written into the device array ``out`` (2,) of g's dtype
    (no copy to the host: the training step copies every parameter's pair and the loss at once)."""
    if not backend_of(g).on_device or not backend_of(out).on_device or tuple(out.shape) != (2,):
        raise TypeError("grad_sumsq_into takes a device gradient and a (2,) device array out")
    CUDA.kernels.grad_sumsq_into(_flat_param("g", g), float(clip or 0.0), out)


def adam_update(
    p,
    g,
    m,
    v,
    *,
    t,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    clip=None,
    scale=1.0,
    weight_decay=0.0,
    bounds=None,
    backend="cpu",
) -> None:
    """One Adam step on one parameter, in place, with clamp, rescale, weight decay and projection.

    ``g ← clamp(g, ±clip) · scale + weight_decay · p``; Adam's moments and the
    bias-corrected step with step count ``t``; then ``p ← clip(p, lo, hi)``.

    Parameters
    ----------
    p : ndarray, any shape, C-contiguous
        The parameter (updated).
    g : ndarray, p's shape and dtype
    m, v : ndarray, p's shape and dtype, C-contiguous
        First and second moments (updated).
    t : int
        The step count, from 1.
    lr, beta1, beta2, eps : float
    clip : float, optional
    scale : float
        Global-norm clipping's factor (1: none).
    weight_decay : float
    bounds : (float, float), optional
        The projection (u's range); None: none.
    backend : str
    """
    pf = _flat_param("p", p)
    gf, mf, vf = _flat_like("g", g, p), _flat_like("m", m, p, state=True), _flat_like("v", v, p, state=True)
    if t < 1:
        raise ValueError(f"t must be >= 1; got {t}")
    f = p.dtype.type
    lo, hi = _bounds(bounds, p.dtype)
    _kernels_for(p, backend).adam_update(
        pf, gf, mf, vf, f(clip or 0.0), f(scale), f(weight_decay), f(lr), f(beta1), f(beta2), f(eps),
        f(1 - beta1**t), f(1 - beta2**t), lo, hi,
    )  # fmt: skip


def sgd_update(
    p, g, vel, *, lr, momentum=0.0, clip=None, scale=1.0, weight_decay=0.0, bounds=None, backend="cpu"
) -> None:
    """One SGD step with momentum on one parameter, in place; arguments as :func:`adam_update`.

    ``vel ← momentum · vel + g``; ``p ← p - lr · vel``, then the projection.
    """
    pf = _flat_param("p", p)
    gf, velf = _flat_like("g", g, p), _flat_like("vel", vel, p, state=True)
    f = p.dtype.type
    lo, hi = _bounds(bounds, p.dtype)
    _kernels_for(p, backend).sgd_update(
        pf, gf, velf, f(clip or 0.0), f(scale), f(weight_decay), f(lr), f(momentum), lo, hi
    )
