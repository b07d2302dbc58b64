"""indrnn-np: the Independently Recurrent Neural Network in NumPy and Numba.

``h_t = σ(W x_t + u ⊙ h_{t-1} + b)`` (Li et al., CVPR 2018), with the forward
pass and backpropagation through time written out explicitly: a plain NumPy
reference, Numba CPU kernels and Numba CUDA kernels, checked against each other
and against finite differences.

Axis glossary: T time steps, B batch, M input features, N hidden units.
Arrays are time-major: x ``(T, B, M)``, h ``(T, B, N)``.
"""

from . import config  # noqa: F401  (first: sets the OpenMP wait policy before Numba starts threads)
from .gradcheck import check_gradients, numerical_gradient, rel_error
from .ops import (
    BACKENDS,
    CudaUnavailableError,
    IndRNNCache,
    IndRNNGrads,
    IndRNNStepCache,
    IndRNNStepGrads,
    cuda_available,
    indrnn_backward,
    indrnn_forward,
    indrnn_step_backward,
    indrnn_step_forward,
)

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "CudaUnavailableError",
    "IndRNNCache",
    "IndRNNGrads",
    "IndRNNStepCache",
    "IndRNNStepGrads",
    "check_gradients",
    "cuda_available",
    "indrnn_backward",
    "indrnn_forward",
    "indrnn_step_backward",
    "indrnn_step_forward",
    "numerical_gradient",
    "rel_error",
]
