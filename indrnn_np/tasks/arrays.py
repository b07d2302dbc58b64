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

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ..ops import mse_backward, mse_forward, softmax_cross_entropy_backward, softmax_cross_entropy_forward
from ..ops.device import to_host
from .data import DataError

#: The keys of a ``train arrays`` data file.
NPZ_KEYS = ("x", "y", "lengths", "x_test", "y_test", "lengths_test")

#: Fraction of the samples held out for testing when no test arrays are given.
TEST_FRACTION = 0.2


class ArrayDataError(DataError):
    """User arrays (or an ``.npz`` file's) of the wrong shape, type or values; the message names the array."""


# --------------------------------------------------------------------------
# Checking and padding the user's arrays
# --------------------------------------------------------------------------


def pad_sequences(X, lengths=None, *, name: str = "X", lengths_name: str = "lengths", dtype=np.float32):
    """Samples-first padded sequences ``(n, T, M)`` and their lengths ``(n,)`` from what a user gives.

    Parameters
    ----------
    X : array-like (n, T, M) or (n, T), or a sequence of (T_i, M) or (T_i,) arrays
        A list of sequences of different lengths is padded with zeros to the
        longest; a 2-D array is n sequences of one feature.
    lengths : int array-like (n,), optional
        Real steps of each row of an array X (1 <= lengths[i] <= T); default:
        every row is T long. Not with a list (its lengths are the arrays').
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
        Not numbers, an empty set, sequences of different feature counts, a NaN or
        infinite value in a real step, lengths out of range.
    """
    if isinstance(X, list | tuple):
        if lengths is not None:
            raise ArrayDataError(
                f"{lengths_name} is for a padded array {name}; a list of sequences has its own lengths"
            )
        seqs = [_as_float(s, f"{name}[{i}]") for i, s in enumerate(X)]
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
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3 or 0 in x.shape:
            raise ArrayDataError(
                f"{name} must be (n, T, M) (samples first), (n, T), or a list of (T_i, M) arrays; "
                f"got shape {x.shape}"
            )
        n, T = x.shape[:2]
        if lengths is None:
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
        x = x.astype(dtype, copy=True)
        x[np.arange(T)[None, :] >= lens[:, None]] = 0  # the padding's values, whatever they were
    real = np.arange(x.shape[1])[None, :] < lens[:, None]
    bad = ~np.isfinite(x) & real[..., None]
    if bad.any():
        i, t, m = (int(v[0]) for v in np.nonzero(bad))
        raise ArrayDataError(f"{name} has a NaN or infinite value in a real step: {name}[{i}, {t}, {m}]")
    return x, lens


