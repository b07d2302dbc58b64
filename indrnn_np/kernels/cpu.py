"""The Numba CPU kernels of every concern, under one name each: the kernel set of ``backend="cpu"``.

The kernels live with their NumPy references, one folder a concern (:mod:`indrnn_np.kernels`); this
module gathers them under the references' names (the module :func:`indrnn_np.ops.backend.backend_kernels`
returns for ``"cpu"``). How the CPU kernels split the work: :mod:`indrnn_np.kernels.recurrence.cpu`.
"""

from __future__ import annotations

from .batchnorm.cpu import batchnorm_rows_backward, batchnorm_rows_forward
from .fused.cpu import _dot, fused_backward, fused_forward
from .optimizer.cpu import adam_update, grad_sumsq, sgd_update
from .recurrence.cpu import recurrence_backward, recurrence_forward
from .scan.cpu import _scan_layout, scan_backward, scan_forward

__all__ = [
    "_dot",
    "_scan_layout",
    "adam_update",
    "batchnorm_rows_backward",
    "batchnorm_rows_forward",
    "fused_backward",
    "fused_forward",
    "grad_sumsq",
    "recurrence_backward",
    "recurrence_forward",
    "scan_backward",
    "scan_forward",
    "sgd_update",
]
