"""Layer 4: the training step and the training loop (new runs and resumed ones).

A run's files are :class:`indrnn_np.train.rundir.RunDir`'s business; this
module decides what happens at each step: the batch, the step, evaluation,
metrics rows, checkpoints, Ctrl-C and divergence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import numbers
import os
import secrets
import signal
import threading
import time
from typing import NamedTuple

import numpy as np

from ..files import FileWriteError
from ..nn.models import leaf_layers
from ..nn.optim import device_step_stats, grad_norms, norm_scale
from ..ops import mse_backward, mse_forward
from ..ops.device import to_host
from ..tasks import TASK_MEMBERS
from ..threads import ThreadTuner
from ..timing import section
from .build import model_label, model_of, optimizer_of, restore, schedule_of, task_of
from .config import TrainConfig, flag, options
from .memory import check_fits, estimate_evaluation, estimate_objects, estimate_training
from .progress import Progress
from .rundir import CheckpointError, MemoryRun, RunChangedError, RunDir, RunDirError, metric_columns

# --------------------------------------------------------------------------
# One step
# --------------------------------------------------------------------------


class StepResult(NamedTuple):
    loss: float
    grad_norm: float  # global gradient norm before clipping
    finite: bool  # loss and every gradient finite


def train_step(
    model,
    opt,
    x,
    y,
    *,
    lengths=None,
    loss_forward=mse_forward,
    loss_backward=mse_backward,
    clip_value=None,
    clip_norm=None,
    update=True,
) -> StepResult:
    """One step: forward, loss, backward, optional clipping, optimizer update.

    Parameters
    ----------
    model : Sequential
    opt : Optimizer
        Owns ``model.params``; clips, updates and projects u in one pass over each parameter.
    x : ndarray, (T, B, M)
    y : ndarray
        Targets as ``loss_forward`` takes them.
    lengths : ndarray of int, (B,), optional
        Each sequence's valid steps; given, it is passed on as ``lengths=`` to
        ``model.forward`` and ``loss_forward`` (None: neither is given it).
    loss_forward, loss_backward : callables
        A loss pair, ``(loss, cache) = loss_forward(pred, y)``,
        ``dpred = loss_backward(1.0, cache)``.
    clip_value : float, optional
        Element-wise clamp of every parameter gradient
        (:func:`indrnn_np.nn.optim.clip_grad_elementwise`).
    clip_norm : float, optional
        Then rescale the whole (clamped) gradient to at most this global norm.
    update : bool
        False computes the loss and gradient norm without changing the model.

    Returns
    -------
    StepResult
        No update is made when the loss or a gradient is not finite.

    Notes
    -----
    The model's backend (:attr:`indrnn_np.nn.Sequential.backend`) decides
    where the step runs. A model on the GPU takes the whole step there: x is
    copied in (and y by the loss), and the one copy back to the host is the loss with the gradients' sums of squares
    (:func:`indrnn_np.nn.optim.device_step_stats`), which decide the clipping
    factor and whether to update.
    """
    backend = getattr(model, "backend", "cpu")  # the model's, decided where it was built
    kw = {} if lengths is None else {"lengths": lengths}
    with np.errstate(over="ignore", invalid="ignore"):
        pred, caches = model.forward(x, train=True, **kw)  # on the GPU, its forward copies x in
        loss, lcache = loss_forward(pred, y, **kw)
        _, grads = model.backward(loss_backward(1.0, lcache), caches, input_grad=False)
    with section("optimizer"):
        # one read of each gradient for both norms, then one pass over each parameter
        if backend == "cuda":
            loss, norm, clipped_norm = device_step_stats(loss, grads, clip_value)
        else:
            norm, clipped_norm = grad_norms(grads, clip_value, backend)
        finite = bool(np.isfinite(loss) and np.isfinite(norm))
        if update and finite:
            scale = 1.0 if clip_norm is None else norm_scale(clipped_norm, clip_norm)
            opt.step(grads, clip=clip_value, scale=scale)
    return StepResult(float(loss), norm, finite)


def mse_train_step(model, opt, x, y, **kw) -> StepResult:
    """:func:`train_step` with the MSE loss."""
    return train_step(model, opt, x, y, loss_forward=mse_forward, loss_backward=mse_backward, **kw)


# --------------------------------------------------------------------------
# Outcomes other than a finished run
# --------------------------------------------------------------------------


class TrainingDiverged(Exception):
    """The loss, a gradient or the test metric became NaN or inf.

    Attributes
    ----------
    step : int
        The step whose loss, gradient or evaluation was not finite.
    params : int
        The model's parameter count (a diverged run may leave no checkpoint to read it from).
    """

    def __init__(self, message: str, *, step: int, params: int):
        super().__init__(message)
        self.step, self.params = int(step), int(params)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C: a checkpoint of the last completed step was saved.

    A :class:`KeyboardInterrupt`, as the Ctrl-C it stands for: ``except Exception`` does not swallow it
    (scikit-learn's ``cross_val_score`` records a failed fit as NaN and goes on; a Ctrl-C stops it).
    """


