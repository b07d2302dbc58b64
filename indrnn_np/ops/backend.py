"""Layer 2: the backends (``numpy``, ``cpu``, ``cuda``) and how each is loaded.

The CUDA target is imported only when asked for, and its absence is one
error that says how to get it; nothing falls back to another backend.
"""

from __future__ import annotations

from ..errors import UserError
from ..kernels import reference as _reference

#: The backends ``indrnn_forward`` accepts.
BACKENDS = ("numpy", "cpu", "cuda")


class CudaUnavailableError(UserError, RuntimeError):
    """The ``cuda`` backend was asked for but no CUDA target can run here."""


CUDA_HELP = (
    "To use backend='cuda', install the CUDA target and its toolkit "
    "(pip install 'indrnn-np[cuda]') on a machine with an NVIDIA GPU and driver, "
    "or run the kernels on the CPU in Numba's simulator by setting "
    "NUMBA_ENABLE_CUDASIM=1 before numba is imported (slow: tiny shapes only)."
)


def require_cuda():
    """The CUDA kernel module, or CudaUnavailableError saying how to get one."""
    try:
        from ..kernels import cuda as cuda_kernels
    except ImportError as exc:
        raise CudaUnavailableError(f"the CUDA backend cannot be loaded ({exc}). {CUDA_HELP}") from exc
    reason = cuda_kernels.unavailable_reason()
    if reason:
        raise CudaUnavailableError(f"no CUDA device is usable ({reason}). {CUDA_HELP}")
    return cuda_kernels


def cuda_available() -> bool:
    """True when ``backend="cuda"`` can run here (a GPU, or the simulator)."""
    try:
        require_cuda()
    except CudaUnavailableError:
        return False
    return True


def backend_kernels(backend: str):
    """The kernel module of a backend; imported lazily so numba loads only when used.

    For ``cpu``, :mod:`indrnn_np.threads`' policy is applied first, and while
    Numba's threading layer is not known to be thread-safe the module comes
    wrapped so that its kernels run one call at a time
    (:class:`indrnn_np.threads.OneAtATime`).
    """
    if backend == "numpy":
        return _reference
    if backend == "cpu":
        from .. import threads
        from ..kernels import cpu

        threads.before_numba_kernel()
        return cpu if threads.kernels_threadsafe() else threads.OneAtATime(cpu)
    return require_cuda()
