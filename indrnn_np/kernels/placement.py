"""Where an array lives: the one test of it (Numba CUDA device array or not), for the backend object
(:mod:`indrnn_np.ops.backend`) and the argument checks; imports neither numba nor CUDA."""

from __future__ import annotations

import numpy as np


def is_device_array(a) -> bool:
    """True for a Numba CUDA device array, real or simulated (checked without importing numba.cuda)."""
    return not isinstance(a, np.ndarray) and hasattr(a, "copy_to_host") and hasattr(a, "dtype")
