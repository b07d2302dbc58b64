"""Argument checks shared by the functional ops.

Every public op validates its arguments here before any kernel runs, so a bad
call fails with a message that names the argument and says what was expected
and what was given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .kernels.placement import to_host

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_int(name: str, value, *, low: int = 1) -> int:
    """Return ``value`` as an int, checking that it is an integer ``>= low``.

    Raises
    ------
    TypeError
        Not an integer: None, a float (even 2.0), a bool, a string.
    ValueError
        Below ``low``.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer >= {low}; got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value}")
    return int(value)


# What an argument holds, said when its number of axes is wrong: a 2-D u is the commonest mistake of a
# reader who comes from conventional RNNs, whose recurrent weights are an (N, N) matrix.
WHAT_IT_HOLDS = {
    "u": (
        "u holds one recurrent weight per neuron (each IndRNN neuron recurs only on its own past: "
        "u ⊙ h_{t-1}), not a matrix; an (N, N) recurrent matrix is a conventional RNN's "
        "(indrnn_np.ops.rnn_forward)"
    ),
}


def check_array(name: str, a, ndim: int | None, *, backend=None):
    """Check that ``a`` is a float32/float64 array of ``ndim`` dimensions (any when None), of a kind
    ``backend``'s ops take (as :func:`check_arrays`).

    Raises
    ------
    TypeError
        Not an array, or not float32/float64.
    ValueError
        Wrong number of dimensions or a zero-sized axis.
    """
    check_arrays({name: (a, ndim)}, backend=backend)
    return a


def check_arrays(arrays: dict, *, backend=None, dims: dict | None = None, dtype=None):
    """Check several arrays at once, each against the axes it must have; return ``(dims, dtype)``.

    One call for all of an op's array arguments (a debugger steps over it in one step), with the
    messages of :func:`check_array`, :func:`check_shape` and :func:`check_same_dtype`.

    Parameters
    ----------
    arrays : dict
        ``{name: (a, axes)}``, in the order to check them; an ``a`` of None is skipped. ``axes``
        is a number of axes, None (any number), or names them, e.g. ``"(T, B, M)"`` (text after the parentheses, such as
        ``"(B, T, N) (batch_first)"``, only goes into the message): ``a`` must be a float32/float64
        array of a kind ``backend``'s ops take with that many axes, none empty, and an axis name
        has one size wherever it appears (the first array that has it sets it, unless ``dims`` does).
    backend : Backend, optional
        The backend whose ops take the arrays (:meth:`indrnn_np.ops.backend.Backend.accepts`: a Numba
        device array too for the CUDA backend); None: NumPy arrays only.
    dims : dict, optional
        Sizes known beforehand, ``{"T": 5, ...}``.
    dtype : tuple (np.dtype, str), optional
        ``(dtype, what)``: every array must have it (the message says "the same dtype as what");
        by default, the first array's.

    Returns
    -------
    dims : dict
        Every axis name's size.
    dtype : np.dtype

    Raises
    ------
    TypeError
        Not an array, not float32/float64, or dtypes that differ.
    ValueError
        The wrong number of axes, an empty axis, or a size that differs from the one set before.
    """
    dims = dict(dims or {})
    source = {d: None for d in dims}  # which array set each axis name: (name, axis)
    for name, (a, axes) in arrays.items():
        if a is None:
            continue
        # every backend takes a NumPy array: only other arrays ask the backend (a call fewer to step over)
        if not isinstance(a, np.ndarray) and (backend is None or not backend.accepts(a)):
            kind = "a NumPy array" if backend is None else backend.takes
            raise TypeError(f"{name} must be {kind}; got {type(a).__name__}")
        if np.dtype(a.dtype) not in FLOAT_DTYPES:
            raise TypeError(f"{name} must have dtype float32 or float64; got {a.dtype}")
        shape = tuple(a.shape)
        if isinstance(axes, str):
            letters = re.match(r"\(([^)]*)\)", axes).group(1).replace(" ", "").rstrip(",").split(",")
        else:  # a number of axes (no names), or None: any
            letters = [None] * (a.ndim if axes is None else axes)
        if a.ndim != len(letters):
            if name in WHAT_IT_HOLDS and isinstance(axes, str):
                known = all(d in dims for d in letters)
                sizes = f" = {tuple(dims[d] for d in letters)}" if known else ""
                raise ValueError(
                    f"{name} must have shape {axes}{sizes}: {WHAT_IT_HOLDS[name]}; got shape {shape}"
                )
            raise ValueError(f"{name} must have {len(letters)} dimensions; got shape {shape}")
        if 0 in shape:
            raise ValueError(f"{name} must not have an empty axis; got shape {shape}")
        for i, (d, size) in enumerate(zip(letters, shape, strict=True)):
            if d is None:
                continue
            if d in dims and dims[d] != size:
                if all(e in dims for e in letters):
                    expected = tuple(dims[e] for e in letters)
                    raise _shape_error(name, axes, expected, shape)
                src, j = source[d]
                raise ValueError(
                    f"{name} must have shape {axes} with {d} = {src}.shape[{j}] = {dims[d]}; got {shape}"
                )
            if d not in dims:
                dims[d], source[d] = size, (name, i)
    present = {name: a for name, (a, _) in arrays.items() if a is not None}
    ref, what = dtype if dtype is not None else (next(iter(present.values())).dtype, next(iter(present)))
    ref = np.dtype(ref)
    for name, a in present.items():
        if np.dtype(a.dtype) != ref:
            raise _dtype_error(name, what, ref, a.dtype)
    return dims, ref


