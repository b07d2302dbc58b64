"""Layer 4: what users give as sequences, read or refused: lists, padded arrays, NaN padding, weights.

:func:`pad_sequences` turns every accepted form of X into a padded samples-first array and its
lengths; :func:`feature_scale_warning` says when features lie on far-apart scales;
:func:`check_sample_weight` checks a weight per sequence. Every refusal is an
:class:`ArrayDataError` naming the array as the caller named it.
"""

from __future__ import annotations

import sys

import numpy as np

from .data import DataError


class ArrayDataError(DataError):
    """User arrays (or an ``.npz`` file's) of the wrong shape, type or values; the message names the array."""


# --------------------------------------------------------------------------
# Checking and padding the user's arrays
# --------------------------------------------------------------------------


#: What the estimators and ``train arrays`` take, for the messages that refuse anything else.
TAKES = "X (n, T, M) samples first (or (n, T) for one feature), or a list of (T_i, M) arrays"


def pad_sequences(X, lengths=None, *, name: str = "X", lengths_name: str = "lengths", dtype=np.float32):
    """Samples-first padded sequences ``(n, T, M)`` and their lengths ``(n,)`` from what a user gives.

    Parameters
    ----------
    X : array-like (n, T, M) or (n, T), or a sequence of (T_i, M) or (T_i,) arrays
        A list of sequences of different lengths (also an object array or a pandas Series whose
        items are the sequences) is padded with zeros to the longest; a 2-D array is n sequences of
        one feature. An array without ``lengths`` may be padded with NaN, as tslearn pads: the
        steps after a sequence's last step holding any value are its padding.
    lengths : int array-like (n,), optional
        Real steps of each row of an array X (1 <= lengths[i] <= T); what the padding holds is
        never read. Default: every row is T long, or as its NaN padding says. Not with a list
        (its lengths are the arrays').
    name, lengths_name : str
        The names the errors use.
    dtype : float32 or float64

    Returns
    -------
    x : ndarray, (n, T, M) of ``dtype``, zeros in the padding
    lengths : ndarray, (n,) int64

    Raises
    ------
    ArrayDataError
        Not numbers; a pandas DataFrame, a scipy sparse matrix or an object array that is not a
        list of sequences (the message says how to convert it); an empty set, sequences of
        different feature counts, a NaN or infinite value in a real step (a NaN inside a sequence,
        or a sequence that is all NaN), lengths out of range.
    """
    seqs = _sequence_list(X, name)
    if seqs is not None:
        if lengths is not None:
            raise ArrayDataError(
                f"{lengths_name} is for a padded array {name}; a list of sequences has its own lengths"
            )
        seqs = [_as_float(s, f"{name}[{i}]") for i, s in enumerate(seqs)]
        if not seqs:
            raise ArrayDataError(f"{name} is empty: need at least one sequence")
        seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
        for i, s in enumerate(seqs):
            if s.ndim != 2 or s.shape[0] < 1:
                raise ArrayDataError(
                    f"{name}[{i}] must be a (T_i, M) array of at least one step; got shape {s.shape}"
                )
            if s.shape[1] != seqs[0].shape[1]:
                raise ArrayDataError(
                    f"every sequence of {name} must have the same number of features M; "
                    f"{name}[0] has {seqs[0].shape[1]}, {name}[{i}] has {s.shape[1]}"
                )
        lens = np.array([len(s) for s in seqs], np.int64)
        x = np.zeros((len(seqs), int(lens.max()), seqs[0].shape[1]), dtype)
        for i, s in enumerate(seqs):
            x[i, : len(s)] = s
    else:
        x = _as_float(X, name)
        if x.ndim == 1:
            raise ArrayDataError(
                f"{name} must be (n, T, M) (samples first), (n, T), or a list of (T_i, M) arrays; got a 1-D "
                f"array of shape {x.shape}. Reshape your data: one sequence of {x.shape[0]} steps of one "
                f"feature is {name}.reshape(1, -1); {x.shape[0]} sequences of one step, {name}.reshape(-1, 1)"
            )
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3 or 0 in x.shape:
            raise ArrayDataError(
                f"{name} must be (n, T, M) (samples first), (n, T), or a list of (T_i, M) arrays; "
                f"got shape {x.shape}"
            )
        n, T = x.shape[:2]
        nan_padded = False
        if lengths is None:
            lens = _nan_lengths(x, name)
            nan_padded = lens is not None
            if lens is None:
                lens = np.full(n, T, np.int64)
        else:
            lens = np.asarray(lengths)
            if lens.dtype.kind not in "iu":
                raise ArrayDataError(f"{lengths_name} must be integers; got dtype {lens.dtype}")
            if lens.shape != (n,):
                raise ArrayDataError(f"{lengths_name} must have shape (n,) = ({n},); got {lens.shape}")
            bad = np.flatnonzero((lens < 1) | (lens > T))
            if bad.size:
                raise ArrayDataError(
                    f"{lengths_name} must be in [1, T] = [1, {T}]; got {lengths_name}[{bad[0]}] = {lens[bad[0]]}"
                )
            lens = lens.astype(np.int64)
        real = np.arange(T)[None, :] < lens[:, None]
        bad = ~np.isfinite(x) & real[..., None]  # here, to tell a NaN inside a NaN-padded sequence
        if bad.any():
            i, t, m = (int(v[0]) for v in np.nonzero(bad))
            where = f"{name}[{i}, {t}, {m}]"
            if nan_padded and np.isnan(x[i, t, m]):
                raise ArrayDataError(
                    f"{name} has a NaN or infinite value in a real step: {where}, a NaN inside a sequence "
                    f"(row {i} has values up to step {int(lens[i]) - 1}); NaN padding must fill whole "
                    f"steps after a sequence's last step, or give {lengths_name}"
                )
            raise ArrayDataError(f"{name} has a NaN or infinite value in a real step: {where}")
        x = x.astype(dtype, copy=True)
        x[~real] = 0  # the padding's values, whatever they were
    # the list's sequences, and a value too large for dtype (1e39 in float32)
    bad = ~np.isfinite(x) & (np.arange(x.shape[1])[None, :] < lens[:, None])[..., None]
    if bad.any():
        i, t, m = (int(v[0]) for v in np.nonzero(bad))
        raise ArrayDataError(f"{name} has a NaN or infinite value in a real step: {name}[{i}, {t}, {m}]")
    return x, lens


