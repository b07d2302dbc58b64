"""Layer 4: a task made of the user's own arrays: sequences of any lengths, labels or targets.

Samples first, as scikit-learn, tslearn and PyTorch's ``batch_first``: X is
``(n, T, M)`` with optional ``lengths`` (n,), or a list of ``(T_i, M)`` arrays
of different lengths (padded here). The targets decide the kind of task:

* integer ``y`` (n,): classification of whole sequences (a dense head on
  each sequence's own last step); integer ``y`` (n, T): a label per step;
* float ``y`` (n,) or (n, K): regression of whole sequences; float ``y``
  (n, T, K): a target per step.

Training batches are drawn at random and cut to their longest sequence, so a
batch of short sequences costs only its own steps. The metric is the test
error (a fraction, classification) or the test MSE (regression), over real
steps only; both are lower-is-better, as every task's.

Every problem with the arrays raises :class:`ArrayDataError` (a ValueError)
naming the array as the caller named it (``X``, ``y`` for the estimators;
``x``, ``y``, ``lengths``, ``x_test``, ... for an ``.npz`` file).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np

from ..ops import mse_backward, mse_forward, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.device import to_host
from .data import DataError

#: The keys of a ``train arrays`` data file.
NPZ_KEYS = ("x", "y", "lengths", "x_test", "y_test", "lengths_test")

#: Fraction of the samples held out for testing when no test arrays are given.
TEST_FRACTION = 0.2

#: The run folder's file of class names (a ``train arrays`` run whose labels were strings).
CLASSES_FILE = "classes.npy"

#: ``train arrays --task`` -> the task's kind.
KINDS = {"classification": "classify", "regression": "regress"}


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


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the function calling this one point at the first
    caller outside this package and scikit-learn (the user's ``fit``, ``cross_val_score``, ...)."""
    frame, level = sys._getframe(2), 2
    while frame is not None and str(frame.f_globals.get("__name__", "")).split(".")[0] in _LIBRARIES:
        frame, level = frame.f_back, level + 1
    return level


_LIBRARIES = ("indrnn_np", "sklearn", "joblib")


def check_targets(y, n: int, T: int, lengths, *, kind: str, name: str = "y", dtype=np.float32):
    """Check targets against n sequences of up to T steps; return ``(y, head, outputs)``.

    Parameters
    ----------
    y : array-like
        ``kind="classify"``: integer labels in [0, C), (n,) per sequence or
        (n, T) per step. ``kind="regress"``: (n,), (n, K) per sequence, or
        (n, T, K) per step.
    n, T : int
    lengths : ndarray (n,)
        Per-step targets are checked on the real steps only (anything may fill the padding).
    kind : {"classify", "regress"}

    Returns
    -------
    y : ndarray
        int64 labels, or float targets of ``dtype`` as (n, K) or (n, T, K).
    head : {"last", "all"}
    outputs : int
        Classes C (the largest label + 1) or K.
    """
    arr = np.asarray(y)
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ArrayDataError(f"{name} must have one entry per sequence, n = {n}; got shape {arr.shape}")
    per_step = arr.ndim >= (2 if kind == "classify" else 3)
    if per_step and arr.shape[1] != T:
        raise ArrayDataError(
            f"per-step {name} must have T = {T} steps, as the sequences; got shape {arr.shape}"
        )
    real = (np.arange(T)[None, :] < lengths[:, None]) if per_step else np.ones(n, bool)
    if kind == "classify":
        if arr.dtype.kind not in "iu":
            raise ArrayDataError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
        if arr.ndim > 2:
            raise ArrayDataError(f"{name} must be (n,) or per step (n, T); got shape {arr.shape}")
        labels = arr[real]
        if labels.min() < 0:
            raise ArrayDataError(f"{name} must hold labels >= 0; got {labels.min()}")
        return arr.astype(np.int64), ("all" if per_step else "last"), int(labels.max()) + 1
    if arr.dtype == object:  # numbers in an object array (pandas, lists of mixed ints and floats)
        arr = _as_float(arr, name)
    if arr.dtype.kind not in "biuf":
        raise ArrayDataError(f"{name} must hold numbers; got dtype {arr.dtype}")
    if arr.ndim > 3:
        raise ArrayDataError(f"{name} must be (n,), (n, K) or per step (n, T, K); got shape {arr.shape}")
    out = arr.astype(dtype).reshape(n, -1) if not per_step else arr.astype(dtype, copy=True)
    if not np.isfinite(out[real]).all():
        raise ArrayDataError(f"{name} has a NaN or infinite value" + (" in a real step" if per_step else ""))
    if per_step:
        out[~real] = 0
    return out, ("all" if per_step else "last"), int(out.shape[-1])


# --------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------


#: Sequences per forward pass of :func:`predict` (:attr:`ArrayTask.eval_chunk`, the ``predict`` command).
EVAL_CHUNK = 256