def _shape_error(name, axes, expected, shape) -> ValueError:
    return ValueError(f"{name} must have shape {axes} = {tuple(expected)}; got {tuple(shape)}")


def _dtype_error(name, what, dtype, got) -> TypeError:
    return TypeError(
        f"{name} must have the same dtype as {what} ({dtype}); got {got}. "
        "Convert explicitly: mixed precision is never upcast silently."
    )


def check_shape(name: str, a, expected: tuple[int, ...], axes: str) -> None:
    """Raise ValueError unless ``a.shape == expected``; ``axes`` names the axes, e.g. '(T, B, M)'."""
    if tuple(a.shape) != tuple(expected):
        raise _shape_error(name, axes, expected, a.shape)


def check_same_dtype(reference_name: str, dtype, arrays: dict) -> np.dtype:
    """Raise TypeError unless every array in ``arrays`` has ``dtype``."""
    dtype = np.dtype(dtype)
    for name, a in arrays.items():
        if a is not None and np.dtype(a.dtype) != dtype:
            raise _dtype_error(name, reference_name, dtype, a.dtype)
    return dtype


def check_lengths(lengths, T: int, B: int, name: str = "lengths") -> np.ndarray:
    """Validate sequence lengths for a padded (T, B, ...) batch; return them as an int64 array (B,).

    ``lengths[b]`` is how many leading steps of sequence b are real (1 <= lengths[b] <= T); the
    steps after it are padding.

    Raises
    ------
    TypeError
        Not integers (floats, booleans, objects).
    ValueError
        Not of shape (B,), or a length outside [1, T].
    """
    arr = np.asarray(to_host(lengths))  # lengths on the device are copied to the host
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of shape (B,) = ({B},); got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"{name} must have shape (B,) = ({B},); got {arr.shape}")
    if B and (arr.min() < 1 or arr.max() > T):
        bad = int(np.flatnonzero((arr < 1) | (arr > T))[0])
        raise ValueError(
            f"{name} must be in [1, T] = [1, {T}]; got {name}[{bad}] = {int(arr[bad])} "
            f"(values from {int(arr.min())} to {int(arr.max())})"
        )
    return arr.astype(np.int64, copy=False)