def _nan_lengths(x: np.ndarray, name: str):
    """Lengths of a NaN-padded array (n, T, M): 1 + each row's last step holding any non-NaN value;
    None when x holds no NaN. ArrayDataError naming the first row that is all NaN."""
    isnan = np.isnan(x)
    if not isnan.any():
        return None
    has_value = ~isnan.all(axis=2)  # (n, T)
    empty = np.flatnonzero(~has_value.any(axis=1))
    if empty.size:
        raise ArrayDataError(
            f"{name}[{empty[0]}] is all NaN: every sequence needs at least one step with a value "
            "(NaN marks the padding after a sequence's last step)"
        )
    return (x.shape[1] - np.argmax(has_value[:, ::-1], axis=1)).astype(np.int64)


def _module_of(obj) -> str:
    """``"pandas.DataFrame"``, ``"pandas.Series"`` or ``"scipy.sparse"`` when obj's class (or a base) is
    one of those, by its module's name (neither package is imported); else ``""``."""
    for cls in type(obj).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if mod.split(".")[0] == "pandas" and cls.__name__ in ("DataFrame", "Series"):
            return f"pandas.{cls.__name__}"
        if mod.startswith("scipy.sparse"):
            return "scipy.sparse"
    return ""


def _sequence_list(X, name: str):
    """X's sequences as a list when X is a list of them: a list or tuple, or an object array or a pandas
    Series whose items are arrays; None for an array of numbers. Refuses, in one line saying what is
    taken and how to convert, a pandas DataFrame, a scipy sparse matrix and any other object array
    (pandas and scipy recognised by their classes' modules: neither is imported)."""
    if isinstance(X, list | tuple):
        return list(X)
    kind = _module_of(X)
    if kind == "pandas.DataFrame":
        raise ArrayDataError(
            f"{name} is a pandas DataFrame of shape {tuple(X.shape)}, which is not read as sequences: "
            f"give {TAKES}. A DataFrame of n rows of T values of one feature: {name}.to_numpy()[:, :, None]; "
            "long-format data (a row per step): [g[features].to_numpy() for _, g in df.groupby(id_column)]"
        )
    if kind == "scipy.sparse":
        raise ArrayDataError(
            f"{name} is a scipy sparse matrix of shape {tuple(X.shape)}, which is not read as sequences: "
            f"give {TAKES}. A sparse (n, T) matrix of one feature: {name}.toarray()[:, :, None]"
        )
    if kind == "pandas.Series":
        X = X.to_numpy()
        if X.dtype != object:
            return None  # numbers: refused below by their shape
    if isinstance(X, np.ndarray) and X.dtype == object:
        items = list(X.reshape(-1)) if X.ndim == 1 else None
        if items and all(_is_sequence(s) for s in items):
            return items
        if X.ndim >= 2:
            return None  # numbers (read as floats, or refused naming the first non-number, by _as_float)
        first = X.reshape(-1)[0] if X.size else None
        raise ArrayDataError(
            f"{name} is an object array of shape {X.shape} whose items are not sequences "
            f"(its first item is of type {type(first).__name__}): give {TAKES}; an object array (n,) of (T_i, M) "
            f"arrays is read as the list it is, and one of numbers converts with {name}.astype(float)"
        )
    return None