# --------------------------------------------------------------------------
# A run's live state
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    run: RunDir
    task: object
    model: object
    opt: object
    schedule: object
    settings: dict  # steps, batch, clip_value, clip_norm, eval_every, checkpoint_every, seed, task
    cfg: TrainConfig | None = None  # None: a run of objects
    step: int = 0  # the last completed step
    saved: int | None = None  # the step of the last checkpoint written or resumed from
    elapsed0: float = 0.0  # seconds spent before this process
    acc: dict = dataclasses.field(default_factory=lambda: {"loss_sum": 0.0, "count": 0})
    data_rng: np.random.Generator = None
    words: dict | None = None  # the caller's settings in its own words (an estimator's keywords)
    record: dict = None  # run.json: the run's id and everything that changes its numbers

    def __post_init__(self):
        if self.data_rng is None:
            self.data_rng = np.random.default_rng(self.settings["seed"])
        if self.record is None:
            self.record = _record(self)

    steps = property(lambda self: self.settings["steps"])
    batch = property(lambda self: self.settings["batch"])
    clip_value = property(lambda self: self.settings["clip_value"])
    clip_norm = property(lambda self: self.settings["clip_norm"])
    eval_every = property(lambda self: self.settings["eval_every"])
    checkpoint_every = property(lambda self: self.settings["checkpoint_every"])

    @property
    def columns(self) -> list[str]:
        return metric_columns(self.task.metric)

    @property
    def backend(self) -> str:
        return getattr(self.model, "backend", "cpu")

    def config(self) -> dict | None:
        return self.cfg.to_dict() if self.cfg is not None else None

    def meta(self, step: int, elapsed: float) -> dict:
        meta = {
            "config": self.config(),
            "step": step,
            "elapsed_s": elapsed,
            "data_rng": self.data_rng.bit_generator.state,
            "acc": dict(self.acc),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "task": self.task.state_dict() if hasattr(self.task, "state_dict") else {},
            "record": self.record,
        }
        if self.cfg is None:  # a run of objects: what is known of it (its config is None)
            meta["run"] = dict(self.settings)
        return meta

    def names(self) -> tuple[str, str, str]:
        """(the model, the task, the optimizer) in words, for the first log line and the curve's title."""
        if self.cfg is not None:
            cfg = self.cfg
            return model_label(cfg), f"{cfg.task}, T = {cfg.T}", f"{cfg.optimizer} lr {cfg.lr:g}"
        layers = getattr(self.model, "layers", None)
        model = type(self.model).__name__ + (f" of {len(layers)} layers" if layers is not None else "")
        return model, self.settings["task"]["name"], f"{type(self.opt).__name__} lr {self.opt.lr:g}"

    def resume_hint(self) -> str:
        if self.cfg is not None:  # the whole command: --resume alone is no command
            return f"python -m indrnn_np train {self.cfg.task} --resume {self.run.path}"
        return f"train(model, optimizer, task, {str(self.run.path)!r}, ..., resume=True)"


