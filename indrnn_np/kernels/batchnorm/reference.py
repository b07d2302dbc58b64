"""Batch norm, in plain NumPy: the specification of the CUDA batch-norm kernels.

The host ops compute these with NumPy expressions of their own; these functions have the CUDA kernels'
signatures (outputs written in place), so that each kernel of :mod:`.cuda` is tested against its twin
here (same name, same arguments). Sums are in float64.
"""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x, gamma, beta, eps, y, mean, var):
    """Training-mode batch norm of each group's rows.

    Parameters
    ----------
    x : ndarray, (G, R, N)
        G groups of R rows; statistics per (group, neuron) over the rows. BN over time is
        G = 1, R = T·B; frame-wise BN is G = T, R = B.
    gamma, beta : ndarray, (N,)
    eps : scalar
    y : ndarray, (G, R, N), written: ``γ (x - μ) / √(σ² + ε) + β``
    mean, var : ndarray, (G, N), written: μ and the biased variance σ².
    """
    x64 = x.astype(np.float64)
    mean[...] = x64.mean(axis=1)
    var[...] = ((x64 - x64.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
    mu, v = x64.mean(axis=1, keepdims=True), var.astype(np.float64)[:, None, :]
    y[...] = gamma * (x64 - mu) / np.sqrt(v + eps) + beta


def batchnorm_backward(dy, x, mean, var, gamma, eps, dx, dgamma_part, dbeta_part):
    """Backward of :func:`batchnorm_forward`: dx (G, R, N) and the per-group sums (G, N) of
    ``∂J/∂y x̂`` and ``∂J/∂y`` (summed over the groups for ∂J/∂γ and ∂J/∂β)."""
    R = x.shape[1]
    mu = mean.astype(np.float64)[:, None, :]
    inv = 1.0 / np.sqrt(var.astype(np.float64)[:, None, :] + eps)
    xhat = (x - mu) * inv
    dy64 = dy.astype(np.float64)
    dbeta_part[...] = dy64.sum(axis=1)
    dgamma_part[...] = (dy64 * xhat).sum(axis=1)
    g = dy64 * gamma
    dx[...] = inv * (g - g.sum(axis=1, keepdims=True) / R - xhat * (g * xhat).sum(axis=1, keepdims=True) / R)


def batchnorm_inference(x, gamma, beta, mean, var, eps, y):
    """Inference-mode batch norm: group g of x (G, R, N) uses row ``min(g, S - 1)`` of the
    statistics mean, var (S, N)."""
    idx = np.minimum(np.arange(x.shape[0]), mean.shape[0] - 1)
    y[...] = gamma * (x - mean[idx][:, None, :]) / np.sqrt(var[idx][:, None, :] + eps) + beta


def running_update(rm, rv, mean, var, momentum, unbias):
    """Running averages, in place: ``rm = (1 - m) rm + m mean``, ``rv = (1 - m) rv + m var unbias``;
    flat arrays (P,)."""
    rm[...] = (1 - momentum) * rm + momentum * mean
    rv[...] = (1 - momentum) * rv + momentum * (var * unbias)
