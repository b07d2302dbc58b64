"""Where an array lives: the one test of it (Numba CUDA device array or not), and a device array's
copy to the host, for the backend object (:mod:`indrnn_np.ops.backend`) and the argument checks;
imports neither numba nor CUDA."""

from __future__ import annotations

import numpy as np


def is_device_array(a) -> bool:
    """True for a Numba CUDA device array, real or simulated (checked without importing numba.cuda)."""
    return not isinstance(a, np.ndarray) and hasattr(a, "copy_to_host") and hasattr(a, "dtype")


def to_host(a):
    """A NumPy array of ``a`` (copied from the device); a NumPy array (or None) is returned as it is."""
    return a.copy_to_host() if is_device_array(a) else a
