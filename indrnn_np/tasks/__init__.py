"""Layer 4: data, losses and metrics for the paper's tasks, and the protocol every task follows.

What the training loop asks of a task is :class:`Task`. The paper's tasks
(:class:`~indrnn_np.tasks.adding.AddingTask`, :class:`~indrnn_np.tasks.mnist.MNISTTask`,
:class:`~indrnn_np.tasks.ptb.PTBCharTask`) follow it, and add ``inputs``,
``outputs`` and ``head`` ("last" or "all"), which the command line's model
builder reads.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Task(Protocol):
    """What :func:`indrnn_np.train.train` asks of a task: training batches, a loss, an evaluation.

    Any object with these members is a task; nothing needs to inherit from this class.

    Attributes
    ----------
    metric : str
        The name of the test metric, the key of :meth:`evaluate`'s result and a column of the run's
        metrics.csv (:func:`indrnn_np.train.metric_columns`). **Lower is better** (an error, an
        MSE, bits per character): comparisons of runs take the minimum as the best, so report an
        error rather than an accuracy.

    Optional members, used when present:

    * ``name`` (str) and ``description`` (str): logged at the start and stored in the
      checkpoint and summary of a run of objects;
    * ``baseline`` (float): the metric of a trivial predictor, logged and drawn on the curve;
    * ``state_dict() -> dict`` / ``load_state_dict(dict)``: JSON-able state the task changes
      while training (a position in a text), saved in each checkpoint and restored on resume;
      batches drawn only from the ``rng`` the loop passes need none, as the loop saves that;
    * ``artifacts() -> {file name: ndarray}``: arrays saved once into the run folder at its start
      (pmnist's permutation);
    * ``T`` (int) and ``rehearsal(T) -> task``: the sequence length, and a copy of the task with
      sequences of ``T`` steps (the same batch shapes otherwise, sharing the data where it can),
      which the memory check rehearses the run on (:mod:`indrnn_np.train.memory`); a task without
      them is not checked;
    * ``eval_chunk`` (int): sequences per forward pass of :meth:`evaluate`, where it goes in chunks.
    """

    metric: str

    def train_batch(self, rng: np.random.Generator, batch: int) -> tuple:
        """One training batch.

        Parameters
        ----------
        rng : numpy.random.Generator
            The loop's data generator (saved in checkpoints: a resumed run draws the same batches).
        batch : int
            B, the batch size.

        Returns
        -------
        (x, y) or (x, y, lengths)
            ``x`` (T, B, M) time-major; ``y`` the targets as :meth:`loss_forward` takes them;
            ``lengths`` an int array (B,) of each sequence's valid steps, or None (all T).
        """
        ...

    def loss_forward(self, pred, y, lengths=None) -> tuple:
        """``(loss, cache)`` of the model's output ``pred`` against ``y`` (the mean over the batch);
        ``lengths`` is passed only when :meth:`train_batch` gave one (e.g.
        :func:`indrnn_np.ops.mse_forward`, :func:`indrnn_np.ops.softmax_cross_entropy_forward`)."""
        ...

    def loss_backward(self, dloss, cache):
        """``dpred``, the gradient of the loss for the model's output, from ``cache``
        (e.g. :func:`indrnn_np.ops.mse_backward`)."""
        ...

    def evaluate(self, model, full: bool = False) -> dict:
        """``{metric: value}`` on held-out data, in inference mode (``model.forward(x, train=False)``).

        ``full=False`` (during training) may use a part of the test set for speed; ``full=True``
        (``evaluate`` of a finished run) the whole of it. A model on the GPU returns device arrays:
        :func:`indrnn_np.ops.device.to_host` brings them back.
        """
        ...


#: The members every task has (:class:`Task`); the loop refuses an object without one.
TASK_MEMBERS = ("metric", "train_batch", "loss_forward", "loss_backward", "evaluate")

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


def make_task(
    name: str,
    *,
    T: int,
    batch: int,
    test_size: int,
    shift: int = 0,
    data=None,
    dtype=np.float32,
    kind: str | None = None,
):
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
    kind : {"classification", "regression"}, optional
        ``arrays`` only: what y is (``train arrays --task``); None: from y
        (:func:`indrnn_np.tasks.arrays.infer_kind`).

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

        return task_from_npz(data, dtype=dtype, kind=kind)
    raise ValueError(f"task must be one of {', '.join(TASKS)}; got {name!r}")