class ArrayTask:
    """The user's arrays as a task of the training loop (the task protocol of :mod:`indrnn_np.tasks`).

    Parameters
    ----------
    x : ndarray, (n, T, M)
        Padded training sequences, samples first (:func:`pad_sequences`).
    y : ndarray
        Targets as :func:`check_targets` returns them.
    lengths : ndarray, (n,) int
    kind : {"classify", "regress"}
    x_test, y_test, lengths_test : optional
        Test data (checked alike); None: a seeded ``test_fraction`` of the samples is held out.
    outputs : int, optional
        Classes or targets; default from the data.
    test_fraction : float
    seed : int
        The held-out split's seed.
    name : str
        What the run calls the task.
    source : str
        Where the arrays came from, for the description.
    classes : ndarray (C,), optional
        The labels of the classes when they were strings, or integers other than 0..C-1 (y holds
        their indices; labels 1, 2, 3 make 3 classes, not 4); saved with the run as ``classes.npy``
        (:meth:`artifacts`), which ``predict`` writes back.
    kind_reason : str, optional
        Why the task is a classification or a regression (``"y holds integer labels"``): the
        description starts with the kind and this reason.
    weights, weights_test : ndarray (n,), optional
        Sample weights (:func:`check_sample_weight`) of the training and test sequences: training
        batches draw sequence i with probability ``weights[i] / weights.sum()`` (whole-number
        weights draw exactly as the data with sequence i repeated ``weights[i]`` times would), and
        the test metric is the weighted mean (every real step of a sequence carries its weight).
        The held-out split takes its part of ``weights``. None: every sequence counts once.

    Attributes
    ----------
    inputs, outputs, head, metric, baseline, description, T
        As every task's (:mod:`indrnn_np.tasks`); ``metric`` is ``"test_error"``
        (classification) or ``"test_mse"``.
    classes : ndarray (C,) of str or int, or None
    eval_chunk : int
        Test sequences per forward pass of :meth:`evaluate`.
    """

    eval_chunk = EVAL_CHUNK

    def __init__(
        self,
        x,
        y,
        lengths,
        *,
        kind: str,
        x_test=None,
        y_test=None,
        lengths_test=None,
        outputs: int | None = None,
        test_fraction: float = TEST_FRACTION,
        seed: int = 0,
        name: str = "arrays",
        source: str = "arrays",
        classes=None,
        kind_reason: str | None = None,
        weights=None,
        weights_test=None,
    ):
        if kind not in ("classify", "regress"):
            raise ValueError(f"kind must be 'classify' or 'regress'; got {kind!r}")
        self.kind, self.name = kind, name
        self.classes = None if classes is None else np.asarray(classes)
        self.dtype = x.dtype.type
        n = len(x)
        if x_test is None:
            if n < 2:
                raise ArrayDataError(
                    f"need at least 2 sequences to hold some out for testing; got {n} sample(s) (sequences): "
                    "give more, or test arrays of their own"
                )
            order = np.random.default_rng(seed).permutation(n)
            n_test = min(n - 1, max(1, round(test_fraction * n)))
            test, train = order[:n_test], order[n_test:]
            x_test, y_test, lengths_test = x[test], y[test], lengths[test]
            x, y, lengths = x[train], y[train], lengths[train]
            if weights is not None:
                weights, weights_test = weights[train], weights[test]
            split = f"{len(train)} train / {n_test} held out (seed {seed})"
        else:
            split = f"{n} train / {len(x_test)} test"
        self.x, self.y, self.lengths = x, y, lengths
        self.x_test, self.y_test, self.lengths_test = x_test, y_test, lengths_test
        self.weights, self.weights_test = weights, weights_test
        if weights is not None and not weights.any():
            raise ArrayDataError(
                "sample_weight is zero for every training sequence (after the held-out split): nothing to learn from"
            )
        self._cumulative = None if weights is None else np.cumsum(weights)
        self.T = max(x.shape[1], x_test.shape[1])
        self.inputs = x.shape[2]
        self.head = "all" if (y.ndim == 2 and kind == "classify") or y.ndim == 3 else "last"
        per_step = self.head == "all"
        if kind == "classify":
            seen = (
                int(max(_real(y, lengths, per_step).max(), _real(y_test, lengths_test, per_step).max())) + 1
            )
            self.outputs = seen if outputs is None else int(outputs)
            self.metric = "test_error"
            self.loss_forward = softmax_cross_entropy_forward
            self.loss_backward = softmax_cross_entropy_backward
            w = self._step_weights(weights, lengths, per_step)
            counts = np.bincount(_real(y, lengths, per_step), weights=w, minlength=self.outputs)
            majority = int(np.argmax(counts))
            wt = self._step_weights(weights_test, lengths_test, per_step)
            self.baseline = float(np.average(_real(y_test, lengths_test, per_step) != majority, weights=wt))
        else:
            self.outputs = y.shape[-1] if outputs is None else int(outputs)
            self.metric = "test_mse"
            self.loss_forward = mse_forward
            self.loss_backward = mse_backward
            w = self._step_weights(weights, lengths, per_step)
            mean = np.average(_real(y, lengths, per_step), axis=0, weights=w)
            wt = self._step_weights(weights_test, lengths_test, per_step)
            err = (_real(y_test, lengths_test, per_step) - mean) ** 2
            if wt is None:
                self.baseline = float(np.mean(err))
            else:  # each value's squared error over its K targets, weighted
                self.baseline = float(np.average(err.reshape(len(wt), -1).mean(axis=1), weights=wt))
        spread = f"lengths {int(lengths.min())}..{int(lengths.max())}"
        why = ""
        if kind_reason is not None:
            what = f"classification ({self.outputs} classes)" if kind == "classify" else "regression"
            why = f"{what}: {kind_reason}; "
        weighted = [] if weights is None else [weights] + ([] if weights_test is None else [weights_test])
        self.description = (
            f"{why}{source}: {split} sequences{', weighted' if weights is not None else ''}, {spread}, "
            f"{self.inputs} features, data {_fingerprint(x, y, lengths, x_test, y_test, lengths_test, *weighted)}"
        )

    @staticmethod
    def _step_weights(weights, lengths, per_step: bool):
        """The weight of each value that counts (:func:`_real`): a sequence's, or per step the weight of
        the sequence each real step belongs to; None without weights."""
        if weights is None:
            return None
        return np.repeat(weights, lengths) if per_step else weights

    def artifacts(self) -> dict:
        """Files saved with the run: the class labels (``classes.npy``) when they were strings, or integers
        other than 0..C-1."""
        return {CLASSES_FILE: self.classes} if self.classes is not None else {}

    def _batch(self, x, y, lengths, idx):
        L = lengths[idx]
        Tb = int(L.max())  # cut to the batch's longest sequence
        xb = np.ascontiguousarray(x[idx, :Tb].transpose(1, 0, 2))  # time-major (Tb, B, M)
        yb = y[idx]
        if self.head == "all":
            yb = np.ascontiguousarray(np.swapaxes(yb[:, :Tb], 0, 1))  # (Tb, B[, K])
        return xb, yb, L

    def rehearsal(self, T: int) -> ArrayTask:
        """This task cut to ``T`` steps, each sequence's length scaled by ``T / self.T`` (rounded up),
        sharing the arrays (views), for the memory rehearsal (:mod:`indrnn_np.train.memory`)."""
        if not 1 <= T <= self.T:
            raise ValueError(f"T must be in [1, {self.T}]; got {T!r}")
        small = copy.copy(self)
        small.T = int(T)

        def cut(lengths):
            return np.clip(-(-lengths * T // self.T), 1, T)

        small.x, small.lengths = self.x[:, :T], cut(self.lengths)
        small.x_test, small.lengths_test = self.x_test[:, :T], cut(self.lengths_test)
        if self.head == "all":  # targets per step
            small.y, small.y_test = self.y[:, :T], self.y_test[:, :T]
        return small

    def train_batch(self, rng: np.random.Generator, B: int):
        """``(x (T_b, B, M), y, lengths (B,))``: B random training sequences, cut to the longest of them."""
        if self.weights is None:
            idx = rng.integers(0, len(self.x), B)
        elif np.all(self.weights == np.round(self.weights)) and self._cumulative[-1] < 2**62:
            # whole-number weights: a draw of the data with sequence i repeated weights[i] times
            idx = np.searchsorted(
                self._cumulative, rng.integers(0, int(self._cumulative[-1]), B), side="right"
            )
        else:
            idx = np.searchsorted(self._cumulative, rng.random(B) * self._cumulative[-1], side="right")
            idx = np.minimum(idx, len(self.x) - 1)  # a draw that rounds up to the total
        return self._batch(self.x, self.y, self.lengths, idx)

    def evaluate(self, model, *, full: bool = True, batch: int | None = None) -> dict:
        """The test error or MSE over the whole test set (real steps only; inference mode), ``batch``
        sequences at a time (default :attr:`eval_chunk`)."""
        batch = self.eval_chunk if batch is None else batch
        pred = predict(model, self.x_test, self.lengths_test, batch=batch, head=self.head)
        per_step = self.head == "all"
        real_pred = _real(pred, self.lengths_test, per_step)
        real_y = _real(self.y_test, self.lengths_test, per_step)
        w = self._step_weights(self.weights_test, self.lengths_test, per_step)
        if self.kind == "classify":
            wrong = np.argmax(real_pred, axis=-1) != real_y
            return {"test_error": float(np.mean(wrong) if w is None else np.average(wrong, weights=w))}
        err = (real_pred - real_y) ** 2
        if w is None:
            return {"test_mse": float(np.mean(err))}
        return {"test_mse": float(np.average(err.reshape(len(w), -1).mean(axis=1), weights=w))}


def _fingerprint(*arrays) -> str:
    """A short hash of the arrays' values (a resumed run checks that it still has its data)."""
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:12]


def _real(a, lengths, per_step: bool):
    """The values that count: a per-step (n, T, ...) array's real steps as rows (R, ...); else a itself."""
    if not per_step:
        return a
    return a[np.arange(a.shape[1])[None, :] < lengths[:, None]]


def class_probabilities(logits: np.ndarray) -> np.ndarray:
    """The softmax over the last axis: a classifier's logits (..., C) as class probabilities (..., C).

    Stable (the largest logit is subtracted first) and in the logits' dtype; each row sums to 1 to
    rounding. The estimators' ``predict_proba`` and ``predict --proba`` both compute it here.
    """
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def predict(model, x, lengths, *, batch: int = EVAL_CHUNK, head: str = "last") -> np.ndarray:
    """A model's outputs for padded samples-first sequences, in inference mode, samples first.

    Parameters
    ----------
    model : Sequential
        Built for x's features; on the GPU or not.
    x : ndarray, (n, T, M)
    lengths : ndarray, (n,) int
    batch : int
        Sequences per forward pass. They go by length (longest first), each pass
        cut to its longest sequence; the outputs come back in x's order.
    head : {"last", "all"}
        The model's head: ``"all"`` returns (n, T, K) with zeros in the padding.

    Returns
    -------
    ndarray, (n, K) or (n, T, K)
    """
    n, T = x.shape[:2]
    order = np.argsort(-lengths, kind="stable")
    out = None
    for i in range(0, n, batch):
        idx = order[i : i + batch]
        L = lengths[idx]
        Tb = int(L.max())
        xb = np.ascontiguousarray(x[idx, :Tb].transpose(1, 0, 2))
        p = to_host(model.forward(xb, train=False, lengths=L)[0])  # [0]: the caches go now
        if head == "all":
            p = np.swapaxes(p, 0, 1)  # (B, Tb, K)
            p = np.where(np.arange(Tb)[None, :, None] < L[:, None, None], p, 0)
        if out is None:
            out = np.zeros((n, T, p.shape[-1]) if head == "all" else (n, p.shape[-1]), p.dtype)
        if head == "all":
            out[idx, :Tb] = p
        else:
            out[idx] = p
    return out


# --------------------------------------------------------------------------
# The ``.npz`` file of ``train arrays`` and ``predict``
# --------------------------------------------------------------------------


def load_npz(path, *, error=ArrayDataError, what: str = "a readable .npz file") -> dict:
    """Every array of an ``.npz`` file (no pickles), or ``error`` naming the file: missing, or not ``what``."""
    try:
        f = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        reason = "not a NumPy file" if "pickled" in str(exc) else str(exc)
        raise error(f"{path}: not {what} ({reason})") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise error(f"{path}: not {what}: it holds one array (.npy), not named arrays (.npz)")
    try:
        with f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as exc:
        raise error(f"{path}: not {what} ({exc})") from None


def read_npz(path, *, need_y: bool = True) -> dict:
    """The arrays of a ``.npz`` data file, checked; raises ArrayDataError naming the file and key.

    Keys: ``x`` (n, T, M) samples first, ``y`` (when ``need_y``), optional
    ``lengths`` (n,), ``x_test``, ``y_test``, ``lengths_test``. Other keys are
    refused (a misspelt key would otherwise be ignored).
    """
    path = Path(path)
    arrays = load_npz(path)
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise ArrayDataError(f"{path}: unknown key {unknown[0]!r}; the keys are {', '.join(NPZ_KEYS)}")
    for key in ("x", "y") if need_y else ("x",):
        if key not in arrays:
            raise ArrayDataError(
                f"{path}: missing key {key!r} (keys found: {', '.join(sorted(arrays)) or 'none'})"
            )
    if ("x_test" in arrays) != ("y_test" in arrays):
        have, lack = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise ArrayDataError(f"{path}: key {have!r} without {lack!r}: give both or neither")
    for key, of in (("lengths", "x"), ("lengths_test", "x_test")):
        if key in arrays and of not in arrays:
            raise ArrayDataError(f"{path}: key {key!r} without {of!r}")
    return arrays


def arrays_task(
    X,
    y,
    lengths=None,
    *,
    X_test=None,
    y_test=None,
    lengths_test=None,
    kind: str | None = None,
    outputs: int | None = None,
    test_fraction: float = TEST_FRACTION,
    seed: int = 0,
    names=("X", "y", "lengths", "X_test", "y_test", "lengths_test"),
    source: str = "arrays",
    dtype=np.float32,
    kind_reason: str | None = None,
    choose_kind: str = "kind='classify' or kind='regress'",
    scale_name: str | None = None,
    sample_weight=None,
) -> ArrayTask:
    """An :class:`ArrayTask` from what a user gives, every array checked and padded.

    Parameters
    ----------
    X, y, lengths
        As :func:`pad_sequences` and :func:`check_targets`; an array X padded with NaN needs no
        lengths. Labels may be strings (with ``kind=None``): they are encoded as indices into the
        sorted class names, which the task keeps (:attr:`ArrayTask.classes`).
    X_test, y_test, lengths_test : optional
        A test set; without it a seeded ``test_fraction`` of the samples is held out
        (``test_fraction=0``: the metric is measured on the training data itself).
    kind : {"classify", "regress"}, optional
        Default: from y (:func:`infer_kind`): integer, boolean or string labels are classification,
        non-integral floats regression, and floats that are all whole numbers are refused as
        ambiguous (the message says to choose with ``choose_kind``).
    names : 6 str
        What the errors call the six arrays.
    kind_reason : str, optional
        Why ``kind`` was given (``"--task classification"``), for the description.
    choose_kind : str
        How the caller chooses the kind, for the message that refuses ambiguous labels.
    scale_name : str, optional
        What :func:`feature_scale_warning` calls X (default ``names[0]``). The warning is a
        UserWarning pointing at the first caller outside this package and scikit-learn.
    sample_weight : array-like (n,), optional
        A weight per training sequence (:func:`check_sample_weight`; :class:`ArrayTask`'s
        ``weights``); the test set's count once each, unless it is the training data
        (``test_fraction=0``).

    Raises
    ------
    ArrayDataError
        A bad array, named; ambiguous labels.
    """
    nx, ny, nl, nxt, nyt, nlt = names
    x, lens = pad_sequences(X, lengths, name=nx, lengths_name=nl, dtype=dtype)
    weights = check_sample_weight(sample_weight, len(x))
    message = feature_scale_warning(x, lens, name=scale_name or nx)
    if message is not None:
        warnings.warn(message, UserWarning, stacklevel=_caller_stacklevel())
    if (X_test is None) != (y_test is None):
        raise ArrayDataError(f"{nxt} and {nyt} go together: give both or neither")
    xt = lt = None
    if X_test is not None:
        xt, lt = pad_sequences(X_test, lengths_test, name=nxt, lengths_name=nlt, dtype=dtype)
        if xt.shape[2] != x.shape[2]:
            raise ArrayDataError(f"{nxt} must have M = {x.shape[2]} features, as {nx}; got {xt.shape[2]}")
    if kind is None:
        kind, kind_reason = infer_kind(y, X, y_test, X_test, name=ny, choose=choose_kind)
    classes = None
    if kind == "classify":
        classes, y, y_test = _label_indices(y, X, lens, y_test, X_test, lt, x.shape[1], xt)
    if per_step_list(y, X):  # per-step targets of a list of sequences
        y = pad_targets(y, lens, x.shape[1], kind=kind, name=ny, x_name=nx)
    elif _sequence_list_or_none(X) is not None and np.ndim(y) >= 2 and kind == "classify":
        y = np.asarray(y)  # per-step labels padded by the caller: what the padding holds is not a label
        if y.shape[:2] == x.shape[:2]:
            y = np.where(np.arange(x.shape[1])[None, :] < lens[:, None], y, 0)
    y, _, _ = check_targets(y, len(x), x.shape[1], lens, kind=kind, name=ny, dtype=dtype)
    if X_test is not None:
        if per_step_list(y_test, X_test):
            y_test = pad_targets(y_test, lt, xt.shape[1], kind=kind, name=nyt, x_name=nxt)
        yt, _, _ = check_targets(y_test, len(xt), xt.shape[1], lt, kind=kind, name=nyt, dtype=dtype)
        if yt.ndim != y.ndim or (yt.ndim > 1 and kind == "regress" and yt.shape[-1] != y.shape[-1]):
            raise ArrayDataError(f"{nyt} must be shaped as {ny} (one target per sequence or per step)")
    wt = None
    if X_test is None and test_fraction == 0:
        xt, yt, lt, wt = x, y, lens, weights
    elif X_test is None:
        xt = yt = lt = None
    return ArrayTask(
        x, y, lens, kind=kind, x_test=xt, y_test=yt, lengths_test=lt, outputs=outputs,
        test_fraction=test_fraction, seed=seed, source=source, classes=classes, kind_reason=kind_reason,
        weights=weights, weights_test=wt,
    )  # fmt: skip


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
        raise ValueError(f"{name} is zero for every sequence: nothing would be learned")
    return w


def infer_kind(y, X=None, y_test=None, X_test=None, *, name: str = "y", choose: str = "kind=...") -> tuple:
    """``(kind, reason)``: what the labels y say the task is, and why, in words.

    * integer or boolean y: ``"classify"`` (``"y holds integer labels"``);
    * strings (NumPy unicode or bytes, or objects that are all ``str``): ``"classify"``;
    * floats of 3 dimensions (n, T, K): ``"regress"`` (per-step targets; no labels have that shape);
    * other floats: ``"regress"`` when some finite value is not a whole number; floats that are all
      whole numbers (0.0, 1.0, 2.0) are ambiguous and refused, the message saying to ``choose``.

    Raises
    ------
    ArrayDataError
        Ambiguous labels, or y neither numbers nor strings; named ``name``.
    """
    values = [_flat_labels(v, Xv) for v, Xv in ((y, X), (y_test, X_test)) if v is not None]
    arr = values[0]
    kinds = {v.dtype.kind for v in values}
    if all(_strings(v) for v in values):
        names = np.unique(np.concatenate([v.astype(str) for v in values]))
        shown = ", ".join(repr(str(c)) for c in names[:5]) + (", ..." if len(names) > 5 else "")
        return "classify", f"{name} holds strings ({shown}), kept as the class names"
    if kinds <= set("iub"):
        return "classify", f"{name} holds {'booleans' if kinds == {'b'} else 'integer labels'}"
    if not kinds <= set("iubf"):
        raise ArrayDataError(f"{name} must hold numbers or string labels; got dtype {arr.dtype}")
    if np.ndim(y) >= 3 or (isinstance(y, list | tuple) and y and np.ndim(y[0]) >= 2):
        return "regress", f"{name} holds per-step float targets (n, T, K)"
    floats = np.concatenate([v.astype(np.float64) for v in values])
    finite = floats[np.isfinite(floats)]
    if finite.size and np.all(finite == np.round(finite)):
        seen = np.unique(finite)
        shown = ", ".join(f"{v:.1f}" for v in seen[:4]) + (", ..." if len(seen) > 4 else "")
        raise ArrayDataError(
            f"{name} holds floats that are all whole numbers ({shown}): class labels or values to "
            f"regress? Say which with {choose} (integer labels, {name}.astype(int), are classes)"
        )
    return "regress", f"{name} holds non-integral floats"


def _flat_labels(y, X) -> np.ndarray:
    """Every entry of y as one flat array (a list of per-step arrays concatenated)."""
    if per_step_list(y, X):
        return np.concatenate([np.asarray(a).reshape(-1) for a in y])
    return np.asarray(y).reshape(-1)


def _strings(a: np.ndarray) -> bool:
    """A label array of strings: NumPy unicode or bytes, or objects that are all ``str``."""
    if a.dtype.kind in "US":
        return True
    return a.dtype.kind == "O" and a.size > 0 and all(isinstance(v, str) for v in a)


def _label_indices(y, X, lens, y_test, X_test, lens_test, T, xt):
    """``(classes, y, y_test)``: string labels as indices into their sorted names (``classes``; the
    padding of per-step labels is not a class); booleans as 0/1; other labels as they are, classes None."""
    values = [(y, X, lens, T)] + ([] if y_test is None else [(y_test, X_test, lens_test, xt.shape[1])])
    flat = [_flat_labels(v, Xv) for v, Xv, _, _ in values]
    if not all(_strings(f) for f in flat):
        if all(f.dtype.kind == "b" for f in flat):
            return None, *(_as_int(v) for v in (y, y_test))
        real = [_real_labels(v, Xv, L, t) for v, Xv, L, t in values]
        if all(
            r.dtype.kind == "f" and np.all(r == np.round(r)) for r in real
        ):  # 0.0, 1.0: said to be classes
            y, y_test = (_as_int(v) for v in (y, y_test))
            values = [(y, X, lens, T)] + (
                [] if y_test is None else [(y_test, X_test, lens_test, xt.shape[1])]
            )
            real = [_real_labels(v, Xv, L, t) for v, Xv, L, t in values]
        if not all(r.dtype.kind in "iu" for r in real):
            return None, y, y_test
        labels = np.unique(np.concatenate(real))
        if labels.size == 0 or labels[0] < 0 or np.array_equal(labels, np.arange(labels.size)):
            return None, y, y_test  # 0..C-1 are the indices themselves (negative labels: refused later)
        return _encoded(labels, values)  # {1, 2, 3} or {0, 1000, 2000}: C classes, not max + 1
    real = np.concatenate([_real_labels(v, Xv, L, t).astype(str) for v, Xv, L, t in values])
    return _encoded(
        np.unique(real),
        [
            (
                np.asarray(v).astype(str)
                if not per_step_list(v, Xv)
                else [np.asarray(a).astype(str) for a in v],
                Xv,
                L,
                t,
            )
            for v, Xv, L, t in values
        ],
    )


def _encoded(classes, values):
    """``(classes, y, y_test)``: each label as its index into the sorted ``classes`` (the padding of
    per-step labels, which holds anything, as 0)."""

    def encode(a):
        a = np.asarray(a)
        known = np.isin(a, classes)  # only the padding of per-step labels holds anything else
        return np.where(known, np.searchsorted(classes, np.where(known, a, classes[0])), 0).astype(np.int64)

    out = [[encode(a) for a in v] if per_step_list(v, Xv) else encode(v) for v, Xv, _, _ in values]
    return classes, out[0], (out[1] if len(out) > 1 else None)


def _as_int(v):
    """Labels (booleans, or floats that are whole numbers on the real steps) as int64; a NaN or
    infinity in the padding of per-step labels becomes 0."""
    if v is None:
        return None
    if isinstance(v, list | tuple):
        return [_as_int(a) for a in v]
    a = np.asarray(v)
    if a.dtype.kind == "f":
        a = np.where(np.isfinite(a), a, 0)
    return a.astype(np.int64)


def _real_labels(y, X, lens, T) -> np.ndarray:
    """The labels of real steps (per-step labels (n, T) or a list of them) or of the sequences, flat."""
    if per_step_list(y, X):
        return np.concatenate([np.asarray(a).reshape(-1) for a in y])
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape == (len(lens), T):
        return arr[np.arange(T)[None, :] < lens[:, None]]
    return arr.reshape(-1)


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


def task_from_npz(path, *, dtype=np.float32, kind: str | None = None) -> ArrayTask:
    """The task of ``train arrays --data FILE.npz``: keys as :func:`read_npz` says. Without ``x_test``,
    a seeded fifth is held out for testing (seed 0).

    ``kind``: ``"classification"``, ``"regression"`` (``--task``), or None: from ``y``
    (:func:`infer_kind`: integer or string labels are classes, non-integral floats values, floats
    that are all whole numbers refused as ambiguous). String labels become class indices; the task
    keeps their names (saved with the run as ``classes.npy``).
    """
    if path is None:
        raise ArrayDataError("task arrays needs its .npz file (--data FILE.npz)")
    return _task_of(path, read_npz(path), dtype, kind)


def _task_of(path, a: dict, dtype, kind: str | None = None) -> ArrayTask:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None; got {kind!r}")
    try:
        return arrays_task(
            a["x"],
            a["y"],
            a.get("lengths"),
            X_test=a.get("x_test"),
            y_test=a.get("y_test"),
            lengths_test=a.get("lengths_test"),
            kind=None if kind is None else KINDS[kind],
            kind_reason=None if kind is None else f"--task {kind}",
            choose_kind="--task classification or --task regression",
            names=NPZ_KEYS,
            source=str(path),
            dtype=dtype,
            scale_name=f"{path}: x",
        )
    except ArrayDataError as exc:  # the keys named once, after the file
        raise ArrayDataError(f"{path}: {exc}") from None


@dataclasses.dataclass(frozen=True)
class NpzShape:
    """What a ``train arrays`` data file makes: the sizes a configuration and a memory estimate need.

    Attributes
    ----------
    T : int
        The longest sequence: the padded length of ``x`` or ``x_test``, whichever is longer
        (:attr:`ArrayTask.T`).
    inputs, outputs, head, kind, metric
        As the :class:`ArrayTask` of the file.
    train, test : (n, T)
        Sequences and padded length of the training and test sets (after a held-out split).
    y_size : int
        Values of ``y`` per sequence (1 for labels, K, T * K per step).
    y_itemsize : int
        Bytes of each (int64 labels, or the float dtype of the targets as float32).
    file_bytes : int
        Bytes of the file's arrays once read.
    """

    T: int
    inputs: int
    outputs: int
    head: str
    kind: str
    metric: str
    train: tuple
    test: tuple
    y_size: int
    y_itemsize: int
    file_bytes: int


_SHAPES: dict = {}


def npz_shape(path, kind: str | None = None) -> NpzShape:
    """The sizes of the task a ``.npz`` data file makes (every array checked, as :func:`task_from_npz`).

    Remembered for a file of the same path, size and modification time, so that a configuration,
    its memory estimate and the run read a large file's arrays once each at most. Raises
    ArrayDataError as :func:`task_from_npz`; ``kind`` as there.
    """
    if path is None:
        raise ArrayDataError("task arrays needs its .npz file (--data FILE.npz)")
    try:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns, kind)
    except OSError:
        key = None  # read_npz says what is wrong
    if key is not None and key in _SHAPES:
        return _SHAPES[key]
    a = read_npz(path)
    task = _task_of(path, a, np.float32, kind)
    shape = NpzShape(
        T=int(task.T),
        inputs=int(task.inputs),
        outputs=int(task.outputs),
        head=task.head,
        kind=task.kind,
        metric=task.metric,
        train=tuple(int(d) for d in task.x.shape[:2]),
        test=tuple(int(d) for d in task.x_test.shape[:2]),
        y_size=int(task.y[0].size),
        y_itemsize=int(task.y.itemsize),
        file_bytes=int(sum(v.nbytes for v in a.values())),
    )
    if key is not None:
        if len(_SHAPES) >= 8:
            _SHAPES.clear()
        _SHAPES[key] = shape
    return shape


