"""From a configuration to the objects of a run: task, model, optimizer, schedule."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..dynamics import relu_u_max
from ..nn import (
    SGD,
    Adam,
    ReduceOnPlateau,
    StepDecay,
    build_baseline,
    build_dense_indrnn,
    build_indrnn,
    set_stateful,
)
from ..ops.device import assign
from ..tasks import STATEFUL, make_task
from .config import ConfigError, TrainConfig, parse_widths
from .rundir import CheckpointError

_NAMES = {"indrnn": "IndRNN", "rnn-tanh": "RNN (tanh)", "irnn": "IRNN", "lstm": "LSTM"}


def model_label(cfg: TrainConfig) -> str:
    """'2 x 128 IndRNN', '1 x 128 LSTM', '128, 1 IndRNN', 'dense IndRNN (3,3,3, k=16)', ..."""
    if cfg.dense_blocks is not None:
        return f"dense IndRNN (blocks {cfg.dense_blocks}, k={cfg.growth})"
    widths = cfg.layer_widths()
    if len(set(widths)) == 1:
        return f"{len(widths)} x {widths[0]} {_NAMES[cfg.model]}"
    return f"{', '.join(map(str, widths))} {_NAMES[cfg.model]}"


def task_of(cfg: TrainConfig):
    """The task object of a config (loads its data).

    Raises ConfigError when task ``arrays``'s data file no longer has the config's T (its longest
    sequence: the model's u bound and batch norm's steps were sized for it).
    """
    task = make_task(
        cfg.task,
        T=cfg.T,
        batch=cfg.batch,
        test_size=cfg.test_size,
        shift=cfg.shift,
        data=cfg.data,
        dtype=np.dtype(cfg.dtype).type,
        kind=cfg.task_type,
    )
    if cfg.task == "arrays" and task.T != cfg.T:
        raise ConfigError(
            f"T comes from the data for task arrays: {cfg.data} has sequences of up to {task.T} steps; "
            f"the configuration has T = {cfg.T}"
        )
    return task


def resolved_pool(pool: str, head: str) -> str:
    """The pool a model is built with: ``pool`` itself, or for ``"auto"`` (the ``arrays`` recipe's, and
    so the estimators' default) ``"max"`` with one target per sequence (``head="last"``) and no pool
    (``"last"``: each step's own output) with a target at every step.

    Why max: on the UCR/UEA data sets of ``benchmarks/ucr.py`` (defaults otherwise, the published
    splits) max pooling did as well as the last step or better on every classification set
    (GunPoint 0.987 against 0.687, ArrowHead 0.663 against 0.537, JapaneseVowels 0.981 against 0.959,
    BasicMotions 1.0 both; results/ucr.md): evidence anywhere in a sequence reaches the head directly.
    The evidence is from classification; on the one regression set (Tecator) the three pools ended
    within 0.3 of each other in RMSE (10.9 to 11.2), so regression takes the same rule.
    """
    if pool != "auto":
        return pool
    return "max" if head == "last" else "last"


def model_of(cfg: TrainConfig, task):
    """The model of a config for ``task``, built for ``cfg.backend`` (the model keeps it:
    :attr:`indrnn_np.nn.Sequential.backend`; with ``"cuda"`` it is built on the GPU).

    Raises
    ------
    CudaUnavailableError
        ``backend="cuda"`` where no CUDA target can run (before anything is built).
    ConfigError
        ``bn="frame"`` for a task whose sequences differ in length.
    """
    lengths = getattr(task, "lengths", None)
    if cfg.bn == "frame" and lengths is not None and len(np.unique(lengths)) > 1:
        raise ConfigError(
            "bn frame takes statistics per step over the sequences that have it, and sequences of "
            "different lengths leave a step with one value: use bn time for variable lengths"
        )
    pool = resolved_pool(cfg.pool, task.head)
    if pool != "last" and task.head != "last":
        raise ConfigError(
            f"pool {cfg.pool} pools each sequence into one output, but {cfg.data or cfg.task} has a target "
            "at every step (a head on every step): leave pool auto (the default) or last",
            "pool",
        )
    dtype = np.dtype(cfg.dtype).type
    if cfg.model != "indrnn":
        return build_baseline(
            cfg.model,
            task.inputs,
            task.outputs,
            hidden=cfg.layer_widths(),
            head=task.head,
            pool=pool,
            seed=cfg.seed,
            dtype=dtype,
            backend=cfg.backend,
        )
    shared = dict(
        bn=cfg.bn,
        dropout=cfg.dropout,
        head=task.head,
        pool=pool,
        activation=cfg.activation,
        backend=cfg.backend,
        gamma=cfg.gamma,
        seed=cfg.seed,
        dtype=dtype,
    )
    if cfg.dense_blocks is not None:
        blocks = parse_widths(cfg.dense_blocks, "dense_blocks")
        model = build_dense_indrnn(
            cfg.T, task.inputs, task.outputs, blocks=blocks, growth=cfg.growth, hidden=cfg.hidden, **shared
        )
    else:
        widths = cfg.layer_widths()
        model = build_indrnn(
            cfg.T,
            task.inputs,
            task.outputs,
            hidden=widths,
            layers=len(widths),
            residual=cfg.residual,
            bn_position=cfg.bn_position,
            bidirectional=cfg.bidirectional,
            **shared,
        )
    if cfg.task in STATEFUL:
        set_stateful(model, cfg.batch)  # states where the model lives
    return model


def optimizer_of(cfg: TrainConfig, model):
    """SGD or Adam over the model's parameters, projecting u into the config's range; the update
    kernels are the model's backend's (:attr:`indrnn_np.nn.Sequential.backend`)."""
    u_max = None if cfg.u_constraint == "none" else relu_u_max(cfg.T, cfg.gamma)
    kw = dict(
        weight_decay=cfg.weight_decay,
        u_max=u_max,
        u_nonnegative=cfg.u_constraint == "nonnegative",
        backend=model.backend,
    )
    if cfg.optimizer == "adam":
        return Adam(model.params, lr=cfg.lr, **kw)
    return SGD(model.params, lr=cfg.lr, momentum=cfg.momentum, **kw)


def schedule_of(cfg: TrainConfig):
    """The learning-rate schedule, or None."""
    if cfg.schedule == "step":
        return StepDecay(cfg.lr, cfg.decay_every)
    if cfg.schedule == "plateau":
        return ReduceOnPlateau(cfg.lr, patience=cfg.plateau_patience)
    return None


def restore(model, opt, task, arrays: dict, meta: dict, where) -> None:
    """Load a checkpoint into ``model``, ``opt`` and ``task`` (built from the same config).

    Raises CheckpointError naming ``where`` when an array is missing or of the wrong shape.
    """
    for prefix, target in (("param/", model.params), ("buffer/", model.buffers)):
        for name, arr in target.items():
            key = prefix + name
            if key not in arrays or arrays[key].shape != arr.shape:
                raise CheckpointError(f"{where}: {key} missing or of the wrong shape for this model")
            assign(arr, arrays[key])
    if set(meta["rng_layers"]) != set(model.rng_states()):
        raise CheckpointError(
            f"{where}: random-generator state for layers {sorted(meta['rng_layers'])}, "
            f"this model has {sorted(model.rng_states())}"
        )
    try:
        opt.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("opt/")})
        model.set_rng_states(meta["rng_layers"])
        if hasattr(task, "load_state_dict"):
            task.load_state_dict(meta["task"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"{where}: optimizer, random-generator or task state does not fit ({exc})"
        ) from None


def load_model(run, *, backend: str | None = None) -> tuple:
    """``(model, cfg, task, step)`` of a run folder's checkpoint (``run``: a RunDir).

    ``backend``: build the model for this backend instead of the run's (a run trained on the GPU
    read on the host with ``"cpu"``); the returned cfg says which was used. RunDirError for a run
    trained from objects (no TrainConfig to build from).
    """
    arrays, meta = run.load_checkpoint()
    cfg = run.config_of(meta)  # RunDirError for a run of objects
    where = run.file(run.CHECKPOINT)
    folder, ckpt = run.read_record(), meta.get("record")
    if folder is not None and (ckpt is None or ckpt.get("id") != folder.get("id")):
        raise CheckpointError(
            f"{where} belongs to another run than the one {run.path} holds (its run.json): it was not loaded"
        )
    if backend is not None:
        cfg = dataclasses.replace(cfg, backend=backend)
    task = task_of(cfg)
    trained = (ckpt or {}).get("task", {}).get("description")
    if trained is not None and getattr(task, "description", trained) != trained:
        raise CheckpointError(
            f"{run.path}: the run's data changed since it was trained ({trained}; now "
            f"{task.description}): its test metric and predictions would be another data set's; "
            "put the run's data back, or train a new run on these data"
        )
    model = model_of(cfg, task)
    restore(model, optimizer_of(cfg, model), task, arrays, meta, run.file(run.CHECKPOINT))
    return model, cfg, task, meta["step"]
