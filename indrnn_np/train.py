"""Layer 4: training steps and (in later issues) the training loop."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .dynamics import clip_grad_elementwise, clip_grad_norm, global_norm
from .ops import mse_backward, mse_forward


class StepResult(NamedTuple):
    loss: float
    grad_norm: float  # global gradient norm before clipping
    finite: bool  # loss and every gradient finite


def mse_train_step(model, opt, x, y, *, clip_value=None, clip_norm=None, update=True) -> StepResult:
    """One step: forward, MSE loss, backward, optional clipping, optimizer update.

    Parameters
    ----------
    model : Sequential
    opt : Optimizer
        Owns ``model.params``; projects u after its update.
    x : ndarray, (T, B, M)
    y : ndarray, (B, outputs)
    clip_value : float, optional
        Element-wise clamp of every gradient (the official code's ±10).
    clip_norm : float, optional
        Rescale the whole gradient to at most this global norm.
    update : bool
        False computes the loss and gradient norm without changing the model.

    Returns
    -------
    StepResult
        No update is made when the loss or a gradient is not finite.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        pred, caches = model.forward(x, train=True)
        loss, lcache = mse_forward(pred, y)
        _, grads = model.backward(mse_backward(1.0, lcache), caches)
    norm = global_norm(grads)
    finite = bool(np.isfinite(loss) and np.isfinite(norm))
    if update and finite:
        if clip_value is not None:
            grads = clip_grad_elementwise(grads, clip_value)
        if clip_norm is not None:
            grads, _ = clip_grad_norm(grads, clip_norm)
        opt.step(grads)
    return StepResult(float(loss), norm, finite)
