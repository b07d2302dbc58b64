"""The optimizer update, in plain NumPy: the specification of the update kernels.

The twins: :mod:`.cpu` (Numba) and :mod:`.cuda` (Numba CUDA), same names and arguments.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------
# The optimizer update: one pass over each parameter
# --------------------------------------------------------------------------
# The training step's work after backpropagation, written as the fast kernels do it: first one
# read of each gradient for the global norm (to detect inf/NaN and for norm clipping), then one
# pass that clamps the gradient, rescales it, adds weight decay, updates the optimizer's moments
# and the parameter, and projects the parameter into [lo, hi] (u's range; ±inf for the others).
# All arrays are flat (the parameter's ravel), of one dtype; the scalars are of that dtype too.


def grad_sumsq(g, clip):
    """``(Σ g², Σ clamp(g, ±clip)²)`` in float64; ``clip <= 0`` means no clamp (both sums equal).

    Parameters
    ----------
    g : ndarray, (P,)
    clip : float
    """
    g64 = g.astype(np.float64)
    raw = float(np.sum(g64 * g64))
    if clip <= 0:
        return raw, raw
    c = np.clip(g64, -clip, clip)
    return raw, float(np.sum(c * c))


def _effective_grad(p, g, clip, scale, wd):
    # clamp to ±clip (clip > 0), rescale (global-norm clipping), add weight decay
    if clip > 0:
        g = np.clip(g, -clip, clip)
    return g * scale + wd * p


def adam_update(p, g, m, v, clip, scale, wd, lr, beta1, beta2, eps, c1, c2, lo, hi):
    """Adam on one parameter, in place, then the projection ``p = clip(p, lo, hi)``.

    Parameters
    ----------
    p, g, m, v : ndarray, (P,)
        Parameter, gradient, first and second moments (``p``, ``m``, ``v`` updated).
    clip, scale, wd : scalar
        Element-wise clamp (``<= 0``: none), global-norm factor, weight decay (0: none).
    lr, beta1, beta2, eps : scalar
    c1, c2 : scalar
        The bias corrections ``1 - beta1**t`` and ``1 - beta2**t``.
    lo, hi : scalar
        The projection's bounds (``-inf``, ``inf``: none).
    """
    ge = _effective_grad(p, g, clip, scale, wd)
    m *= beta1
    m += (1 - beta1) * ge
    v *= beta2
    v += (1 - beta2) * ge * ge
    p -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
    np.clip(p, lo, hi, out=p)


def sgd_update(p, g, vel, clip, scale, wd, lr, momentum, lo, hi):
    """SGD with momentum on one parameter, in place: ``vel = μ vel + g; p -= lr vel``, then the projection.

    Parameters as :func:`adam_update`; ``vel`` (P,) is the velocity (updated).
    """
    ge = _effective_grad(p, g, clip, scale, wd)
    vel *= momentum
    vel += ge
    p -= lr * vel
    np.clip(p, lo, hi, out=p)
