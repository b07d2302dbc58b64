"""The losses, in plain NumPy: the specification of the CUDA loss kernels.

The host ops compute these with NumPy expressions of their own; these functions have the CUDA kernels'
signatures (outputs written in place), so that each kernel of :mod:`.cuda` is tested against its twin
here (same name, same arguments). Sums are in float64.
"""

from __future__ import annotations

import numpy as np


def squared_error(pred, target, scale, dpred, part):
    """``dpred = scale (pred - target)`` and ``Σ part = Σ (pred - target)²``; flat arrays.

    The CUDA twin leaves one partial sum per thread in ``part``; this one writes the whole
    sum into ``part[0]`` and zeros after it.
    """
    d = pred.astype(np.float64) - target
    dpred[...] = scale * d
    part[...] = 0
    part[0] = np.sum(d * d)


def softmax_xent(logits, labels, scale, dlogits, loss_rows):
    """Per row of logits (R, C) with integer labels (R,): ``loss_rows`` (R,) the cross-entropy in
    nats, and ``dlogits = scale (softmax - onehot)``."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(logits.shape[0])
    loss_rows[...] = -log_p[rows, labels]
    d = np.exp(log_p)
    d[rows, labels] -= 1
    dlogits[...] = scale * d


def sum_into(part, scale, out):
    """``out[0] = scale Σ part``."""
    out[0] = scale * np.sum(part, dtype=np.float64)
