"""Layer 4: one training step: forward, the task's loss, backward, clipping, the optimizer's update.

The loop (:mod:`indrnn_np.train.loop`) calls :func:`train_step` once a step; everything around it
(the batch, evaluation, checkpoints, Ctrl-C, progress) is the loop's and its callbacks' business.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..nn.optim import device_step_stats, grad_norms, norm_scale
from ..ops import mse_backward, mse_forward
from ..ops.backend import resolve
from ..timing import section


class StepResult(NamedTuple):
    """What a step gives back: its loss, the global gradient norm before clipping, and whether both
    were finite (when not, no update was made)."""

    loss: float
    grad_norm: float  # global gradient norm before clipping
    finite: bool  # loss and every gradient finite


def train_step(
    model,
    opt,
    x,
    y,
    *,
    lengths=None,
    loss_forward=mse_forward,
    loss_backward=mse_backward,
    clip_value=None,
    clip_norm=None,
    update=True,
) -> StepResult:
    """One step: forward, loss, backward, optional clipping, optimizer update.

    Parameters
    ----------
    model : Sequential
    opt : Optimizer
        Owns ``model.params``; clips, updates and projects u in one pass over each parameter.
    x : ndarray, (T, B, M)
    y : ndarray
        Targets as ``loss_forward`` takes them.
    lengths : ndarray of int, (B,), optional
        Each sequence's valid steps; given, it is passed on as ``lengths=`` to
        ``model.forward`` and ``loss_forward`` (None: neither is given it).
    loss_forward, loss_backward : callables
        A loss pair, ``(loss, cache) = loss_forward(pred, y)``,
        ``dpred = loss_backward(1.0, cache)``.
    clip_value : float, optional
        Element-wise clamp of every parameter gradient
        (:func:`indrnn_np.nn.optim.clip_grad_elementwise`).
    clip_norm : float, optional
        Then rescale the whole (clamped) gradient to at most this global norm.
    update : bool
        False computes the loss and gradient norm without changing the model.

    Returns
    -------
    StepResult
        No update is made when the loss or a gradient is not finite.

    Notes
    -----
    The model's backend (:attr:`indrnn_np.nn.Sequential.backend`) decides
    where the step runs. A model on the GPU takes the whole step there: x is
    copied in (and y by the loss), and the one copy back to the host is the loss with the gradients' sums of squares
    (:func:`indrnn_np.nn.optim.device_step_stats`), which decide the clipping
    factor and whether to update.
    """
    backend = getattr(model, "backend", "cpu")  # the model's, decided where it was built
    kw = {} if lengths is None else {"lengths": lengths}
    with np.errstate(over="ignore", invalid="ignore"):
        pred, caches = model.forward(x, train=True, **kw)  # on the GPU, its forward copies x in
        loss, lcache = loss_forward(pred, y, **kw)
        _, grads = model.backward(loss_backward(1.0, lcache), caches, input_grad=False)
    with section("optimizer"):
        # one read of each gradient for both norms, then one pass over each parameter
        if resolve(backend).on_device:  # the loss and the norms in one copy from the device
            loss, norm, clipped_norm = device_step_stats(loss, grads, clip_value)
        else:
            norm, clipped_norm = grad_norms(grads, clip_value, backend)
        finite = bool(np.isfinite(loss) and np.isfinite(norm))
        if update and finite:
            scale = 1.0 if clip_norm is None else norm_scale(clipped_norm, clip_norm)
            opt.step(grads, clip=clip_value, scale=scale)
    return StepResult(float(loss), norm, finite)


def mse_train_step(model, opt, x, y, **kw) -> StepResult:
    """:func:`train_step` with the MSE loss."""
    return train_step(model, opt, x, y, loss_forward=mse_forward, loss_backward=mse_backward, **kw)
