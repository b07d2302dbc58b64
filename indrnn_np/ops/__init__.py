"""Layer 2: functional forward/backward pairs, choosing a backend.

Every op is a pure function pair in the style of CS231n's ``rnn_layers``:
``forward(...) -> (out, cache)`` and ``backward(dout, cache) -> grads``. The
cache holds exactly what backward needs; nothing is hidden in a layer object.

Axis glossary: T time steps, B batch, M input features, N hidden units.
Arrays are time-major: x ``(T, B, M)``, h ``(T, B, N)``.
"""

from .backend import (
    BACKENDS,
    CUDA_HELP,
    Backend,
    CudaUnavailableError,
    backend_kernels,
    backend_of,
    cuda_available,
    require_cuda,
)
from .backend import resolve as resolve_backend
from .baselines import LSTMGrads, RNNGrads, lstm_backward, lstm_forward, rnn_backward, rnn_forward
from .basic import (
    BatchNormGrads,
    LinearGrads,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    dropout_backward,
    dropout_forward,
    linear_backward,
    linear_forward,
    matmul,
    mse_backward,
    mse_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from .indrnn import (
    IndRNNCache,
    IndRNNGrads,
    IndRNNStepCache,
    IndRNNStepGrads,
    RecurrenceCache,
    RecurrenceGrads,
    indrnn_backward,
    indrnn_forward,
    indrnn_recurrence_backward,
    indrnn_recurrence_forward,
    indrnn_step_backward,
    indrnn_step_forward,
)
from .optim import UPDATE_BACKENDS, adam_update, grad_sumsq, grad_sumsq_into, sgd_update, update_kernels
from .pooling import POOLS, PoolCache, pool_backward, pool_forward
from .sequences import final_states, mask_padding, put_steps, reverse_padded, step_mask, take_steps

__all__ = [
    "POOLS",
    "PoolCache",
    "pool_backward",
    "pool_forward",
    "final_states",
    "mask_padding",
    "put_steps",
    "reverse_padded",
    "step_mask",
    "take_steps",
    "UPDATE_BACKENDS",
    "adam_update",
    "grad_sumsq",
    "grad_sumsq_into",
    "sgd_update",
    "update_kernels",
    "LSTMGrads",
    "lstm_backward",
    "lstm_forward",
    "matmul",
    "BatchNormGrads",
    "RecurrenceCache",
    "RecurrenceGrads",
    "batchnorm_backward",
    "batchnorm_forward",
    "batchnorm_inference",
    "dropout_backward",
    "dropout_forward",
    "indrnn_recurrence_backward",
    "indrnn_recurrence_forward",
    "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward",
    "BACKENDS",
    "Backend",
    "CUDA_HELP",
    "backend_of",
    "resolve_backend",
    "CudaUnavailableError",
    "IndRNNCache",
    "IndRNNGrads",
    "IndRNNStepCache",
    "IndRNNStepGrads",
    "LinearGrads",
    "RNNGrads",
    "backend_kernels",
    "cuda_available",
    "require_cuda",
    "indrnn_backward",
    "indrnn_forward",
    "indrnn_step_backward",
    "indrnn_step_forward",
    "linear_backward",
    "linear_forward",
    "mse_backward",
    "mse_forward",
    "rnn_backward",
    "rnn_forward",
]
