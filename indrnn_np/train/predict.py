"""A trained run's predictions for new sequences, written to ``.npy`` or ``.csv`` (``python -m indrnn_np predict``).

Any run folder trained from a configuration works: ``train arrays`` runs and
the paper's tasks. The sequences come from a ``.npz`` file whose ``x`` is
what the network reads, samples first ``(n, T, M)`` (or ``(n, T)`` for one
feature), with optional ``lengths`` (n,): for the adding problem the
(value, marker) pairs, for pixel MNIST the scaled pixels ``(n, 784)``. Other
keys of a ``train arrays`` file (``y``, the test arrays) are read as that
file's and ignored here.

What is written, in the order of ``x``:

* classification (a run whose metric is the test error): predicted class
  indices, ``(n,)`` per sequence or ``(n, T)`` per step (-1 in the padding);
  for a ``train arrays`` run whose labels were strings, the class names instead
  (the run's ``classes.npy``; ``""`` in the padding);
* classification with ``proba=True`` (``predict --proba``): the class
  probabilities, ``(n, C)`` per sequence or ``(n, T, C)`` per step (NaN in the
  padding), column k the probability of the run's class k (the class names,
  in the order of ``classes.npy``, or 0..C-1);
* regression: the predicted values, ``(n, K)`` per sequence or ``(n, T, K)``
  per step (NaN in the padding), the K axis dropped when K = 1.

A ``.csv`` file has one row per sequence (``sequence,class`` or
``sequence,value`` / ``sequence,y0,y1,...``; with probabilities
``sequence,NAME0,NAME1,...``, the class names as the header), or for
per-step outputs one row per real step (``sequence,step,...``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import atomic_write
from ..report import check_writable_file
from ..tasks import STATEFUL
from ..tasks.arrays import (
    CLASSES_FILE,
    EVAL_CHUNK,
    ArrayDataError,
    class_probabilities,
    pad_sequences,
    predict,
    read_npz,
)
from .build import load_model
from .memory import array_bytes, check_fits, estimate_prediction
from .rundir import RunDir

#: The formats ``predict`` writes.
FORMATS = (".npy", ".csv")


class PredictError(UserError):
    """An output that cannot be written (an existing file, an unknown format) or a run that cannot predict."""


def predict_run(run_dir, data, out, *, batch: int = EVAL_CHUNK, proba: bool = False) -> dict:
    """Predict the sequences of the ``.npz`` file ``data`` with the run's checkpoint; write ``out``.

    Parameters
    ----------
    run_dir : path
        A run folder trained from a configuration (``train TASK``).
    data : path
        A ``.npz`` file with ``x`` (n, T, M) or (n, T) and optional ``lengths`` (n,).
    out : path
        A new ``.npy`` or ``.csv`` file (an existing one is never overwritten).
    batch : int
        Sequences per forward pass.
    proba : bool
        Write the class probabilities instead of the most probable class (a classification run).

    Returns
    -------
    dict
        ``{"n": sequences, "out": path, "kind": "classes" | "probabilities" | "values",
        "per_step": bool, "task": ..., "step": the checkpoint's step, "columns": the class of each
        column (probabilities only)}``.

    Raises
    ------
    PredictError
        ``out`` exists or is not ``.npy`` / ``.csv``; a stateful (ptb-char) run; ``proba`` for a
        regression run.
    OutputError
        ``out`` cannot be written.
    ArrayDataError
        A bad data file (missing ``x``, wrong shapes, NaN in a real step, lengths out of range,
        an unknown key), or ``x`` with another feature count than the run's model; named by key.
    RunDirError, CheckpointError
        No readable checkpoint, or a run of objects (no configuration to rebuild the model from).
    MemoryTooLarge
        The prediction's estimated peak memory exceeds what is available.
    """
    if not isinstance(proba, bool | np.bool_):
        raise TypeError(f"proba must be True or False; got {proba!r}")
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise PredictError(f"--out {out}: its name must end in .npy or .csv")
    if os.path.lexists(out):
        raise PredictError(f"{out} exists: predict never overwrites a file; choose another --out")
    check_writable_file(out)
    run = RunDir(run_dir)
    cfg = run.read_config()  # RunDirError for a run of objects or no checkpoint
    if cfg.task in STATEFUL:
        raise PredictError(
            f"{run.path} holds a {cfg.task} run: a stateful language model carries its state from batch "
            "to batch, so predict (whole sequences) does not apply"
        )
    a = read_npz(data, need_y=False)
    x, lengths = pad_sequences(
        a["x"],
        a.get("lengths"),
        name=f"{data}: x",
        lengths_name=f"{data}: lengths",
        dtype=np.dtype(cfg.dtype).type,
    )
    try:
        model, cfg, task, step = load_model(run)
    except ArrayDataError as exc:
        if cfg.task != "arrays":
            raise
        raise ArrayDataError(
            f"{run.path} is a run of task arrays, whose network is rebuilt from its training file "
            f"(its features, classes and head): {exc}"
        ) from None
    if x.shape[2] != task.inputs:
        raise ArrayDataError(
            f"{data}: x must have M = {task.inputs} features per step, as the run's {cfg.task} model reads; "
            f"got {x.shape[2]} (x has shape {a['x'].shape})"
        )
    per_step = task.head == "all"
    classes = task.metric == "test_error"
    if proba and not classes:
        raise PredictError(
            f"--proba writes class probabilities, but {run.path} is a regression run ({cfg.task}, metric "
            f"{task.metric}): leave out --proba for its values"
        )
    # after the cheap checks (the data's features, --proba): a rehearsal of the prediction takes seconds
    held = array_bytes(a["x"], x, model, task)  # read and loaded: the process's RSS holds them
    check_fits(estimate_prediction(cfg, x.shape[0], x.shape[1], x.shape[2], resident=held))
    pred = predict(model, x, lengths, batch=batch, head=task.head)
    real = np.arange(x.shape[1])[None, :] < lengths[:, None]
    columns = None
    if proba:
        names = _class_names(run, task)
        columns = [str(c) for c in (names if names is not None else range(pred.shape[-1]))]
        values = class_probabilities(pred)
        if per_step:
            values[~real] = np.nan
        _write(out, values, lengths, per_step, False, columns)
    elif classes:
        values = np.argmax(pred, axis=-1).astype(np.int64)
        names = _class_names(run, task)
        if names is not None:
            values = names[values]
            if per_step:
                values[~real] = "" if names.dtype.kind == "U" else -1
        elif per_step:
            values[~real] = -1
    else:
        values = pred
        if per_step:
            values[~real] = np.nan
        if values.shape[-1] == 1:
            values = values[..., 0]
    if not proba:
        _write(out, values, lengths, per_step, classes)
    return {
        "n": int(x.shape[0]),
        "out": str(out),
        "kind": "probabilities" if proba else "classes" if classes else "values",
        "per_step": per_step,
        "task": cfg.task,
        "step": int(step),
        **({"columns": columns} if proba else {}),
    }


def _class_names(run: RunDir, task):
    """The run's class labels (``classes.npy``, saved when they were strings or integers other than
    0..C-1), or None: the indices are the labels."""
    path = run.file(CLASSES_FILE)
    if not path.exists():
        return None
    try:
        names = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PredictError(f"{path}: not a readable array of class names ({exc})") from None
    outputs = getattr(task, "outputs", None)
    if names.ndim != 1 or names.dtype.kind not in "USiu" or (outputs is not None and len(names) != outputs):
        raise PredictError(
            f"{path}: must hold the run's {outputs} class labels (strings or integers); got {names.dtype} "
            f"{names.shape}"
        )
    return names if names.dtype.kind in "iu" else names.astype(str)


def _write(out: Path, values: np.ndarray, lengths, per_step: bool, classes: bool, columns=None) -> None:
    """Write ``values`` to a new file, whole or not at all (:func:`indrnn_np.files.atomic_write`,
    exclusive: nothing is overwritten, even in a race; a kill mid-write leaves no partial file)."""

    def write(fh):
        if out.suffix.lower() == ".npy":
            np.save(fh, values, allow_pickle=False)
        else:
            fh.write(_csv(values, lengths, per_step, classes, columns).encode())

    try:
        atomic_write(out, write, exclusive=True)
    except FileExistsError:
        raise PredictError(f"{out} exists: predict never overwrites a file; choose another --out") from None


def _csv(values: np.ndarray, lengths, per_step: bool, classes: bool, columns=None) -> str:
    """One row per sequence, or per real step: ``sequence[,step],class|value|y0,y1,...``, or the
    ``columns``' names (class probabilities) as the header."""
    width = 1 if values.ndim == (2 if per_step else 1) else values.shape[-1]
    names = ["class"] if classes else ["value"] if width == 1 else [f"y{k}" for k in range(width)]
    if columns is not None:
        names = [_csv_cell(c) for c in columns]
    lines = [",".join(["sequence", *(["step"] if per_step else []), *names])]
    fmt = _csv_cell if values.dtype.kind == "U" else ("{:d}" if classes else "{:.9g}").format
    for i in range(values.shape[0]):
        rows = [(t, values[i, t]) for t in range(int(lengths[i]))] if per_step else [(None, values[i])]
        for t, v in rows:
            cells = [fmt(c.item()) for c in np.atleast_1d(v)]
            lines.append(",".join([str(i), *([str(t)] if per_step else []), *cells]))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    """A class name as a CSV cell: quoted (quotes doubled) when it holds a comma, a quote or a line break."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