def _as_float(a, name: str) -> np.ndarray:
    """``a`` as a float64 array; an object array of numbers is converted (as scikit-learn's ``check_array``
    does). TypeError naming the first item that is not a number; ArrayDataError for strings, complex
    numbers and anything else that is not real numbers."""
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ArrayDataError(f"{name} cannot be read as a numeric array ({exc})") from None
    if arr.dtype == object:
        for index, item in np.ndenumerate(arr):
            if isinstance(item, str | bytes):  # "1.5" would convert: refused as a string all the same
                raise TypeError(
                    f"{name} is an object array holding a string at {name}{list(index)}: {item!r}; "
                    "give numbers (convert text yourself, e.g. X.astype(float), if that is what you mean)"
                )
            try:
                float(item)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{name} is an object array holding a non-number at {name}{list(index)}: {exc}"
                ) from None
        return arr.astype(np.float64)
    if arr.dtype.kind == "c":
        raise ArrayDataError(
            f"Complex data not supported: {name} has dtype {arr.dtype}; give real numbers (for example "
            f"the real and imaginary parts as two features: np.stack([{name}.real, {name}.imag], axis=-1))"
        )
    if arr.dtype.kind not in "biuf":
        raise ArrayDataError(f"{name} must hold numbers; got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _is_sequence(s) -> bool:
    """An item of an object array that is a sequence: an array (or list, DataFrame) of 1 or 2 dimensions."""
    if isinstance(s, str | bytes):
        return False
    try:
        return np.ndim(s) in (1, 2)
    except ValueError:  # a ragged nested list
        return False


#: Features whose scales (the larger of the std over the real steps and ``|mean|``) differ by more than this
#: factor, or whose std or ``|mean|`` exceeds :data:`SCALE_LARGE` or whose nonzero std is below
#: :data:`SCALE_SMALL`, draw :func:`feature_scale_warning`.
SCALE_RATIO = 100.0


#: A feature's std or ``|mean|`` above this draws :func:`feature_scale_warning`.
SCALE_LARGE = 1e3


#: A feature's nonzero std below this draws :func:`feature_scale_warning`.
SCALE_SMALL = 1e-3


def feature_scale_warning(x, lengths, *, name: str = "X") -> str | None:
    """One line when the input features' scales are far apart or far from 1, else None.

    The network's weights are initialised for inputs of scale about 1 (``W ~ N(0, 0.001²)``, u in
    [0, 1)): a feature in raw units of 1e5 swamps the others and saturates the first layer, one of
    0.01 is hardly seen. Measured over the real steps only.

    Parameters
    ----------
    x : ndarray, (n, T, M)
        Padded sequences, samples first (:func:`pad_sequences`).
    lengths : int array, (n,)
    name : str
        What the line calls x.

    Returns
    -------
    str or None
        Names the features (std and mean of each) and the fix: ``indrnn_np.preprocessing.SequenceScaler``
        in a Pipeline, or standardise each feature. None when every feature's std and ``|mean|`` are
        within [1e-3, 1e3] and their scales within a factor of 100 of each other.
    """
    x = np.asarray(x)
    real = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[:, None]
    v = x[real]  # (R, M): the real steps
    mean = v.mean(axis=0, dtype=np.float64)
    std = v.std(axis=0, dtype=np.float64)
    scale = np.maximum(std, np.abs(mean))
    large = (std > SCALE_LARGE) | (np.abs(mean) > SCALE_LARGE)
    small = (std > 0) & (std < SCALE_SMALL)
    live = np.flatnonzero(scale > 0)
    spread = scale[live].max() / scale[live].min() if live.size >= 2 else 1.0
    if not (large.any() or small.any() or spread > SCALE_RATIO):
        return None
    named = list(np.flatnonzero(large | small))
    if live.size >= 2:
        named += [live[np.argmax(scale[live])], live[np.argmin(scale[live])]]
    named = sorted(set(int(m) for m in named))
    shown = ", ".join(f"feature {m} std {std[m]:.3g} mean {mean[m]:.3g}" for m in named[:6])
    if len(named) > 6:
        shown += f" and {len(named) - 6} more"
    return (
        f"{name}'s features are on very different scales or far from 1 ({shown}; largest/smallest scale "
        f"{spread:.3g}x): the network trains poorly on raw units. Standardise each feature: "
        "make_pipeline(indrnn_np.preprocessing.SequenceScaler(), IndRNNClassifier()) (or IndRNNRegressor), "
        "or (x - mean) / std of each feature over the real steps"
    )


#: Regression targets whose ``|mean|`` or std exceeds this (in any column) draw :func:`target_scale_warning`.
TARGET_LARGE = 10.0


def target_scale_warning(y, lengths=None, *, name: str = "y") -> str | None:
    """One line when regression targets are far from scale 1, else None.

    The head starts near 0 (small weights, zero bias), and Adam moves each weight by about ``lr`` a
    step: at the ``arrays`` recipe's lr 1e-3 and 2,000 steps a bias travels about 2 units at most, so
    targets of mean 40 or spread 20 (Tecator's fat content in %) are fitted slowly and the run may end
    near predicting their mean, without any error saying why. Measured over the real values only.

    Parameters
    ----------
    y : ndarray, (n,), (n, K) or per step (n, T, K)
        The regression targets, as :func:`check_targets` returns them.
    lengths : int array, (n,), optional
        With per-step targets: the real steps of each sequence (the padding is not counted).
    name : str
        What the line calls y.

    Returns
    -------
    str or None
        The largest column's mean and std and the fix (``TransformedTargetRegressor`` with a
        ``StandardScaler``, or ``(y - mean) / std``); None when every column's ``|mean|`` and std are
        at most :data:`TARGET_LARGE`.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0:
        return None
    if y.ndim == 3 and lengths is not None:  # per step (n, T, K): the real steps' rows (R, K)
        y = y[np.arange(y.shape[1])[None, :] < np.asarray(lengths)[:, None]]
    v = y.reshape(len(y), -1)
    mean, std = v.mean(axis=0), v.std(axis=0)
    worst = int(np.argmax(np.maximum(np.abs(mean), std)))
    if max(abs(mean[worst]), std[worst]) <= TARGET_LARGE:
        return None
    column = f" (column {worst})" if v.shape[1] > 1 else ""
    return (
        f"{name}'s targets are far from scale 1{column}: mean {mean[worst]:.3g}, std {std[worst]:.3g}; the "
        "head starts near 0 and moves about lr a step, so raw-unit targets may train only toward their mean. "
        "Standardise them: TransformedTargetRegressor(make_pipeline(SequenceScaler(), IndRNNRegressor()), "
        "transformer=StandardScaler()) (scikit-learn), or (y - mean) / std"
    )


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the function calling this one point at the first
    caller outside this package and scikit-learn (the user's ``fit``, ``cross_val_score``, ...)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in _LIBRARIES:
        frame, level = frame.f_back, level + 1
    return level


_LIBRARIES = ("indrnn_np", "sklearn", "joblib")


def check_sample_weight(sample_weight, n: int, name: str = "sample_weight") -> np.ndarray | None:
    """Sample weights checked: None, or a float64 array (n,) of finite values >= 0, not all 0.

    Raises
    ------
    TypeError
        Not numbers.
    ValueError
        Another shape than (n,), a negative, NaN or infinite weight, or every weight 0.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind in "USO" and any(isinstance(v, str | bytes) for v in w.reshape(-1)):
        raise TypeError(f"{name} must hold numbers, one weight per sequence; got strings (dtype {w.dtype})")
    if w.dtype == object or w.dtype.kind not in "biuf":
        try:
            w = w.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must hold numbers, one weight per sequence; got dtype {w.dtype}"
            ) from None
    w = w.astype(np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape (n,) = ({n},), one weight per sequence; got {w.shape}")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"{name} must be finite and >= 0; got {name}[{bad[0]}] = {w[bad[0]]}")
    if not w.any():
        raise ValueError(f"{name} is zero for every sequence: every sequence would count for nothing")
    return w


def _sequence_list_or_none(X):
    """X as a list when it is a list of sequences (a list, tuple, or an object array or Series of
    arrays); else None, never raising."""
    try:
        return _sequence_list(X, "X")
    except ArrayDataError:
        return None


def pad_targets(ys, lengths, T: int, *, kind: str, name: str = "y", x_name: str = "X") -> np.ndarray:
    """Per-step targets of a list of sequences, padded with zeros to (n, T) labels or (n, T, K) values.

    Each ``ys[i]`` has one entry per step of sequence i (``lengths[i]`` of them): labels (T_i,) for
    ``kind="classify"``; values (T_i,) (one target, K = 1) or (T_i, K) for ``"regress"``.
    """
    arrs = [np.asarray(a) for a in ys]
    if len(arrs) != len(lengths):
        raise ArrayDataError(f"{name} must have one entry per sequence, n = {len(lengths)}; got {len(arrs)}")
    if kind == "regress":
        arrs = [a[:, None] if a.ndim == 1 else a for a in arrs]
    first = arrs[0]
    out = np.zeros((len(arrs), T, *first.shape[1:]), first.dtype)
    for i, (a, n) in enumerate(zip(arrs, lengths, strict=True)):
        if a.ndim == 0 or len(a) != n:
            raise ArrayDataError(
                f"{name}[{i}] must have one entry per step of {x_name}[{i}] ({n} steps); got shape {a.shape}"
            )
        if a.shape[1:] != first.shape[1:]:
            raise ArrayDataError(
                f"{name}[{i}] must have the shape of {name}[0] after its steps, {first.shape[1:]}; got {a.shape}"
            )
        out[i, :n] = a
    return out


def per_step_list(y, X) -> bool:
    """A list X (or an object array or Series of sequences) with a list y (or an object array of
    arrays) whose entries are arrays: per-step targets, one array per sequence."""
    if X is None or y is None or _sequence_list_or_none(X) is None:
        return False
    if isinstance(y, np.ndarray) and y.dtype == object and y.ndim == 1:
        y = list(y)
    return isinstance(y, list | tuple) and len(y) > 0 and np.ndim(y[0]) >= 1
