"""Layer 4: the training loop: new runs, resumed ones, and the callbacks around each step.

A run's files are :class:`indrnn_np.train.rundir.RunDir`'s business, the step
:mod:`indrnn_np.train.step`'s, a run's record :mod:`indrnn_np.train.record`'s and its live state
:mod:`indrnn_np.train.state`'s. This module draws the batches, takes the steps, evaluates, writes
the metrics rows and the summary, and calls the callbacks (:mod:`indrnn_np.train.callbacks`:
progress, thread tuning, checkpoints, Ctrl-C, the curve, the divergence record, and the caller's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time

import numpy as np

from ..files import FileWriteError
from ..timing import section
from .build import model_of, optimizer_of, restore, schedule_of, task_of
from .callbacks import CallbackList, builtin_callbacks, check_callbacks, draw_curve
from .config import TrainConfig
from .memory import check_fits, estimate_evaluation, estimate_objects, estimate_training, saying_compiles
from .record import check_belongs, refuse_config_changes
from .rundir import MemoryRun, RunDir, RunDirError
from .state import (
    RunState,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingOutOfMemory,
    config_settings,
    loop_settings,
)
from .step import StepResult, mse_train_step, train_step

__all__ = [  # the step's and the state's names stay importable from here, as before
    "RunState",
    "StepResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingOutOfMemory",
    "complete_run",
    "evaluate_run",
    "mse_train_step",
    "resume",
    "train",
    "train_config",
    "train_objects",
    "train_step",
]


def _build(cfg: TrainConfig, run: RunDir) -> RunState:
    task = task_of(cfg)
    model = model_of(cfg, task)
    opt = optimizer_of(cfg, model)
    return RunState(run, task, model, opt, schedule_of(cfg), config_settings(cfg, task), cfg)


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


def train_config(cfg: TrainConfig, out_dir, *, progress: bool = True, log=print, callbacks=None) -> dict:
    """Start a new run in ``out_dir`` and train it to ``cfg.steps``.

    Writes metrics, checkpoints (every ``cfg.checkpoint_every`` steps, at the
    end and on Ctrl-C), the summary and the curve (see :class:`RunDir`).
    Everything that can fail before training (the config, the data, the
    backend, the folder) fails before anything is written. The loop is
    :func:`train_objects`'s, given the objects ``cfg`` builds.

    Parameters
    ----------
    cfg : TrainConfig
    out_dir : path
        The new run's folder.
    progress : bool
        A progress bar (the :class:`indrnn_np.train.callbacks.ProgressBar` callback).
    log : callable
        Where the start and end lines go.
    callbacks : list or tuple of Callback, optional
        The caller's own (:class:`indrnn_np.train.Callback`), called after the built-ins
        (:func:`indrnn_np.train.callbacks.builtin_callbacks`) at each hook; one may stop the run
        early (``run.stop(reason)``: ``summary.json`` records the step and reason).

    Returns
    -------
    dict
        The summary (also written to ``summary.json``).

    Raises
    ------
    ConfigError, DataError, CudaUnavailableError
        Before anything is written.
    TypeError
        ``callbacks`` is not a list or tuple of callbacks; before anything is written.
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
    TrainingOutOfMemory
        A step or evaluation ran out of memory (a MemoryError; with ``INDRNN_MEMORY_CHECK=0``, say):
        one line naming the step, the allocation and the options that lower the memory.
    """
    callbacks = builtin_callbacks(progress=progress, log=log) + check_callbacks(callbacks)
    cfg.validate()
    with saying_compiles(log, cfg.backend):
        check_fits(estimate_training(cfg))
    run = RunDir(out_dir)
    run.check_new()
    run.check_writable()
    state = _build(cfg, run)
    with run.writing(log=log):  # one writer: the checks again, under the lock
        return _start(state, callbacks, log)


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
    callbacks=None,
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
    (:class:`indrnn_np.threads.ThreadTuner`). All but the batches, steps, evaluations and
    summary are callbacks (:mod:`indrnn_np.train.callbacks`), the caller's own after them.
    Where the step runs is the model's backend (:attr:`indrnn_np.nn.Sequential.backend`).

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
        a new run; a run that has reached ``steps`` returns its summary, as does a run a callback
        stopped early unless ``steps`` is above the steps it was asked for (it trains on from there).
    settings : dict, optional
        The settings that built these objects, in the caller's own words (an estimator passes
        its keywords): recorded with the run, and a resume names each that differs by these names.
    progress : bool
        A progress bar (tqdm) on stderr (the :class:`indrnn_np.train.callbacks.ProgressBar` callback).
    log : callable
        Where the start and end lines go.
    callbacks : list or tuple of Callback, optional
        The caller's own (:class:`indrnn_np.train.Callback`), called after the built-ins
        (:func:`indrnn_np.train.callbacks.builtin_callbacks`) at each hook; one may stop the run
        early (``run.stop(reason)``: ``summary.json`` records the step and reason).

    Returns
    -------
    dict
        The summary (also ``summary.json``): the metric, ``steps``, ``wall_s``, ``params``,
        ``baseline``, ``config`` (None) and ``run`` (these settings and the task's name,
        metric and description).

    Raises
    ------
    TypeError
        ``task`` lacks a member of the protocol, or ``callbacks`` is not a list of callbacks.
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
    TrainingDiverged, TrainingInterrupted, TrainingOutOfMemory
        As :func:`train`.

    Notes
    -----
    A run of objects stores no TrainConfig: the command line's ``--resume``, ``evaluate`` and
    :func:`load_model` cannot rebuild it and say so in one line.
    """
    callbacks = builtin_callbacks(progress=progress, log=log) + check_callbacks(callbacks)
    owned = {id(p) for p in getattr(optimizer, "params", {}).values()}
    if {id(p) for p in model.params.values()} - owned:
        raise ValueError(
            "the optimizer does not hold this model's parameters (built on another model?): "
            "build it on the model, e.g. Adam(model, lr=...)"
        )
    _settings_ = loop_settings(
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
    with saying_compiles(log, getattr(model, "backend", "cpu")):
        check_fits(
            estimate_objects(model, optimizer, task, batch=batch, clip_value=clip_value, clip_norm=clip_norm)
        )
    run = MemoryRun() if run_dir is None else RunDir(run_dir)
    state = RunState(run, task, model, optimizer, schedule, _settings_, words=settings)
    if run_dir is None:
        return _start(state, callbacks, log)
    with run.writing(python=True, resuming=resume and run.has_checkpoint(), log=log):
        if resume and run.has_checkpoint():
            return _continue(state, steps, callbacks, log)
        run.check_new(python=True)
        run.check_writable()
        return _start(state, callbacks, log)


def _start(state: RunState, callbacks: list, log) -> dict:
    """A new run: the folder, its record, the header of metrics.csv and the task's files, then the loop."""
    run = state.folder
    artifacts = getattr(state.task, "artifacts", dict)()
    run.check_new(also=artifacts, python=state.cfg is None)
    run.make()
    with _saving(state, "starting the run"):
        if run.persistent:
            run.write_record(state.record)
        run.start_metrics(state.columns)
        for name, array in artifacts.items():
            run.save_array(name, array)
    return _loop(state, callbacks, log)


@contextlib.contextmanager
def _saving(s: RunState, what: str):
    """A failed write (full disk, quota, file-size limit, lost permission) as one line that says what
    was kept and how to continue (a :class:`indrnn_np.files.FileWriteError`)."""
    try:
        yield
    except FileWriteError as exc:
        if s.saved is not None:
            kept = f"{s.kept()}; make room (or restore the permission), then continue with {s.resume_hint()}"
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
    callbacks=None,
) -> dict:
    """Continue the run in ``out_dir`` from its checkpoint, to its own ``steps`` or to ``steps``.

    A resumed run reproduces an uninterrupted one with the same seed bit for
    bit (``elapsed_s`` aside): the metrics past the checkpoint's step (and a
    row that a crash cut short) are dropped and recomputed, saying so. A run
    that has reached its steps already returns its summary (its curve and
    summary drawn again first when they are missing or damaged), and so does a
    run a callback stopped early, unless ``steps`` goes beyond the steps it was
    asked for (then it trains on from where it stopped). A run of
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
    progress, log, callbacks
        As :func:`train_config`.

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
    callbacks = builtin_callbacks(progress=progress, log=log) + check_callbacks(callbacks)
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
    with saying_compiles(log, cfg.backend):
        check_fits(estimate_training(cfg, resume=True))
    if expect is not None:
        refuse_config_changes(run, cfg, expect)
    state = _build(cfg, run)
    with run.writing(resuming=True, log=log):
        return _continue(state, steps, callbacks, log)


def _continue(state: RunState, steps: int | None, callbacks: list, log) -> dict:
    """Load the folder's checkpoint into ``state``'s objects and train on to ``steps`` (None: the run's
    own). Called with the folder's lock held."""
    run = state.folder
    run.check_not_diverged()
    arrays, meta = run.load_checkpoint()
    check_belongs(state, meta, log)
    if steps is not None:
        if steps < meta["step"]:
            given = f"--steps {steps}" if state.cfg is not None else f"steps={steps}"
            raise RunDirError(f"{given} is below the step the run has reached ({meta['step']})")
        state.settings["steps"] = int(steps)
        if state.cfg is not None:
            state.cfg.steps = int(steps)
    restore(state.model, state.optimizer, state.task, arrays, meta, run.file(run.CHECKPOINT))
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
    stopped = meta.get("stopped")
    if stopped is not None and state.steps <= stopped["steps_asked"]:
        state.stopped = dict(stopped)  # a callback ended the run there: asked no further, it stays ended
    run.read_metrics(state.columns)  # every row checked before anything is changed (a torn last row aside)
    try:
        summary = run.read_summary()
    except RunDirError:
        log(f"{run.file(run.SUMMARY)}: damaged; it is written again from the checkpoint and metrics.csv")
        summary = None
    ends = state.step >= state.steps or state.stopped is not None  # nothing left to train
    complete = ends and summary is not None and summary.get("steps") == state.step
    run.check_writable(also=getattr(state.task, "artifacts", dict)())  # before anything is rewritten
    with _saving(state, "resuming the run"):
        record = run.read_record()  # the checkpoint's copy (checksummed) stands when run.json differs
        if record is None or {k: v for k, v in record.items() if k != "format"} != state.record:
            if record is not None:
                log(f"{run.file(run.RECORD)}: differs from the checkpoint's copy; written again from it")
            run.write_record(state.record)
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
                draw_curve(state)
            if state.stopped is not None:
                above, why = state.stopped["steps_asked"], f"stopped early: {state.stopped['reason']}"
            else:
                above, why = state.step, f"{state.step} steps"
            more = f"--steps above {above}" if state.cfg is not None else f"steps= above {above}"
            log(f"{run.path}: the run is complete ({why}); pass {more} to extend it")
            return summary
        if not ends and run.file(run.SUMMARY).exists():
            # extended past its end: the run is no longer complete, so its summary no longer holds
            os.unlink(run.file(run.SUMMARY))
    if ends:  # complete, but its summary is missing or damaged: written again (the metric computed
        # again when its row is lost: the model is the checkpoint's)
        with _saving(state, "writing the summary"):
            summary = _finish(state, last, state.elapsed0)
            draw_curve(state)
        _done(state, summary, log)
        return summary
    return _loop(state, callbacks, log)