def _settings(task, *, steps, batch, clip_value, clip_norm, eval_every, checkpoint_every, seed) -> dict:
    """The loop's settings, checked, as stored in a run's checkpoint (``run``) and summary."""
    for name, value, low in (
        ("steps", steps, 1),
        ("batch", batch, 1),
        ("eval_every", eval_every, 1),
        ("checkpoint_every", checkpoint_every, 1),
        ("seed", seed, 0),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    for name, value in (("clip_value", clip_value), ("clip_norm", clip_norm)):
        if value is not None and not (isinstance(value, numbers.Real) and np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a number > 0 or None; got {value!r}")
    missing = [m for m in TASK_MEMBERS if not hasattr(task, m)]
    if missing:
        raise TypeError(
            f"the task {type(task).__name__} lacks {', '.join(missing)}: a task needs "
            f"{', '.join(TASK_MEMBERS)} (see indrnn_np.tasks.Task)"
        )
    described = {"name": str(getattr(task, "name", type(task).__name__)), "metric": str(task.metric)}
    if hasattr(task, "description"):
        described["description"] = str(task.description)
    return {
        "steps": int(steps),
        "batch": int(batch),
        "clip_value": None if clip_value is None else float(clip_value),
        "clip_norm": None if clip_norm is None else float(clip_norm),
        "eval_every": int(eval_every),
        "checkpoint_every": int(checkpoint_every),
        "seed": int(seed),
        "task": described,
    }


def _config_settings(cfg: TrainConfig, task) -> dict:
    # the config's seed seeds the model; the batches come from seed + 1, as always (the
    # checkpoint of a config run keeps its config, not these settings)
    return _settings(
        task,
        steps=cfg.steps,
        batch=cfg.batch,
        clip_value=cfg.clip_value,
        clip_norm=cfg.clip_norm,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        seed=cfg.seed + 1,
    )


def _build(cfg: TrainConfig, run: RunDir) -> _Run:
    task = task_of(cfg)
    model = model_of(cfg, task)
    opt = optimizer_of(cfg, model)
    return _Run(run, task, model, opt, schedule_of(cfg), _config_settings(cfg, task), cfg)


# --------------------------------------------------------------------------
# The run's record: what makes it the same run
# --------------------------------------------------------------------------

#: Options that may change when a run resumes, the numbers staying what they would have been: more
#: steps, and the evaluation and checkpoint cadence (with the plateau schedule the evaluations
#: steer the learning rate, so there eval_every must stay). Declared on each option (``on_resume``).
MAY_DIFFER = tuple(f.name for f, opt in options() if opt.on_resume)

_SKIP = object()


def _may_differ(plateau: bool) -> tuple[str, ...]:
    """:data:`MAY_DIFFER`, less ``eval_every`` under a schedule that observes the evaluations."""
    return tuple(k for k in MAY_DIFFER if not (plateau and k == "eval_every"))


def _plain(v):
    """A JSON-ready copy of a plain setting (a number, string, bool, None, or a tuple of them); else _SKIP."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, tuple | list) and all(_plain(x) is not _SKIP for x in v):
        return [_plain(x) for x in v]
    return _SKIP


def _describe(obj) -> dict:
    """An object's class and its plain settings: every public attribute that is a number, string,
    bool, None or tuple of them (the layer's activation, dropout p, the optimizer's lr and betas...)."""
    out = {"class": type(obj).__name__}
    for k, v in sorted(vars(obj).items()) if hasattr(obj, "__dict__") else ():
        v = _plain(v)
        if not k.startswith("_") and v is not _SKIP:
            out[k] = v
    return out


def _objects_record(model, opt, schedule) -> dict:
    """The model (each leaf layer's settings, each parameter's shape and dtype), optimizer and schedule."""
    layers = list(leaf_layers(model)) if hasattr(model, "layers") else []
    params = getattr(model, "params", {})
    return {
        "model": {
            "class": type(model).__name__,
            "layers": [_describe(layer) for layer in layers] or [_describe(model)],
            "params": {k: [list(np.shape(v)), str(getattr(v, "dtype", ""))] for k, v in params.items()},
        },
        "optimizer": _describe(opt),
        "schedule": None if schedule is None else _describe(schedule),
    }


def _record(s: _Run) -> dict:
    """run.json of a new run: an id, and every setting that changes its numbers in the words the
    caller gave them (the command's flags, an estimator's keywords, ``train``'s arguments), the objects
    it trains and the task with its data."""
    differ = _may_differ(hasattr(s.schedule, "observe"))
    if s.cfg is not None:
        words, settings = "flags", {k: v for k, v in s.cfg.to_dict().items() if k not in differ}
    elif s.words is not None:
        words, settings = "keywords", {k: v for k, v in s.words.items() if k not in differ}
    else:
        words, settings = "arguments", {}
    loop = {k: v for k, v in s.settings.items() if k not in (*differ, "steps", "task")}
    return _jsonable(
        {
            "id": secrets.token_hex(8),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "words": words,
            "settings": settings,
            "loop": loop,
            "task": s.settings["task"],
            "objects": _objects_record(s.model, s.opt, s.schedule),
        }
    )


def _jsonable(obj):
    """``obj`` as JSON gives it back (tuples as lists, NumPy scalars as numbers): what a record compares."""
    return json.loads(json.dumps(obj, default=lambda v: _plain(v) if _plain(v) is not _SKIP else str(v)))


def _name(words: str, key: str) -> str:
    return flag(key) if words == "flags" else key


def _show(v) -> str:
    return "off" if v is None else repr(v)


def _changes(before: dict, now: dict, keys, label) -> list[str]:
    """``"<label(k)>: <before> in the run, <now> now"`` for each key of ``keys`` whose values differ."""
    return [
        f"{label(k)}: {_show(before.get(k))} in the run, {_show(now.get(k))} now"
        for k in keys
        if before.get(k, _SKIP) != now.get(k, _SKIP)
    ]


def _differences(before: dict, now: dict) -> list[str]:
    """Each setting of ``now`` (a run's record, as :func:`_record` builds it) that differs from ``before``,
    in the caller's words: the settings as given (flags, keywords); when those agree, the task and
    its data; when those agree too, ``train``'s arguments; then the objects themselves."""
    words = now["words"]
    out = []
    if before.get("words") == words:
        b, n = before.get("settings", {}), now["settings"]
        keys = [*n, *(k for k in b if k not in n)]
        out = _changes(b, n, keys, lambda k: _name(words, k))
    if out:  # the data's description follows from some settings (the held-out split's seed): named alone
        return out
    bt, nt = before.get("task", {}), now["task"]
    for key in ("name", "metric", "description"):
        if key in bt and key in nt and bt[key] != nt[key]:
            what = "the data" if key == "description" else f"the task's {key}"
            out.append(f"{what}: {bt[key]} in the run, {nt[key]} now")
    if out:
        return out
    b, n = before.get("loop", {}), now["loop"]
    out = _changes(b, n, [k for k in n if k in b], str)
    if out:
        return out
    return _object_differences(before.get("objects", {}), now["objects"])


def _object_differences(before: dict, now: dict) -> list[str]:
    out = []
    bm, nm = before.get("model", {}), now.get("model", {})
    bl, nl = bm.get("layers", []), nm.get("layers", [])
    if len(bl) != len(nl) or [x.get("class") for x in bl] != [x.get("class") for x in nl]:
        out.append(
            "the model: layers "
            f"{', '.join(x.get('class', '?') for x in bl)} in the run, {', '.join(x.get('class', '?') for x in nl)} now"
        )
    else:
        for i, (x, y) in enumerate(zip(bl, nl, strict=True)):
            out += _changes(
                x, y, sorted(set(x) | set(y)), lambda k, i=i, c=y["class"]: f"model layer {i + 1} ({c}) {k}"
            )
    bp, np_ = bm.get("params", {}), nm.get("params", {})
    if not out and bp != np_:
        names = [k for k in dict.fromkeys([*bp, *np_]) if bp.get(k) != np_.get(k)]
        shown = "; ".join(
            f"{k}: {bp.get(k, 'absent')} in the run, {np_.get(k, 'absent')} now" for k in names[:3]
        )
        out.append(f"the model's parameters (shape, dtype): {shown}" + (", ..." if len(names) > 3 else ""))
    for part in ("optimizer", "schedule"):
        x, y = before.get(part), now.get(part)
        if (x is None) != (y is None) or (x and y and x.get("class") != y.get("class")):
            out.append(
                f"the {part}: {x['class'] if x else 'none'} in the run, {y['class'] if y else 'none'} now"
            )
        elif x and y:
            out += _changes(x, y, sorted(set(x) | set(y)), lambda k, p=part, c=y["class"]: f"{p} {c} {k}")
    return out


def _refuse_config_changes(run: RunDir, before: TrainConfig, now: TrainConfig) -> None:
    """RunChangedError naming each option (as its flag) in which ``now`` differs from the run's ``before``,
    the options that may change on a resume aside."""
    b, n = before.to_dict(), now.to_dict()
    differ = _may_differ(before.schedule == "plateau")
    diffs = _changes(b, n, [k for k in n if k not in differ], flag)
    if diffs:
        _raise_changed(run, diffs, "Train with the run's settings, or in another folder")


def _refuse_changes(s: _Run, before: dict) -> None:
    """RunChangedError naming each difference between the run's record and these settings/objects."""
    diffs = _differences(before, s.record)
    if not diffs:
        return
    hint = {
        "flags": "Train with the run's settings (--resume takes them from it), or choose another --out",
        "keywords": "Fit with the run's values, or give another run_dir",
        "arguments": "Pass the run's values and objects built as before, or another run_dir",
    }[s.record["words"]]
    _raise_changed(s.run, diffs, hint)


def _raise_changed(run: RunDir, diffs: list[str], hint: str):
    raise RunChangedError(
        f"{run.path} holds a run with other settings, so it was not continued: {'; '.join(diffs)}. {hint}",
        diffs,
    )


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def train(*args, **kwargs) -> dict:
    """Train a new run: ``train(cfg, out_dir, ...)`` from a configuration, or
    ``train(model, optimizer, task, run_dir, *, steps, batch, ...)`` on objects.

    The first form builds the task, model, optimizer and schedule from ``cfg``
    (:func:`train_config`); the second trains the objects given
    (:func:`train_objects`), which the first wraps. Dispatch is on the first
    argument's type: a :class:`TrainConfig`, or anything else (a model).

    Returns
    -------
    dict
        The summary (also written to ``summary.json``).
    """
    if args and isinstance(args[0], TrainConfig) or isinstance(kwargs.get("cfg"), TrainConfig):
        return train_config(*args, **kwargs)
    return train_objects(*args, **kwargs)


def train_config(cfg: TrainConfig, out_dir, *, progress: bool = True, log=print) -> dict:
    """Start a new run in ``out_dir`` and train it to ``cfg.steps``.

    Writes metrics, checkpoints (every ``cfg.checkpoint_every`` steps, at the
    end and on Ctrl-C), the summary and the curve (see :class:`RunDir`).
    Everything that can fail before training (the config, the data, the
    backend, the folder) fails before anything is written. The loop is
    :func:`train_objects`'s, given the objects ``cfg`` builds.

    Returns
    -------
    dict
        The summary (also written to ``summary.json``).

    Raises
    ------
    ConfigError, DataError, CudaUnavailableError
        Before anything is written.
    MemoryTooLarge
        The run's estimated peak memory exceeds what is available
        (:mod:`indrnn_np.train.memory`); before anything is built or written.
    RunDirError
        ``out_dir`` holds a run already, or is a folder that is not a run's and
        holds a file the run would write.
    RunBusyError
        Another live process is writing ``out_dir`` (a RunDirError naming it).
    OutputError
        ``out_dir`` cannot be created or written.
    FileWriteError
        A write failed during the run (a full disk, a quota, a file-size limit, lost permission):
        one line naming the file; the last good checkpoint is kept.
    TrainingDiverged
        The loss, a gradient or the test metric became NaN or inf; ``diverged.json``
        records it and the last good checkpoint is kept.
    TrainingInterrupted
        Ctrl-C (a checkpoint of the last completed step was written).
    """
    cfg.validate()
    check_fits(estimate_training(cfg))
    run = RunDir(out_dir)
    run.check_new()
    run.check_writable()
    state = _build(cfg, run)
    with run.writing(log=log):  # one writer: the checks again, under the lock
        return _start(state, progress, log)


def train_objects(
    model,
    optimizer,
    task,
    run_dir,
    *,
    steps: int,
    batch: int,
    schedule=None,
    clip_value: float | None = None,
    clip_norm: float | None = None,
    eval_every: int = 100,
    checkpoint_every: int = 1000,
    seed: int = 0,
    resume: bool = False,
    settings: dict | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Train ``model`` with ``optimizer`` on ``task`` for ``steps`` steps, with the run folder's machinery.

    The loop of every run (:func:`train` from a TrainConfig wraps it): at each
    step a batch ``task.train_batch(rng, batch)``, :func:`train_step` (forward,
    the task's loss, backward, clipping, the optimizer's update); every
    ``eval_every`` steps and at the end ``task.evaluate(model)`` and a row of
    ``metrics.csv``; a checkpoint every ``checkpoint_every`` steps, at the end
    and on Ctrl-C; ``summary.json`` and ``curve.png`` at the end; ``diverged.json``
    when the loss, a gradient or the metric is not finite; a progress bar; and,
    for a model on the ``cpu`` backend, thread counts tuned to the machine's load
    (:class:`indrnn_np.threads.ThreadTuner`). Where the step runs is the model's
    backend (:attr:`indrnn_np.nn.Sequential.backend`).

    Parameters
    ----------
    model : Sequential
        E.g. from :func:`indrnn_np.nn.build_indrnn`; trained in place.
    optimizer : Optimizer
        Over ``model.params`` (e.g. :class:`indrnn_np.nn.Adam`); its ``lr`` is the schedule's.
    task : Task
        Batches, loss and evaluation (the protocol :class:`indrnn_np.tasks.Task`).
    run_dir : path or None
        The run folder (:class:`RunDir`): new, or with ``resume=True`` the folder of this run.
        None: no folder (:class:`MemoryRun`): nothing is written, the metrics rows are in the
        summary's ``history``, and Ctrl-C keeps nothing.
    steps : int
        The total number of steps (with ``resume``, may extend the run).
    batch : int
        Sequences per step.
    schedule : optional
        :class:`indrnn_np.nn.StepDecay` (``lr_at(step)``), :class:`indrnn_np.nn.ReduceOnPlateau`
        (``observe(train_loss)`` at each evaluation) or None (the optimizer's lr throughout).
    clip_value : float, optional
        Element-wise clamp of every gradient.
    clip_norm : float, optional
        Then rescale the whole gradient to at most this global norm.
    eval_every, checkpoint_every : int
    seed : int
        Seeds the generator of training batches (``numpy.random.default_rng(seed)``); the model
        and optimizer are seeded where they are built.
    resume : bool
        Continue the run in ``run_dir`` from its checkpoint, into these objects, which must be built
        as the first time (same architecture, optimizer and task; their state is loaded): the
        result equals an uninterrupted run bit for bit (``elapsed_s`` aside; with
        ``INDRNN_THREAD_TUNING=0``). Everything that changes the numbers must be the run's:
        ``batch``, ``clip_value``, ``clip_norm``, ``seed``, the task and its data, each layer's
        settings and each parameter's shape, the optimizer's and the schedule's settings (the run
        records them in ``run.json``); any difference is refused (:class:`RunChangedError`),
        naming each. ``steps``, ``eval_every`` and ``checkpoint_every`` may change (``eval_every``
        not with a schedule that observes the evaluations). A folder without a checkpoint starts
        a new run; a run that has reached ``steps`` returns its summary.
    settings : dict, optional
        The settings that built these objects, in the caller's own words (an estimator passes
        its keywords): recorded with the run, and a resume names each that differs by these names.
    progress : bool
        A progress bar (tqdm) on stderr.
    log : callable
        Where the start and end lines go.

    Returns
    -------
    dict
        The summary (also ``summary.json``): the metric, ``steps``, ``wall_s``, ``params``,
        ``baseline``, ``config`` (None) and ``run`` (these settings and the task's name,
        metric and description).

    Raises
    ------
    TypeError
        ``task`` lacks a member of the protocol.
    ValueError
        A setting out of range.
    RunDirError, CheckpointError
        ``run_dir`` holds a run already (without ``resume``); with ``resume``, a checkpoint that
        does not fit these objects or settings (:class:`RunChangedError`), a checkpoint of another
        run, a damaged one, or a diverged run; nothing is written.
    RunBusyError
        Another live process is writing ``run_dir``.
    MemoryTooLarge
        The run's peak memory, rehearsed on copies at a few steps
        (:func:`indrnn_np.train.memory.estimate_objects`), exceeds what is available; before anything
        is written (a task without ``rehearsal(T)`` is not checked).
    FileWriteError
        A write failed during the run (a full disk, ...): one line; the last good checkpoint is kept.
    TrainingDiverged, TrainingInterrupted
        As :func:`train`.

    Notes
    -----
    A run of objects stores no TrainConfig: the command line's ``--resume``, ``evaluate`` and
    :func:`load_model` cannot rebuild it and say so in one line.
    """
    owned = {id(p) for p in getattr(optimizer, "params", {}).values()}
    if {id(p) for p in model.params.values()} - owned:
        raise ValueError(
            "the optimizer does not hold this model's parameters (built on another model?): "
            "build it on the model, e.g. Adam(model, lr=...)"
        )
    _settings_ = _settings(
        task,
        steps=steps,
        batch=batch,
        clip_value=clip_value,
        clip_norm=clip_norm,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        seed=seed,
    )
    if settings is not None and not isinstance(settings, dict):
        raise TypeError(
            f"settings must be a dict of the caller's settings or None; got {type(settings).__name__}"
        )
    check_fits(
        estimate_objects(model, optimizer, task, batch=batch, clip_value=clip_value, clip_norm=clip_norm)
    )
    run = MemoryRun() if run_dir is None else RunDir(run_dir)
    state = _Run(run, task, model, optimizer, schedule, _settings_, words=settings)
    if run_dir is None:
        return _start(state, progress, log)
    with run.writing(python=True, resuming=resume and run.has_checkpoint(), log=log):
        if resume and run.has_checkpoint():
            return _continue(state, steps, progress, log)
        run.check_new(python=True)
        run.check_writable()
        return _start(state, progress, log)


def _start(state: _Run, progress: bool, log) -> dict:
    """A new run: the folder, its record, the header of metrics.csv and the task's files, then the loop."""
    run = state.run
    artifacts = getattr(state.task, "artifacts", dict)()
    run.check_new(also=artifacts, python=state.cfg is None)
    run.make()
    with _saving(state, "starting the run"):
        if run.persistent:
            run.write_record(state.record)
        run.start_metrics(state.columns)
        for name, array in artifacts.items():
            run.save_array(name, array)
    return _loop(state, progress, log)


@contextlib.contextmanager
def _saving(s: _Run, what: str):
    """A failed write (full disk, quota, file-size limit, lost permission) as one line that says what
    was kept and how to continue (a :class:`indrnn_np.files.FileWriteError`)."""
    try:
        yield
    except FileWriteError as exc:
        if s.saved is not None:
            kept = (
                f"the last good checkpoint (step {s.saved}) is kept in {s.run.file(s.run.CHECKPOINT)}; "
                f"make room (or restore the permission), then continue with {s.resume_hint()}"
            )
        else:
            kept = "no checkpoint had been written yet; make room (or restore the permission) and start again"
        raise FileWriteError(f"{exc} ({what}); {kept}", exc.path, exc.errno) from None


def resume(
    out_dir,
    *,
    steps: int | None = None,
    task: str | None = None,
    eval_every: int | None = None,
    checkpoint_every: int | None = None,
    expect: TrainConfig | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Continue the run in ``out_dir`` from its checkpoint, to its own ``steps`` or to ``steps``.

    A resumed run reproduces an uninterrupted one with the same seed bit for
    bit (``elapsed_s`` aside): the metrics past the checkpoint's step (and a
    row that a crash cut short) are dropped and recomputed, saying so. A run
    that has reached its steps already returns its summary (its curve and
    summary drawn again first when they are missing or damaged). A run of
    objects is continued by ``train(model, optimizer, task, run_dir, ...,
    resume=True)`` instead.

    Parameters
    ----------
    steps : int, optional
        A new total (to extend the run); at least the checkpoint's step.
    task : str, optional
        The task the caller expects; a run of another task is refused.
    eval_every, checkpoint_every : int, optional
        A new evaluation or checkpoint cadence (the numbers stay the same; ``eval_every`` not
        with the plateau schedule, whose decisions follow the evaluations).
    expect : TrainConfig, optional
        The configuration the caller means to continue: refused (:class:`RunChangedError`,
        naming each differing option as its flag) unless the run's own, ``steps`` and the
        cadences aside.

    Raises
    ------
    RunDirError, CheckpointError
        No checkpoint, an unreadable or damaged one, one of another run, a diverged run, another
        task, a run of objects (no TrainConfig), or ``steps`` below the checkpoint's step;
        nothing in the folder is changed.
    RunBusyError
        Another live process is writing the run (still training it).
    MemoryTooLarge
        The run no longer fits in the memory available (checked before the checkpoint's arrays are read).
    FileWriteError
        A write failed (a full disk, ...): one line; the last good checkpoint is kept.
    """
    run = RunDir(out_dir)
    run.check_not_diverged()
    cfg = run.read_config()  # RunDirError for a run of objects
    if task is not None and task != cfg.task:
        raise RunDirError(
            f"{run.path} holds a run of task {cfg.task}, not {task}: resume it with `train {cfg.task} --resume {run.path}`"
        )
    for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            cfg = dataclasses.replace(cfg, **{name: value}).validate()
    check_fits(estimate_training(cfg, resume=True))
    if expect is not None:
        _refuse_config_changes(run, cfg, expect)
    state = _build(cfg, run)
    with run.writing(resuming=True, log=log):
        return _continue(state, steps, progress, log)


def _continue(state: _Run, steps: int | None, progress: bool, log) -> dict:
    """Load the folder's checkpoint into ``state``'s objects and train on to ``steps`` (None: the run's
    own). Called with the folder's lock held."""
    run = state.run
    run.check_not_diverged()
    arrays, meta = run.load_checkpoint()
    _check_belongs(state, meta, log)
    if steps is not None:
        if steps < meta["step"]:
            given = f"--steps {steps}" if state.cfg is not None else f"steps={steps}"
            raise RunDirError(f"{given} is below the step the run has reached ({meta['step']})")
        state.settings["steps"] = int(steps)
        if state.cfg is not None:
            state.cfg.steps = int(steps)
    restore(state.model, state.opt, state.task, arrays, meta, run.file(run.CHECKPOINT))
    try:
        state.data_rng.bit_generator.state = meta["data_rng"]
        if state.schedule is not None:
            state.schedule.load_state_dict(meta["schedule"])
    except (KeyError, ValueError, TypeError) as exc:
        raise RunDirError(
            f"{run.file(run.CHECKPOINT)}: data or schedule state does not fit ({exc})"
        ) from None
    state.step, state.elapsed0, state.acc = meta["step"], meta["elapsed_s"], meta["acc"]
    state.saved = state.step
    run.read_metrics(state.columns)  # every row checked before anything is changed (a torn last row aside)
    try:
        summary = run.read_summary()
    except RunDirError:
        log(f"{run.file(run.SUMMARY)}: damaged; it is written again from the checkpoint and metrics.csv")
        summary = None
    complete = state.step >= state.steps and summary is not None and summary.get("steps") == state.step
    run.check_writable(also=getattr(state.task, "artifacts", dict)())  # before anything is rewritten
    with _saving(state, "resuming the run"):
        record = run.read_record()  # the checkpoint's copy (checksummed) stands when run.json differs
        if record is None or {k: v for k, v in record.items() if k != "format"} != state.record:
            if record is not None:
                log(f"{run.file(run.RECORD)}: differs from the checkpoint's copy; written again from it")
            run.write_record(state.record)
        ends = state.step >= state.steps  # nothing left to train: the checkpoint is the run's last step
        notice = run.truncate_metrics(state.step, state.columns, recomputed=not ends)
        if notice:
            log(notice)
        last = _last_metric(state) if ends else None
        if ends and last is None:
            log(
                f"{run.file(run.METRICS)}: the row of the run's last step ({state.step}) is lost; it cannot be "
                "computed again without the training before it (evaluate gives the checkpoint's test metric)"
            )
        if complete:
            if not run.curve_complete():
                log(f"{run.curve_path()}: missing or damaged; drawn again from metrics.csv")
                _plot_curve(state)
            more = f"--steps above {state.step}" if state.cfg is not None else f"steps= above {state.step}"
            log(f"{run.path}: the run is complete ({state.step} steps); pass {more} to extend it")
            return summary
        if not ends and run.file(run.SUMMARY).exists():
            # extended past its end: the run is no longer complete, so its summary no longer holds
            os.unlink(run.file(run.SUMMARY))
    if ends and last is not None:  # complete, but its summary is missing or damaged: written again
        with _saving(state, "writing the summary"):
            return _finish(state, last, state.elapsed0, log)
    return _loop(state, progress, log)


def _last_metric(s: _Run) -> float | None:
    """The metric of metrics.csv's row at the checkpoint's step (None without one)."""
    m = s.run.read_metrics(s.columns)
    rows = np.flatnonzero(m["step"] == s.step)
    return float(m[s.task.metric][rows[-1]]) if rows.size else None


def _check_belongs(s: _Run, meta: dict, log) -> None:
    """Refuse a checkpoint of another run and any changed setting; adopt the checkpoint's record.

    The folder's ``run.json`` and the checkpoint each carry the run's record: a checkpoint whose
    record id is not the folder's (copied in from another run) is refused and never loaded; one
    of an earlier version (no record) is accepted only in a folder without a record. Then these
    settings and objects are compared with the run's, naming each difference. ``s.record``
    becomes the run's (its id, kept by the checkpoints this run writes).
    """
    run, where = s.run, s.run.file(s.run.CHECKPOINT)
    folder, ckpt = run.read_record(), meta.get("record")
    if ckpt is not None and folder is not None and ckpt.get("id") != folder.get("id"):
        raise CheckpointError(
            f"{where} belongs to another run than the one {run.path} holds (its run.json): it was "
            "not loaded and nothing was changed; put the run's own checkpoint back, or start a new run "
            "in another folder"
        )
    if ckpt is None and folder is not None:
        raise CheckpointError(
            f"{where} has no run record (written by an earlier version?) while {run.path} holds a run "
            "of this version: it does not belong here; it was not loaded and nothing was changed"
        )
    before = ckpt or folder
    if before is None:  # a run of an earlier version: what the loop kept of its settings
        if s.cfg is None:
            _check_same_settings(run, meta.get("run"), s.settings)
        log(f"{run.path}: a run of an earlier version (no run.json); its record is written now")
        return
    if folder is None:
        log(f"{run.file(run.RECORD)}: missing or unreadable; written again from the checkpoint's copy")
    _refuse_changes(s, before)
    s.record = before


#: Settings a resumed run of objects must share with its checkpoint (the batches and steps depend on them).
_SAME_ON_RESUME = ("batch", "clip_value", "clip_norm", "seed")


def _check_same_settings(run: RunDir, stored, given: dict) -> None:
    where = run.file(run.CHECKPOINT)
    if not isinstance(stored, dict):
        raise CheckpointError(
            f"{where}: no loop settings ('run') in its metadata, so it cannot be resumed here"
        )
    for key in _SAME_ON_RESUME:
        if stored.get(key) != given[key]:
            raise RunDirError(
                f"{where}: the run has {key}={stored.get(key)!r}, not {given[key]!r}; "
                "a resumed run keeps its own (pass the run's value)"
            )
    if stored.get("task", {}).get("metric") != given["task"]["metric"]:
        raise RunDirError(
            f"{where}: the run's task measures {stored.get('task', {}).get('metric')!r}, "
            f"this task {given['task']['metric']!r}: another task"
        )
    before, now = stored.get("task", {}).get("description"), given["task"].get("description")
    if before is not None and now is not None and before != now:
        raise RunDirError(
            f"{where}: the run was trained on other data ({before}); this task has {now}. "
            "Train it in another folder"
        )


def evaluate_run(out_dir) -> dict:
    """The test metric of a run's checkpoint on the task's full test set, also written to evaluation.json.

    Returns
    -------
    dict
        ``{"task": ..., "step": ..., <metric>: value, "full_test_set": True}``.

    Raises
    ------
    RunDirError, CheckpointError
        The folder holds no readable checkpoint, or holds a run of objects (no TrainConfig to
        rebuild its task from).
    MemoryTooLarge
        The evaluation's estimated peak memory exceeds what is available.
    OutputError
        evaluation.json cannot be written there (checked before the evaluation runs).
    """
    from .build import load_model

    run = RunDir(out_dir)
    check_fits(estimate_evaluation(run.read_config()))  # no readable checkpoint: refused first
    run.check_writable(run.EVALUATION)
    model, cfg, task, step = load_model(run)
    ((metric, value),) = task.evaluate(model, full=True).items()
    result = {"task": cfg.task, "step": step, metric: float(value), "full_test_set": True}
    try:
        run.write_evaluation(result)
    except OSError as exc:
        raise RunDirError(f"cannot write {run.file(run.EVALUATION)}: {exc.strerror}") from None
    return result


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------


def _loop(s: _Run, progress: bool, log) -> dict:
    model, task, opt = s.names()
    if s.cfg is not None:
        task = f"{s.cfg.task} (T={s.cfg.T})"
    log(
        f"training {model} on {task}: {s.model.num_params():,} parameters, "
        f"{opt}, batch {s.batch}, steps {s.step + 1}..{s.steps} -> {s.run.path or 'no run folder'}"
    )
    for attr, text in (("description", "data: {}"), ("baseline", "baseline (a constant prediction): {:.3f}")):
        if hasattr(s.task, attr):
            log(text.format(getattr(s.task, attr)))
    bar = Progress(progress, s.step + 1, s.steps, s.task.metric, log, backend=s.backend)
    t0, metric, interrupted = time.perf_counter(), None, []
    tuner = ThreadTuner(enabled=None if s.backend == "cpu" else False)  # the model's backend decides
    previous = _catch_sigint(interrupted)
    try:
        with _saving(s, "training"):
            for step in range(s.step + 1, s.steps + 1):
                bar.before_step(step)
                with tuner.step():
                    res = _one_step(s, step)
                elapsed = s.elapsed0 + time.perf_counter() - t0
                evaluated = step % s.eval_every == 0 or step == s.steps
                if evaluated:
                    metric = _evaluate(s, step, res, elapsed)
                bar.after_step(step, res.loss, metric, evaluated)
                if s.run.persistent and (step % s.checkpoint_every == 0 or step == s.steps or interrupted):
                    s.run.save_checkpoint(model=s.model, opt=s.opt, meta=s.meta(step, elapsed))
                    s.saved = step
                if interrupted and not s.run.persistent:
                    raise TrainingInterrupted(
                        f"interrupted after step {step}: without a run folder nothing was saved "
                        "(give a run folder to keep checkpoints)"
                    )
                if interrupted:
                    _plot_curve(s)  # the folder shows the curve so far
                    raise TrainingInterrupted(
                        f"interrupted after step {step}: checkpoint saved to {s.run.file(s.run.CHECKPOINT)}; "
                        f"continue with {s.resume_hint()}"
                    )
    finally:
        bar.close()
        tuner.close()
        _restore_sigint(previous)
    with _saving(s, "finishing the run"):
        return _finish(s, metric, s.elapsed0 + time.perf_counter() - t0, log)


def _one_step(s: _Run, step: int) -> StepResult:
    """Draw a batch and take a step; a non-finite loss or gradient ends the run as diverged."""
    if hasattr(s.schedule, "lr_at"):
        s.opt.lr = s.schedule.lr_at(step - 1)
    with section("data"):
        x, y, lengths = _batch(s.task.train_batch(s.data_rng, s.batch))
    res = train_step(
        s.model,
        s.opt,
        x,
        y,
        lengths=lengths,
        loss_forward=s.task.loss_forward,
        loss_backward=s.task.loss_backward,
        clip_value=s.clip_value,
        clip_norm=s.clip_norm,
    )
    if not res.finite:
        what, value = ("loss", res.loss) if not np.isfinite(res.loss) else ("gradient norm", res.grad_norm)
        _diverged(s, step, f"the {what} became {value} (lr {s.opt.lr:g})")
    s.acc["loss_sum"] += res.loss
    s.acc["count"] += 1
    return res


def _batch(batch) -> tuple:
    """``(x, y, lengths)`` of what ``train_batch`` returned: ``(x, y)`` or ``(x, y, lengths)``."""
    if not isinstance(batch, tuple | list) or len(batch) not in (2, 3):
        raise TypeError(
            f"train_batch must return (x, y) or (x, y, lengths); got {type(batch).__name__}"
            + (f" of {len(batch)}" if isinstance(batch, tuple | list) else "")
        )
    return (*batch, None) if len(batch) == 2 else tuple(batch)


def _evaluate(s: _Run, step: int, res: StepResult, elapsed: float) -> float:
    """Evaluate on the test data, let a plateau schedule see the training loss, and append a metrics row."""
    metric = _test_metric(s)
    if not np.isfinite(metric):
        _diverged(s, step, f"the test metric {s.task.metric} became {metric}")
    train_loss = s.acc["loss_sum"] / s.acc["count"]  # the mean since the last evaluation
    if hasattr(s.schedule, "observe"):
        s.opt.lr = s.schedule.observe(train_loss)  # the test set never steers training
    max_u = max(
        (float(np.max(np.abs(to_host(v)))) for k, v in s.model.params.items() if k.endswith(".u")),
        default=0.0,
    )
    s.run.append_metrics([step, train_loss, metric, s.opt.lr, max_u, res.grad_norm, round(elapsed, 3)])
    s.acc = {"loss_sum": 0.0, "count": 0}
    return metric


def _test_metric(s: _Run) -> float:
    """The task's test metric, by the name it declares."""
    result = s.task.evaluate(s.model)
    if not isinstance(result, dict) or s.task.metric not in result:
        got = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise TypeError(
            f"the task's evaluate(model) must return {{{s.task.metric!r}: value}} (its metric); got {got}"
        )
    return float(result[s.task.metric])


def _diverged(s: _Run, step: int, what: str):
    kept = (
        f"the last good checkpoint (step {s.saved}) is kept in {s.run.file(s.run.CHECKPOINT)}"
        if s.saved is not None
        else "no checkpoint had been written yet"
    )
    message = f"step {step}: {what}; training stopped; {kept}"
    params = s.model.num_params()
    record = {"step": step, "params": params, "message": message, "config": s.config()}
    if s.cfg is None:
        record["run"] = dict(s.settings)
    s.run.mark_diverged(record)
    raise TrainingDiverged(message, step=step, params=params)


def _finish(s: _Run, metric, wall: float, log) -> dict:
    if metric is None:
        metric = _test_metric(s)
    summary = {
        s.task.metric: metric,
        "steps": s.steps,
        "wall_s": wall,
        "params": s.model.num_params(),
        "baseline": getattr(s.task, "baseline", None),
        "config": s.config(),
    }
    if s.cfg is None:
        summary["run"] = dict(s.settings)
    if not s.run.persistent:  # no metrics.csv to read them from
        summary["history"] = s.run.read_metrics()
    s.run.write_summary(summary)
    _plot_curve(s)
    wrote = f"wrote {s.run.path}" if s.run.persistent else "no run folder, nothing written"
    log(f"done: {s.task.metric} {metric:.5f} after {s.steps} steps in {wall:.1f} s; {wrote}")
    return summary


def _plot_curve(s: _Run) -> None:
    from ..plots import plot_curve

    if not s.run.persistent:
        return
    m = s.run.read_metrics(s.columns)
    if not len(m["step"]):
        return
    model, task, opt = s.names()
    plot_curve(
        s.run.curve_path(),
        m["step"],
        m[s.task.metric],
        metric=s.task.metric,
        baseline=getattr(s.task, "baseline", None),
        title=f"{task}: {model}, {opt}",
    )


def _catch_sigint(flag: list):
    """Make Ctrl-C append to ``flag`` instead of raising (main thread only); return the old handler.

    The loop reads the flag between steps, so the checkpoint it then writes
    never holds a half-applied update.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: flag.append(signum))


def _restore_sigint(handler) -> None:
    if handler is not None:
        signal.signal(signal.SIGINT, handler)


def complete_run(cfg: TrainConfig, out_dir, *, progress=False, log=print) -> None:
    """Bring the run in ``out_dir`` to ``cfg.steps``: train it, resume it, or reuse it.

    A run that finished (``cfg.steps`` or more) or diverged before is left as
    it is; one with a checkpoint resumes from it; otherwise it starts. A
    divergence is a result, not an error: the folder records it and this
    returns. What it does is logged in one line under the folder's name.
    """
    run = RunDir(out_dir)
    name = run.path.name
    summary = run.read_summary() if run.summary_readable() else None
    if run.is_diverged():
        log(f"{name}: diverged before, reusing {run}")
        return
    if run.has_checkpoint():  # a run there already: the one this configuration asks for, or refused
        _refuse_config_changes(run, run.read_config(), cfg)
    if summary is not None and summary["steps"] >= cfg.steps and run.curve_complete():
        log(f"{name}: done before, reusing {run}")
        return
    again = run.has_checkpoint()
    log(f"{name}: {'resuming' if again else 'training'} ({cfg.steps} steps, lr {cfg.lr:g})")
    t0 = time.perf_counter()
    quiet = lambda *a: None  # noqa: E731
    try:
        if again:
            steps = max(cfg.steps, summary["steps"]) if summary is not None else cfg.steps
            resume(run.path, steps=steps, progress=progress, log=quiet)
        else:
            train(cfg, run.path, progress=progress, log=quiet)
    except TrainingDiverged as exc:
        log(f"  diverged: {exc}")
    log(f"  {time.perf_counter() - t0:.0f} s")
