"""The losses in Numba CUDA: the twins of :mod:`.reference` (same names and arguments)."""

from __future__ import annotations

import math

from numba import cuda

from .._cuda import ONE, ZERO, kahan


@cuda.jit
def squared_error(pred, target, scale, dpred, part):
    # dpred = scale (pred - target); part[thread] = this thread's Σ (pred - target)²
    t = cuda.grid(1)
    s = ZERO
    c = ZERO
    for i in range(t, pred.size, cuda.gridsize(1)):
        d = pred[i] - target[i]
        dpred[i] = scale * d
        s, c = kahan(s, c, d * d)
    if t < part.size:
        part[t] = s


@cuda.jit
def softmax_xent(logits, labels, scale, dlogits, loss_rows):
    # one thread per row: log-sum-exp shifted by the row's max; dlogits = scale (softmax - onehot)
    R, C = logits.shape
    for r in range(cuda.grid(1), R, cuda.gridsize(1)):
        m = logits[r, 0]
        for k in range(1, C):
            m = max(m, logits[r, k])
        z = ZERO
        for k in range(C):
            z += math.exp(logits[r, k] - m)
        label = labels[r]
        loss_rows[r] = math.log(z) - (logits[r, label] - m)
        for k in range(C):
            p = math.exp(logits[r, k] - m) / z
            dlogits[r, k] = scale * (p - ONE if k == label else p)


@cuda.jit
def sum_into(part, scale, out):
    # out[0] = scale Σ part, one thread, in order (deterministic)
    if cuda.grid(1) == 0:
        s = ZERO
        c = ZERO
        for i in range(part.size):
            s, c = kahan(s, c, part[i])
        out[0] = s * scale