def _last_metric(s: RunState) -> float | None:
    """The metric of metrics.csv's row at the checkpoint's step (None without one)."""
    m = s.folder.read_metrics(s.columns)
    rows = np.flatnonzero(m["step"] == s.step)
    return float(m[s.task.metric][rows[-1]]) if rows.size else None


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


def _loop(s: RunState, callbacks: list, log) -> dict:
    """Train from ``s.step + 1`` to ``s.steps`` (or until a callback stops the run), calling ``callbacks``."""
    model, task, opt = s.names()
    if s.cfg is not None:
        task = f"{s.cfg.task} (T={s.cfg.T})"
    log(
        f"training {model} on {task}: {s.model.num_params():,} parameters, "
        f"{opt}, batch {s.batch}, steps {s.step + 1}..{s.steps} -> {s.folder.path or 'no run folder'}"
    )
    for attr, text in (("description", "data: {}"), ("baseline", "baseline (a constant prediction): {:.3f}")):
        if hasattr(s.task, attr):
            log(text.format(getattr(s.task, attr)))
    hooks = CallbackList(callbacks)
    t0 = time.perf_counter()
    s.elapsed = s.elapsed0
    step = s.step + 1  # the step in progress, for an error's message
    try:
        with _saving(s, "training"):
            hooks.call("on_train_begin", s)
            for step in range(s.step + 1, s.steps + 1):
                hooks.call("on_step_begin", s, step)
                t1 = time.perf_counter()
                res = _one_step(s, step)
                s.step_seconds = time.perf_counter() - t1
                s.step, s.elapsed = step, s.elapsed0 + time.perf_counter() - t0
                if step % s.eval_every == 0 or step == s.steps:
                    _evaluate(s, step, res, hooks)
                hooks.call("on_step_end", s, step, res)
                if s.stopped is not None:
                    _stop(s, step, res, hooks)
                    break
        with _saving(s, "finishing the run"):
            summary = _finish(s, s.metric, s.elapsed0 + time.perf_counter() - t0)
            hooks.call("on_train_end", s, summary)
    except BaseException as exc:
        with _saving(s, "training"):  # diverged.json, the curve so far
            hooks.on_exception(s, exc)
        if isinstance(exc, MemoryError) and not isinstance(exc, TrainingOutOfMemory):
            raise _out_of_memory(s, step, exc) from None
        if isinstance(exc, Exception) and not isinstance(exc, TrainingDiverged | FileWriteError):
            _note(s, exc)
        raise
    _done(s, summary, log)
    return summary


