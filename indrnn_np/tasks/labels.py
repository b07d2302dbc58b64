"""Layer 4: the targets of the user's sequences: classification or regression, labels encoded, targets
checked against the sequences they belong to.
"""

from __future__ import annotations

import numpy as np

from .inputs import ArrayDataError, _as_float, per_step_list


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
