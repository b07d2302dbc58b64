"""indrnn-np: the Independently Recurrent Neural Network in NumPy and Numba.

``h_t = σ(W x_t + u ⊙ h_{t-1} + b)`` (Li et al., CVPR 2018), with the forward
pass and backpropagation through time written out explicitly: a plain NumPy
reference, Numba CPU kernels and Numba CUDA kernels, checked against each other
and against finite differences.

Axis glossary: T time steps, B batch, M input features, N hidden units.
Arrays are time-major: x ``(T, B, M)``, h ``(T, B, N)``.

The package is laid out in layers, each importing only the ones below it:
``kernels`` → ``ops`` → ``nn`` → ``train`` and ``tasks`` → ``experiments``,
``bench`` → ``cli``. The names below are loaded on first use, so importing
the package is instant (and ``python -m indrnn_np`` can be interrupted
cleanly while NumPy and Numba load).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "IndRNNClassifier": "estimators",
    "IndRNNRegressor": "estimators",
    "MemoryTooLarge": "train.memory",
    "SequenceScaler": "preprocessing",
    "check_gradients": "gradcheck",
    "numerical_gradient": "gradcheck",
    "rel_error": "gradcheck",
    **{
        name: "ops"
        for name in (
            "BACKENDS",
            "CudaUnavailableError",
            "IndRNNCache",
            "IndRNNGrads",
            "IndRNNStepCache",
            "IndRNNStepGrads",
            "cuda_available",
            "final_states",
            "indrnn_backward",
            "indrnn_forward",
            "indrnn_step_backward",
            "indrnn_step_forward",
        )
    },
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