def _stop(s: RunState, step: int, res: StepResult, hooks: CallbackList) -> None:
    """A callback stopped the run at ``step``: its last step is evaluated (a metrics row) and checkpointed."""
    s.stopped = {"step": step, **s.stopped}
    if s.evaluated != step:
        _evaluate(s, step, res, hooks)
    s.save_checkpoint()  # again if the callbacks wrote one: this one records the stop


def _note(s: RunState, exc: Exception) -> None:
    """Say, beside an error raised in a callback or the task, what the run folder keeps."""
    if not s.folder.persistent or not hasattr(exc, "add_note"):  # add_note: Python 3.11
        return
    how = f"; continue with {s.resume_hint()}" if s.saved is not None else "; start it again"
    exc.add_note(f"training stopped after step {s.step} by this error; {s.kept()}{how}")


def _out_of_memory(s: RunState, step: int, exc: MemoryError) -> TrainingOutOfMemory:
    """A MemoryError of the loop as one line: the step, the allocation that failed (NumPy's message names
    its size), the memory check when it was off, what is kept and the options that lower the memory. A
    checkpoint is no way out: ``--resume`` continues with the same settings, which need the same memory."""
    from .. import config
    from .memory import config_levers

    what = " ".join(str(exc).split())
    what = f" ({what[:1].lower()}{what[1:]})" if what else ""
    evaluating = s.step == step  # the step was done: its evaluation or a callback ran out
    where = f"{'evaluating ' if evaluating else ''}at step {step}"
    skipped = (
        "" if config.MEMORY_CHECK else "; INDRNN_MEMORY_CHECK=0 skipped the check that would have refused it"
    )
    if s.cfg is not None:
        levers = config_levers(s.cfg)({"evaluation" if evaluating else "step": 1})
        lower = f"lower {_or(levers)} (--dry-run shows the memory a run needs)"
        same = "--resume continues it only with the same settings, which need this memory: start a new run (another --out) with "
    else:
        lower = "lower the batch, the sequence length or the model's size"
        same = "resume=True continues it only with the same settings, which need this memory: start a new run with "
    if s.saved is not None:
        then = f"{s.kept()}, but {same}{lower}"
    else:
        then = f"{s.kept()}; {lower}"
    return TrainingOutOfMemory(f"ran out of memory {where}{what}{skipped}; {then}")