# --------------------------------------------------------------------------
# A data set of variable-length sequences, for the tutorial and the tests
# --------------------------------------------------------------------------


def marker_sequences(n: int, *, min_length: int = 10, max_length: int = 80, seed: int = 0, dtype=np.float32):
    """Sequences of random lengths whose class is set by two marked values, one early and one late.

    Each sequence has a length drawn uniformly from ``[min_length, max_length]``
    and two features: noise N(0, 0.3²) in feature 0, zeros in feature 1,
    except at two marked steps, where feature 1 is 1 and feature 0 is ±1: one in
    the first 3 steps, one in the second half. The class is
    ``2 · (first sign > 0) + (second sign > 0)``, four classes: a model must
    find both marks and remember the first over up to ``max_length`` steps
    (reading the sequence backward, the first mark is the last thing seen).

    Returns
    -------
    X : list of n arrays (T_i, 2)
    y : ndarray, (n,) int64 in [0, 4)
    """
    if not 3 <= min_length <= max_length:
        raise ValueError(f"need 3 <= min_length <= max_length; got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    X, y = [], np.empty(n, np.int64)
    for i in range(n):
        L = int(rng.integers(min_length, max_length + 1))
        x = np.zeros((L, 2), dtype)
        x[:, 0] = 0.3 * rng.standard_normal(L)
        first, second = int(rng.integers(0, 3)), int(rng.integers(L // 2, L))
        signs = rng.choice([-1.0, 1.0], 2)
        x[[first, second], 0] = signs
        x[[first, second], 1] = 1
        X.append(x)
        y[i] = 2 * int(signs[0] > 0) + int(signs[1] > 0)
    return X, y


#: The six channels of :func:`sensor_sequences`: name, unit, typical level, noise std, event size (in
#: noise stds; the event is a step of the middle of the sequence). The event's direction in the tiny
#: vibration channel sets the class.
SENSOR_CHANNELS = (
    ("pressure", "Pa", 101325.0, 300.0, 8.0),
    ("vibration", "g", 0.01, 0.002, 0.0),  # the class's sign, below
    ("temperature", "degC", 20.0, 0.5, 4.0),
    ("humidity", "%", 45.0, 3.0, 0.0),
    ("voltage", "V", 230.0, 2.0, 0.0),
    ("speed", "rpm", 3000.0, 40.0, 3.0),
)


def sensor_sequences(n: int, *, min_length: int = 5, max_length: int = 500, seed: int = 0, dtype=np.float32):
    """Sequences of six sensor channels in raw units, whose class is set by an event in their middle.

    Channels (:data:`SENSOR_CHANNELS`): pressure near 1e5 Pa, vibration near 0.01 g, temperature
    near 20 °C, humidity near 45 %, voltage near 230 V, speed near 3000 rpm; each sequence has its
    own level (the channel's typical level moved by 3 noise stds at most) plus Gaussian noise at
    every step. Lengths are uniform in ``[min_length, max_length]``. In the middle eighth of each
    sequence (at least 3 steps, centred) an event may happen:

    * class 0: no event;
    * class 1: pressure, temperature and speed rise, and vibration rises by 8 of its noise stds;
    * class 2: the same rises, but vibration falls by 8 of its noise stds.

    Telling 1 from 2 takes the 0.01-scale vibration channel beside the 1e5-scale pressure, and
    remembering the event from the middle to the end: raw, the channels' scales differ by 1e7
    (:func:`feature_scale_warning` says so); standardised, it is an easy task.

    Returns
    -------
    X : list of n arrays (T_i, 6)
    y : ndarray, (n,) int64 in [0, 3)
    """
    if not 3 <= min_length <= max_length:
        raise ValueError(f"need 3 <= min_length <= max_length; got {min_length}, {max_length}")
    rng = np.random.default_rng(seed)
    level = np.array([c[2] for c in SENSOR_CHANNELS])
    noise = np.array([c[3] for c in SENSOR_CHANNELS])
    event = np.array([c[4] for c in SENSOR_CHANNELS]) * noise
    X, y = [], rng.integers(0, 3, n).astype(np.int64)
    for i in range(n):
        L = int(rng.integers(min_length, max_length + 1))
        own = level + noise * rng.uniform(-3, 3, 6)
        x = own + noise * rng.standard_normal((L, 6))
        if y[i]:
            w = max(3, L // 8)
            start = (L - w) // 2
            x[start : start + w] += event
            x[start : start + w, 1] += (8.0 if y[i] == 1 else -8.0) * noise[1]
        X.append(x.astype(dtype))
    return X, y