def _as_float(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ArrayDataError(f"{name} cannot be read as a numeric array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ArrayDataError(f"{name} must hold numbers; got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


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

    Attributes
    ----------
    inputs, outputs, head, metric, baseline, description, T
        As every task's (:mod:`indrnn_np.tasks`); ``metric`` is ``"test_error"``
        (classification) or ``"test_mse"``.
    """

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
    ):
        if kind not in ("classify", "regress"):
            raise ValueError(f"kind must be 'classify' or 'regress'; got {kind!r}")
        self.kind, self.name = kind, name
        self.dtype = x.dtype.type
        n = len(x)
        if x_test is None:
            if n < 2:
                raise ArrayDataError(f"need at least 2 sequences to hold some out for testing; got {n}")
            order = np.random.default_rng(seed).permutation(n)
            n_test = min(n - 1, max(1, round(test_fraction * n)))
            test, train = order[:n_test], order[n_test:]
            x_test, y_test, lengths_test = x[test], y[test], lengths[test]
            x, y, lengths = x[train], y[train], lengths[train]
            split = f"{len(train)} train / {n_test} held out (seed {seed})"
        else:
            split = f"{n} train / {len(x_test)} test"
        self.x, self.y, self.lengths = x, y, lengths
        self.x_test, self.y_test, self.lengths_test = x_test, y_test, lengths_test
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
            counts = np.bincount(_real(y, lengths, per_step), minlength=self.outputs)
            majority = int(np.argmax(counts))
            self.baseline = float(np.mean(_real(y_test, lengths_test, per_step) != majority))
        else:
            self.outputs = y.shape[-1] if outputs is None else int(outputs)
            self.metric = "test_mse"
            self.loss_forward = mse_forward
            self.loss_backward = mse_backward
            mean = _real(y, lengths, per_step).mean(axis=0)
            self.baseline = float(np.mean((_real(y_test, lengths_test, per_step) - mean) ** 2))
        spread = f"lengths {int(lengths.min())}..{int(lengths.max())}"
        self.description = (
            f"{source}: {split} sequences, {spread}, {self.inputs} features, "
            f"data {_fingerprint(x, y, lengths, x_test, y_test, lengths_test)}"
        )

    def _batch(self, x, y, lengths, idx):
        L = lengths[idx]
        Tb = int(L.max())  # cut to the batch's longest sequence
        xb = np.ascontiguousarray(x[idx, :Tb].transpose(1, 0, 2))  # time-major (Tb, B, M)
        yb = y[idx]
        if self.head == "all":
            yb = np.ascontiguousarray(np.swapaxes(yb[:, :Tb], 0, 1))  # (Tb, B[, K])
        return xb, yb, L

    def train_batch(self, rng: np.random.Generator, B: int):
        """``(x (T_b, B, M), y, lengths (B,))``: B random training sequences, cut to the longest of them."""
        idx = rng.integers(0, len(self.x), B)
        return self._batch(self.x, self.y, self.lengths, idx)

    def evaluate(self, model, *, full: bool = True, batch: int = 256) -> dict:
        """The test error or MSE over the whole test set (real steps only; inference mode)."""
        pred = predict(model, self.x_test, self.lengths_test, batch=batch, head=self.head)
        per_step = self.head == "all"
        real_pred = _real(pred, self.lengths_test, per_step)
        real_y = _real(self.y_test, self.lengths_test, per_step)
        if self.kind == "classify":
            return {"test_error": float(np.mean(np.argmax(real_pred, axis=-1) != real_y))}
        return {"test_mse": float(np.mean((real_pred - real_y) ** 2))}


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


def predict(model, x, lengths, *, batch: int = 256, head: str = "last") -> np.ndarray:
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
) -> ArrayTask:
    """An :class:`ArrayTask` from what a user gives, every array checked and padded.

    Parameters
    ----------
    X, y, lengths
        As :func:`pad_sequences` and :func:`check_targets`.
    X_test, y_test, lengths_test : optional
        A test set; without it a seeded ``test_fraction`` of the samples is held out
        (``test_fraction=0``: the metric is measured on the training data itself).
    kind : {"classify", "regress"}, optional
        Default: classification when y holds integers.
    names : 6 str
        What the errors call the six arrays.

    Raises
    ------
    ArrayDataError
        A bad array, named.
    """
    nx, ny, nl, nxt, nyt, nlt = names
    x, lens = pad_sequences(X, lengths, name=nx, lengths_name=nl, dtype=dtype)
    if kind is None:
        first = np.asarray(y[0] if per_step_list(y, X) else y)
        kind = "classify" if first.dtype.kind in "iub" else "regress"
    if per_step_list(y, X):  # per-step targets of a list of sequences
        y = pad_targets(y, lens, x.shape[1], kind=kind, name=ny, x_name=nx)
    elif isinstance(X, list | tuple) and np.ndim(y) >= 2 and kind == "classify":
        y = np.asarray(y)  # per-step labels padded by the caller: what the padding holds is not a label
        if y.shape[:2] == x.shape[:2]:
            y = np.where(np.arange(x.shape[1])[None, :] < lens[:, None], y, 0)
    y, _, _ = check_targets(y, len(x), x.shape[1], lens, kind=kind, name=ny, dtype=dtype)
    if (X_test is None) != (y_test is None):
        raise ArrayDataError(f"{nxt} and {nyt} go together: give both or neither")
    if X_test is not None:
        xt, lt = pad_sequences(X_test, lengths_test, name=nxt, lengths_name=nlt, dtype=dtype)
        if xt.shape[2] != x.shape[2]:
            raise ArrayDataError(f"{nxt} must have M = {x.shape[2]} features, as {nx}; got {xt.shape[2]}")
        if per_step_list(y_test, X_test):
            y_test = pad_targets(y_test, lt, xt.shape[1], kind=kind, name=nyt, x_name=nxt)
        yt, _, _ = check_targets(y_test, len(xt), xt.shape[1], lt, kind=kind, name=nyt, dtype=dtype)
        if yt.ndim != y.ndim or (yt.ndim > 1 and kind == "regress" and yt.shape[-1] != y.shape[-1]):
            raise ArrayDataError(f"{nyt} must be shaped as {ny} (one target per sequence or per step)")
    elif test_fraction == 0:
        xt, yt, lt = x, y, lens
    else:
        xt = yt = lt = None
    return ArrayTask(
        x, y, lens, kind=kind, x_test=xt, y_test=yt, lengths_test=lt, outputs=outputs,
        test_fraction=test_fraction, seed=seed, source=source,
    )  # fmt: skip


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
    """A list X with a list y whose entries are arrays: per-step targets, one array per sequence."""
    return isinstance(X, list | tuple) and isinstance(y, list | tuple) and len(y) > 0 and np.ndim(y[0]) >= 1


def task_from_npz(path, *, dtype=np.float32) -> ArrayTask:
    """The task of ``train arrays --data FILE.npz``: keys as :func:`read_npz` says; classification when
    ``y`` holds integers. Without ``x_test``, a seeded fifth is held out for testing (seed 0)."""
    if path is None:
        raise ArrayDataError("task arrays needs its .npz file (--data FILE.npz)")
    return _task_of(path, read_npz(path), dtype)


def _task_of(path, a: dict, dtype) -> ArrayTask:
    try:
        return arrays_task(
            a["x"],
            a["y"],
            a.get("lengths"),
            X_test=a.get("x_test"),
            y_test=a.get("y_test"),
            lengths_test=a.get("lengths_test"),
            names=NPZ_KEYS,
            source=str(path),
            dtype=dtype,
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


def npz_shape(path) -> NpzShape:
    """The sizes of the task a ``.npz`` data file makes (every array checked, as :func:`task_from_npz`).

    Remembered for a file of the same path, size and modification time, so that a configuration,
    its memory estimate and the run read a large file's arrays once each at most. Raises
    ArrayDataError as :func:`task_from_npz`.
    """
    if path is None:
        raise ArrayDataError("task arrays needs its .npz file (--data FILE.npz)")
    try:
        st = Path(path).stat()
        key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None  # read_npz says what is wrong
    if key is not None and key in _SHAPES:
        return _SHAPES[key]
    a = read_npz(path)
    task = _task_of(path, a, np.float32)
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