def _or(options) -> str:
    """``--batch, --T or --hidden``."""
    options = list(options)
    return ", ".join(options[:-1]) + (" or " if len(options) > 1 else "") + options[-1]


def _one_step(s: RunState, step: int) -> StepResult:
    """Draw a batch and take a step; a non-finite loss or gradient ends the run as diverged."""
    if hasattr(s.schedule, "lr_at"):
        s.optimizer.lr = s.schedule.lr_at(step - 1)
    with section("data"):
        x, y, lengths = _batch(s.task.train_batch(s.data_rng, s.batch))
    res = train_step(
        s.model,
        s.optimizer,
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
        _diverged(s, step, f"the {what} became {value} (lr {s.optimizer.lr:g})")
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


def _evaluate(s: RunState, step: int, res: StepResult, hooks: CallbackList) -> None:
    """Evaluate on the test data, let a plateau schedule see the training loss, append a metrics row,
    then call ``on_evaluation``."""
    metric = _test_metric(s)
    if not np.isfinite(metric):
        _diverged(s, step, f"the test metric {s.task.metric} became {metric}")
    train_loss = s.acc["loss_sum"] / s.acc["count"]  # the mean since the last evaluation
    if hasattr(s.schedule, "observe"):
        s.optimizer.lr = s.schedule.observe(train_loss)  # the test set never steers training
    row = [step, train_loss, metric, s.optimizer.lr, s.max_u(), res.grad_norm, round(s.elapsed, 3)]
    s.folder.append_metrics(row)
    s.acc = {"loss_sum": 0.0, "count": 0}
    s.metric, s.evaluated = metric, step
    hooks.call("on_evaluation", s, step, dict(zip(s.columns, row, strict=True)))


def _test_metric(s: RunState) -> float:
    """The task's test metric, by the name it declares."""
    result = s.task.evaluate(s.model)
    if not isinstance(result, dict) or s.task.metric not in result:
        got = sorted(result) if isinstance(result, dict) else type(result).__name__
        raise TypeError(
            f"the task's evaluate(model) must return {{{s.task.metric!r}: value}} (its metric); got {got}"
        )
    return float(result[s.task.metric])


def _diverged(s: RunState, step: int, what: str):
    """Raise TrainingDiverged (the DivergenceRecord callback writes diverged.json)."""
    raise TrainingDiverged(
        f"step {step}: {what}; training stopped; {s.kept()}", step=step, params=s.model.num_params()
    )


def _finish(s: RunState, metric, wall: float) -> dict:
    """Write the summary of a run that reached its last step (or was stopped there) and return it."""
    if metric is None:
        metric = _test_metric(s)
    summary = {
        s.task.metric: metric,
        "steps": s.step,
        "wall_s": wall,
        "params": s.model.num_params(),
        "baseline": getattr(s.task, "baseline", None),
        "config": s.config(),
    }
    if s.cfg is None:
        summary["run"] = dict(s.settings)
    if s.stopped is not None:
        summary["stopped"] = dict(s.stopped)
    if not s.folder.persistent:  # no metrics.csv to read them from
        summary["history"] = s.folder.read_metrics()
    s.folder.write_summary(summary)
    return summary


def _done(s: RunState, summary: dict, log) -> None:
    metric = summary[s.task.metric]
    wrote = f"wrote {s.folder.path}" if s.folder.persistent else "no run folder, nothing written"
    stopped = f" (stopped early: {s.stopped['reason']})" if s.stopped is not None else ""
    log(
        f"done: {s.task.metric} {metric:.5f} after {s.step} steps{stopped} in {summary['wall_s']:.1f} s; {wrote}"
    )


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
        refuse_config_changes(run, run.read_config(), cfg)
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
