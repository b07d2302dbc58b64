"""Per-task defaults: CPU-sized versions of the paper's recipes.

A recipe overrides :class:`indrnn_np.train.config.TrainConfig`'s defaults
for one task; the user's options override the recipe. ``train TASK --help``
shows the values that result (:func:`defaults`). Task ``arrays`` takes T from
its data file (:func:`data_T`).
"""

from __future__ import annotations

import os

from .config import ConfigError, TrainConfig

# 6 x 128, BN after each layer's weights, dropout 0.1 (the paper). Adam at 1e-3 rather than the
# paper's 2e-4: at 300 steps of pixel MNIST it reached a training loss of 1.63 nats against 2.10 (test
# error 27 % against 59 %); chosen on the training loss. Random shifts of up to 2 pixels: the bundled
# subset has only 4,000 training images. Far fewer steps than the paper.
_MNIST = dict(
    T=784,
    layers=6,
    hidden=128,
    bn="time",
    bn_position="before",
    dropout=0.1,
    shift=2,
    batch=32,
    steps=10000,
    lr=1e-3,
    schedule="step",
    decay_every=6000,
    eval_every=500,
    test_size=500,
    checkpoint_every=500,
)

#: Task name -> the options that differ from TrainConfig's defaults.
RECIPES: dict[str, dict] = {
    "adding": {},
    "mnist": _MNIST,
    "pmnist": _MNIST,
    "rowmnist": {
        **_MNIST,
        "T": 28,
        "steps": 15000,
        "decay_every": 7500,
        "test_size": 1000,
        "checkpoint_every": 1000,
    },
    # Frame-wise BN and stateful training as the paper; width and depth sized for 2 cores.
    # gamma 1 (|u| <= 1): stateful training carries the state from batch to batch, so a sequence never
    # ends and the bound gamma^(1/T) for length T bounds nothing; with 2^(1/50) the run hit NaN at step 123.
    "ptb-char": dict(
        T=50,
        layers=3,
        hidden=256,
        bn="frame",
        bn_position="before",
        dropout=0.0,
        batch=32,
        steps=20000,
        lr=1e-3,
        gamma=1.0,
        eval_every=250,
        test_size=20000,
        checkpoint_every=250,
        schedule="plateau",
    ),
    # The user's own sequences (T comes from the data: :func:`recipe`). Sized for a small data set on
    # a CPU, hundreds to thousands of sequences of tens to hundreds of steps: batch 32; Adam at 1e-3
    # (as the MNIST recipes: the paper's 2e-4 is slow to start for a run of a few thousand steps);
    # 2000 steps; no schedule, since no decay step suits every data set (--schedule plateau
    # watches the training loss); an evaluation every 100 steps, as the whole test set is evaluated
    # each time and is small; a checkpoint every 500.
    "arrays": dict(
        pool="auto",  # max pooling for a target per sequence: train.build.resolved_pool says why
        batch=32,
        steps=2000,
        lr=1e-3,
        schedule="none",
        eval_every=100,
        checkpoint_every=500,
    ),
}

#: Options a task's data decide, with what ``train TASK --help`` shows as their default.
FROM_DATA: dict[str, dict[str, str]] = {
    "arrays": {"T": "the data's longest sequence; given, it must be that"}
}


def defaults(task: str) -> TrainConfig:
    """The task's recipe as a configuration, not validated (``train TASK --help`` shows it: a task whose
    data decide some options, such as ``arrays``, has no valid configuration without its data)."""
    if task not in RECIPES:
        raise ConfigError(f"task must be one of {', '.join(RECIPES)}; got {task!r}")
    return TrainConfig(task=task, **RECIPES[task])


def recipe(task: str, **overrides) -> TrainConfig:
    """The task's configuration with ``overrides``, validated.

    Raises
    ------
    ConfigError
        Unknown task, unknown option name, or a value that is not allowed.
    """
    if task not in RECIPES:
        raise ConfigError(f"task must be one of {', '.join(RECIPES)}; got {task!r}")
    values = {**RECIPES[task], **overrides}
    if isinstance(values.get("data"), str) and values["data"]:
        # the run keeps where its data is as an absolute path: evaluate, predict and --resume find it from
        # any folder they are started in
        values["data"] = os.path.abspath(values["data"])
    if task == "arrays" and values.get("data") is not None:
        values["T"] = data_T(values["data"], values.get("T"), kind=values.get("task_type"))
    try:
        cfg = TrainConfig(task=task, **values)
    except TypeError as exc:  # an unknown keyword
        raise ConfigError(str(exc)) from None
    return cfg.validate()


def data_T(path, T: int | None = None, *, kind: str | None = None) -> int:
    """T of task ``arrays``: the longest sequence of the ``.npz`` file ``path`` (the padded length of
    ``x`` or ``x_test``); ConfigError when a ``T`` is given and differs, ArrayDataError for a bad file
    (``kind``: ``--task``, as :func:`indrnn_np.tasks.arrays.task_from_npz` takes it)."""
    from ..tasks.arrays import KINDS, npz_shape

    if kind is not None and kind not in KINDS:
        raise ConfigError(f"task_type must be one of {', '.join(KINDS)}; got {kind!r}", "task_type")
    data = npz_shape(path, kind).T
    if T is not None and T != data:
        raise ConfigError(
            f"T comes from the data for task arrays: {path} has sequences of up to {data} steps "
            f"(the padded length of x, x_test); got T = {T} (leave --T out)"
        )
    return data
