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
import warnings
from pathlib import Path

import numpy as np

from ..ops import mse_backward, mse_forward, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.device import to_host
from .generators import SENSOR_CHANNELS, marker_sequences, sensor_sequences
from .inputs import (
    SCALE_LARGE,
    SCALE_RATIO,
    SCALE_SMALL,
    TAKES,
    ArrayDataError,
    _caller_stacklevel,
    _sequence_list_or_none,
    check_sample_weight,
    feature_scale_warning,
    pad_sequences,
    pad_targets,
    per_step_list,
    target_scale_warning,
)
from .labels import _label_indices, check_targets, infer_kind

#: The keys of a ``train arrays`` data file.
NPZ_KEYS = ("x", "y", "lengths", "x_test", "y_test", "lengths_test")

#: Fraction of the samples held out for testing when no test arrays are given.
TEST_FRACTION = 0.2

#: The run folder's file of class names (a ``train arrays`` run whose labels were strings).
CLASSES_FILE = "classes.npy"

#: ``train arrays --task`` -> the task's kind.
KINDS = {"classification": "classify", "regression": "regress"}


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
        return xb, yb, _padded(L, Tb)

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


def _padded(L: np.ndarray, Tb: int):
    """A batch's lengths, or None when every sequence fills its Tb steps: the model and the loss then
    take their path without padding (no masked copies, the last step read as ``x[-1]``, a reversal as
    ``x[::-1]``), the same values (batch norm's statistics to rounding)."""
    return None if bool((L == Tb).all()) else L


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
        p = to_host(model.forward(xb, train=False, lengths=_padded(L, Tb))[0])  # [0]: the caches go now
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
    if kind == "regress" and (message := target_scale_warning(y, lens, name=ny)) is not None:
        warnings.warn(message, UserWarning, stacklevel=_caller_stacklevel())
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


# This module's names, and those of the modules it gathers (the sequences as given, their labels,
# the generators), importable from here as before the split.
__all__ = [
    "ArrayDataError",
    "ArrayTask",
    "CLASSES_FILE",
    "EVAL_CHUNK",
    "KINDS",
    "NPZ_KEYS",
    "NpzShape",
    "SCALE_LARGE",
    "SCALE_RATIO",
    "SCALE_SMALL",
    "SENSOR_CHANNELS",
    "TAKES",
    "TEST_FRACTION",
    "arrays_task",
    "check_sample_weight",
    "check_targets",
    "class_probabilities",
    "feature_scale_warning",
    "target_scale_warning",
    "infer_kind",
    "load_npz",
    "marker_sequences",
    "npz_shape",
    "pad_sequences",
    "pad_targets",
    "per_step_list",
    "predict",
    "read_npz",
    "sensor_sequences",
    "task_from_npz",
]
