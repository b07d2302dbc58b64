"""Layer 4: data, losses and metrics for the paper's tasks.

Every task object has ``inputs``, ``outputs``, ``head`` ("last" or "all"),
``metric`` (the name of its test metric), ``train_batch(rng, B) -> (x, y)``
with x of shape (T, B, inputs), ``loss_forward`` / ``loss_backward`` and
``evaluate(model, full=False) -> {metric: value}``.
"""

from __future__ import annotations

import numpy as np

#: Task name -> what it is.
TASKS: dict[str, str] = {
    "adding": "the adding problem (Hochreiter & Schmidhuber), T steps",
    "mnist": "pixel MNIST, 784 steps of one pixel",
    "pmnist": "permuted pixel MNIST (one fixed permutation)",
    "rowmnist": "row-by-row MNIST, 28 steps of 28 pixels",
    "ptb-char": "char-level Penn Treebank, stateful language modelling",
    "arrays": "your own sequences from an .npz file (x, y, optional lengths and test arrays)",
}

#: Tasks whose sequence length is fixed by the data.
FIXED_T: dict[str, int] = {"mnist": 784, "pmnist": 784, "rowmnist": 28}

#: Tasks that carry the recurrent state from batch to batch (truncated BPTT).
STATEFUL: frozenset[str] = frozenset({"ptb-char"})


def make_task(name: str, *, T: int, batch: int, test_size: int, shift: int = 0, data=None, dtype=np.float32):
    """The task object ``name`` (one of :data:`TASKS`), loading its data.

    Parameters
    ----------
    name : str
    T : int
        Sequence length (the adding problem and PTB; fixed for MNIST).
    batch : int
        Streams of the stateful language model (PTB); unused elsewhere.
    test_size : int
        Test sequences (adding), test images monitored during training
        (MNIST), or test characters monitored during training (PTB).
    shift : int
        MNIST only: random translation of training images, in pixels.
    data : path, optional
        Folder of the data files (MNIST IDX, PTB text); for ``arrays``, the ``.npz`` file
        (:func:`indrnn_np.tasks.arrays.task_from_npz`).
    dtype : float32 or float64

    Raises
    ------
    ValueError
        Unknown task name. :class:`indrnn_np.tasks.data.DataError` (a
        ValueError) when the data cannot be read.
    """
    if name == "adding":
        from .adding import AddingTask

        return AddingTask(T, test_size, dtype=dtype)
    if name in FIXED_T:
        from .mnist import MNISTTask

        return MNISTTask(name, data=data, test_size=test_size, shift=shift, dtype=dtype)
    if name == "ptb-char":
        from .ptb import PTBCharTask

        return PTBCharTask(T, batch, data=data, test_chars=test_size, dtype=dtype)
    if name == "arrays":
        from .arrays import task_from_npz

        return task_from_npz(data, dtype=dtype)
    raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
