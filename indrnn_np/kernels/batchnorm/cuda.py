"""Batch norm in Numba CUDA: the twins of :mod:`.reference` (same names and arguments).

One thread per (group, neuron) column, walking its rows; sums over many rows are compensated (Kahan)
sums in the array's dtype: a float32 kernel stays float32 and still sums 32,000 rows to about
float32's precision, in a fixed order (reproducible run to run).
"""

from __future__ import annotations

import math

from numba import cuda

from .._cuda import ONE, ZERO, kahan


@cuda.jit
def batchnorm_forward(x, gamma, beta, eps, y, mean, var):
    # one thread per (group, neuron) column, walking its R rows: consecutive threads read
    # consecutive neurons (coalesced)
    G, R, N = x.shape
    count = x.dtype.type(R)
    for i in range(cuda.grid(1), G * N, cuda.gridsize(1)):
        g = i // N
        n = i % N
        s = ZERO
        c = ZERO
        for r in range(R):
            s, c = kahan(s, c, x[g, r, n])
        mu = s / count
        s = ZERO
        c = ZERO
        for r in range(R):
            d = x[g, r, n] - mu
            s, c = kahan(s, c, d * d)
        v = s / count
        mean[g, n] = mu
        var[g, n] = v
        scale = gamma[n] / math.sqrt(v + eps)
        for r in range(R):
            y[g, r, n] = (x[g, r, n] - mu) * scale + beta[n]


@cuda.jit
def batchnorm_backward(dy, x, mean, var, gamma, eps, dx, dgamma_part, dbeta_part):
    G, R, N = x.shape
    count = x.dtype.type(R)
    for i in range(cuda.grid(1), G * N, cuda.gridsize(1)):
        g = i // N
        n = i % N
        mu = mean[g, n]
        inv = ONE / math.sqrt(var[g, n] + eps)
        sb = ZERO
        cb = ZERO
        sg = ZERO
        cg = ZERO
        for r in range(R):
            d = dy[g, r, n]
            sb, cb = kahan(sb, cb, d)
            sg, cg = kahan(sg, cg, d * ((x[g, r, n] - mu) * inv))
        dbeta_part[g, n] = sb
        dgamma_part[g, n] = sg
        # ∂J/∂x = a ∂J/∂y + c (x - μ) + d, a = γ/σ, c = -a Σ(∂J/∂y x̂)/R / σ, d = -a Σ ∂J/∂y / R
        a = gamma[n] * inv
        cc = -a * (sg / count) * inv
        dd = -a * (sb / count)
        for r in range(R):
            dx[g, r, n] = a * dy[g, r, n] + cc * (x[g, r, n] - mu) + dd


@cuda.jit
def batchnorm_inference(x, gamma, beta, mean, var, eps, y):
    # group g uses statistics row min(g, S - 1): frame-wise statistics past T_max reuse the last
    G, R, N = x.shape
    S = mean.shape[0]
    for i in range(cuda.grid(1), G * R * N, cuda.gridsize(1)):
        g = i // (R * N)
        r = (i // N) % R
        n = i % N
        s = min(g, S - 1)
        y[g, r, n] = gamma[n] * (x[g, r, n] - mean[s, n]) / math.sqrt(var[s, n] + eps) + beta[n]


@cuda.jit
def running_update(rm, rv, mean, var, momentum, unbias):
    for i in range(cuda.grid(1), rm.size, cuda.gridsize(1)):
        rm[i] = (ONE - momentum) * rm[i] + momentum * mean[i]
        rv[i] = (ONE - momentum) * rv[i] + momentum * (var[i] * unbias)
