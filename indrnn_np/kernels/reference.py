"""The NumPy references of every concern, under one name each: the kernel set of ``backend="numpy"``.

The references live with their Numba twins, one folder a concern (:mod:`indrnn_np.kernels`); this
module gathers them, so that ``kernels.reference.recurrence_forward`` is the same function as
``kernels.recurrence.reference.recurrence_forward``, and the op layer picks a backend's kernels as
one module (:func:`indrnn_np.ops.backend.backend_kernels`).
"""

from __future__ import annotations

from .batchnorm.reference import batchnorm_backward, batchnorm_forward, batchnorm_inference, running_update
from .elementwise.reference import add, bias_add, concat_last, reduce_rows, scale_rows, split_last
from .fused.reference import fused_backward, fused_forward
from .losses.reference import softmax_xent, squared_error, sum_into
from .optimizer.reference import adam_update, grad_sumsq, sgd_update
from .padding.reference import gather_steps, mask_steps, reverse_steps, scatter_steps
from .recurrence.reference import activate, activation_derivative, recurrence_backward, recurrence_forward
from .scan.reference import (
    _chunk_bounds,
    apply_map,
    cancellation_limit,
    compose,
    identity_map,
    same_kind,
    scan_backward,
    scan_chunks,
    scan_forward,
    step_map,
)

__all__ = [
    "_chunk_bounds",
    "activate",
    "activation_derivative",
    "adam_update",
    "add",
    "apply_map",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "bias_add",
    "cancellation_limit",
    "compose",
    "concat_last",
    "fused_backward",
    "fused_forward",
    "gather_steps",
    "grad_sumsq",
    "identity_map",
    "mask_steps",
    "recurrence_backward",
    "recurrence_forward",
    "reduce_rows",
    "reverse_steps",
    "running_update",
    "same_kind",
    "scale_rows",
    "scan_backward",
    "scan_chunks",
    "scan_forward",
    "scatter_steps",
    "sgd_update",
    "softmax_xent",
    "split_last",
    "squared_error",
    "step_map",
    "sum_into",
]
