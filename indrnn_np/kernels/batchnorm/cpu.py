"""Batch norm over rows in Numba for the CPU (the NumPy reference is the general expression of
:func:`indrnn_np.ops.batchnorm_forward` with ``backend="numpy"``)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config
from .._jit import JIT

# Batch norm over rows: one mean and variance per feature over every row of a
# (R, N) array (BN over time views a (T, B, N) array as (T*B, N)). Their NumPy
# reference is the general expression in indrnn_np.ops.batchnorm_forward and
# batchnorm_backward (backend="numpy"), which the tests compare them with.
# The rows are cut into fixed blocks of config.CPU_BN_ROWS (not one block per
# thread), so the sums, and the results to the last bit, do not depend on how
# many threads run them. Each block sums in float64; the blocks' partial sums
# are then added in order.


@njit(**JIT)
def _row_sums(x, mean, inv_std, dy, mode):
    """Per-block float64 sums over rows, (n_blocks, 2, N).

    mode 0: Σ x;  mode 1: Σ (x - μ)²;  mode 2: Σ dy and Σ dy x̂.
    """
    R, N = x.shape
    rows = config.CPU_BN_ROWS
    n_blocks = (R + rows - 1) // rows
    part = np.zeros((n_blocks, 2, N))
    for k in prange(n_blocks):
        s0, s1 = part[k, 0], part[k, 1]
        for r in range(k * rows, min((k + 1) * rows, R)):
            x_r = x[r]
            if mode == 0:
                for j in range(N):
                    s0[j] += x_r[j]
            elif mode == 1:
                for j in range(N):
                    c = x_r[j] - mean[j]
                    s0[j] += c * c
            else:
                dy_r = dy[r]
                for j in range(N):
                    g = np.float64(dy_r[j])
                    s0[j] += g
                    s1[j] += g * ((x_r[j] - mean[j]) * inv_std[j])
    return part


@njit(**JIT)
def batchnorm_rows_forward(x, gamma, beta, eps, y, mean, var):
    """Training-mode batch norm of the rows of ``x``, written into ``y``.

    Parameters
    ----------
    x : ndarray, (R, N)
    gamma, beta : ndarray, (N,)
    eps : float
    y : ndarray, (R, N), written: ``γ (x - μ) / √(σ² + ε) + β``
    mean, var : ndarray, (N,) float64, written: μ and the biased batch variance σ².
    """
    R, N = x.shape
    mean[:] = _row_sums(x, mean, var, x, 0)[:, 0].sum(axis=0) / R
    var[:] = _row_sums(x, mean, var, x, 1)[:, 0].sum(axis=0) / R
    inv_std = 1.0 / np.sqrt(var + eps)
    # in x's dtype; x - μ first, so a large mean does not cancel against a large shift
    mu, scale = mean.astype(x.dtype), (gamma * inv_std).astype(x.dtype)
    for r in prange(R):
        x_r, y_r = x[r], y[r]
        for j in range(N):
            y_r[j] = (x_r[j] - mu[j]) * scale[j] + beta[j]


@njit(**JIT)
def batchnorm_rows_backward(dy, x, mean, inv_std, gamma, dx, dgamma, dbeta):
    """Backward of :func:`batchnorm_rows_forward`, written into ``dx``, ``dgamma``, ``dbeta``.

    With x̂ = (x - μ) / σ and R rows:
    ``∂J/∂x = γ / σ · (∂J/∂y - Σ ∂J/∂y / R - x̂ · Σ(∂J/∂y x̂) / R)``,
    ``∂J/∂γ = Σ ∂J/∂y x̂``, ``∂J/∂β = Σ ∂J/∂y`` (sums over the rows).

    Parameters
    ----------
    dy, x : ndarray, (R, N)
    mean, inv_std : ndarray, (N,) float64, from the forward pass
    gamma : ndarray, (N,)
    dx : ndarray, (R, N), written
    dgamma, dbeta : ndarray, (N,) float64, written
    """
    R, N = x.shape
    part = _row_sums(x, mean, inv_std, dy, 2)
    dbeta[:] = part[:, 0].sum(axis=0)
    dgamma[:] = part[:, 1].sum(axis=0)
    # ∂J/∂x = a ∂J/∂y + c (x - μ) + d, with a = γ/σ, c = -a Σ(∂J/∂y x̂)/R / σ, d = -a Σ ∂J/∂y / R
    a = gamma * inv_std
    c = -a * (dgamma / R) * inv_std
    d = -a * (dbeta / R)
    mu, a_t, c_t, d_t = mean.astype(x.dtype), a.astype(dx.dtype), c.astype(dx.dtype), d.astype(dx.dtype)
    for r in prange(R):
        dy_r, x_r, dx_r = dy[r], x[r], dx[r]
        for j in range(N):
            dx_r[j] = a_t[j] * dy_r[j] + c_t[j] * (x_r[j] - mu[j]) + d_t[j]
