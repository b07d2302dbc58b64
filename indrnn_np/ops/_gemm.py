"""The one place the CPU ops multiply matrices.

Every GEMM of the NumPy/Numba ops goes through :func:`matmul`, so a profiler
(``python -m indrnn_np bench train``) can time all of them by wrapping one
function.
"""

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (NumPy hands it to BLAS)."""
    return a @ b
