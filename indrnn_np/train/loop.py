"""Layer 4: the training step and the training loop (new runs and resumed ones).

A run's files are :class:`indrnn_np.train.rundir.RunDir`'s business; this
module decides what happens at each step: the batch, the step, evaluation,
metrics rows, checkpoints, Ctrl-C and divergence.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from typing import NamedTuple

import numpy as np

from ..nn.optim import device_step_stats, grad_norms, norm_scale
from ..ops import mse_backward, mse_forward
from ..ops.device import to_host
from ..threads import ThreadTuner
from ..timing import section
from .build import model_label, model_of, optimizer_of, restore, schedule_of, task_of
from .config import TrainConfig
from .memory import check_fits, estimate_evaluation, estimate_training
from .progress import Progress
from .rundir import RunDir, RunDirError, metric_columns

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
    A model on the GPU (:func:`indrnn_np.nn.to_device`) takes the whole step
    there: x is copied in (and y by the loss), and the one copy back to the
    host is the loss with the gradients' sums of squares
    (:func:`indrnn_np.nn.optim.device_step_stats`), which decide the clipping
    factor and whether to update.
    """
    on_device = getattr(model, "on_device", False)  # its forward copies x in
    with np.errstate(over="ignore", invalid="ignore"):
        pred, caches = model.forward(x, train=True)
        loss, lcache = loss_forward(pred, y)
        _, grads = model.backward(loss_backward(1.0, lcache), caches, input_grad=False)
    with section("optimizer"):
        # one read of each gradient for both norms, then one pass over each parameter
        if on_device:
            loss, norm, clipped_norm = device_step_stats(loss, grads, clip_value)
        else:
            norm, clipped_norm = grad_norms(grads, clip_value, opt.backend)
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


class TrainingInterrupted(Exception):
    """Ctrl-C: a checkpoint of the last completed step was saved."""


# --------------------------------------------------------------------------
# A run's live state
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    cfg: TrainConfig
    run: RunDir
    task: object
    model: object
    opt: object
    schedule: object
    data_rng: np.random.Generator
    step: int = 0  # the last completed step
    saved: int | None = None  # the step of the last checkpoint written or resumed from
    elapsed0: float = 0.0  # seconds spent before this process
    acc: dict = dataclasses.field(default_factory=lambda: {"loss_sum": 0.0, "count": 0})

    @property
    def columns(self) -> list[str]:
        return metric_columns(self.task.metric)

    def meta(self, step: int, elapsed: float) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "step": step,
            "elapsed_s": elapsed,
            "data_rng": self.data_rng.bit_generator.state,
            "acc": dict(self.acc),
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "task": self.task.state_dict() if hasattr(self.task, "state_dict") else {},
        }


def _build(cfg: TrainConfig, run: RunDir) -> _Run:
    task = task_of(cfg)
    model = model_of(cfg, task)
    opt = optimizer_of(cfg, model)
    return _Run(cfg, run, task, model, opt, schedule_of(cfg), np.random.default_rng(cfg.seed + 1))


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------


def train(cfg: TrainConfig, out_dir, *, progress: bool = True, log=print) -> dict:
    """Start a new run in ``out_dir`` and train it to ``cfg.steps``.

    Writes metrics, checkpoints (every ``cfg.checkpoint_every`` steps, at the
    end and on Ctrl-C), the summary and the curve (see :class:`RunDir`).
    Everything that can fail before training (the config, the data, the
    backend, the folder) fails before anything is written.

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
    OutputError
        ``out_dir`` cannot be created or written.
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
    artifacts = getattr(state.task, "artifacts", dict)()
    run.check_new(also=artifacts)
    run.make()
    run.start_metrics(state.columns)
    for name, array in artifacts.items():
        run.save_array(name, array)
    return _loop(state, progress, log)


def resume(
    out_dir, *, steps: int | None = None, task: str | None = None, progress: bool = True, log=print
) -> dict:
    """Continue the run in ``out_dir`` from its checkpoint, to its own ``steps`` or to ``steps``.

    A resumed run reproduces an uninterrupted one with the same seed bit for
    bit (``elapsed_s`` aside): the metrics past the checkpoint's step are
    dropped and recomputed. A run that has reached its steps already returns
    its summary.

    Parameters
    ----------
    steps : int, optional
        A new total (to extend the run); at least the checkpoint's step.
    task : str, optional
        The task the caller expects; a run of another task is refused.

    Raises
    ------
    RunDirError, CheckpointError
        No checkpoint, an unreadable one, a diverged run, another task, or
        ``steps`` below the checkpoint's step; nothing in the folder is changed.
    MemoryTooLarge
        The run no longer fits in the memory available (checked before the checkpoint's arrays are read).
    """
    run = RunDir(out_dir)
    run.check_not_diverged()
    check_fits(estimate_training(run.read_meta()["config"], resume=True))
    arrays, meta = run.load_checkpoint()
    cfg = meta["config"]
    if task is not None and task != cfg.task:
        raise RunDirError(
            f"{run.path} holds a run of task {cfg.task}, not {task}: resume it with `train {cfg.task} --resume {run.path}`"
        )
    if steps is not None:
        if steps < meta["step"]:
            raise RunDirError(f"--steps {steps} is below the step the run has reached ({meta['step']})")
        cfg.steps = steps
    state = _build(cfg, run)
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
    run.read_metrics(state.columns)  # every row checked before anything is changed
    summary = run.read_summary()
    if state.step >= cfg.steps and summary is not None and summary.get("steps") == state.step:
        log(f"{run.path}: the run is complete ({state.step} steps); pass --steps to extend it")
        return summary
    run.check_writable()
    run.truncate_metrics(state.step, state.columns)
    return _loop(state, progress, log)


def evaluate_run(out_dir) -> dict:
    """The test metric of a run's checkpoint on the task's full test set, also written to evaluation.json.

    Returns
    -------
    dict
        ``{"task": ..., "step": ..., <metric>: value, "full_test_set": True}``.

    Raises
    ------
    RunDirError, CheckpointError
        The folder holds no readable checkpoint.
    MemoryTooLarge
        The evaluation's estimated peak memory exceeds what is available.
    OutputError
        evaluation.json cannot be written there (checked before the evaluation runs).
    """
    from .build import load_model

    run = RunDir(out_dir)
    check_fits(estimate_evaluation(run.read_meta()["config"]))  # no readable checkpoint: refused first
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
    cfg = s.cfg
    log(
        f"training {model_label(cfg)} on {cfg.task} (T={cfg.T}): {s.model.num_params():,} parameters, "
        f"{cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch}, steps {s.step + 1}..{cfg.steps} -> {s.run.path}"
    )
    for attr, text in (("description", "data: {}"), ("baseline", "baseline (a constant prediction): {:.3f}")):
        if hasattr(s.task, attr):
            log(text.format(getattr(s.task, attr)))
    bar = Progress(progress, s.step + 1, cfg.steps, s.task.metric, log, backend=cfg.backend)
    t0, metric, interrupted = time.perf_counter(), None, []
    tuner = ThreadTuner(enabled=None if cfg.backend == "cpu" else False)
    previous = _catch_sigint(interrupted)
    try:
        for step in range(s.step + 1, cfg.steps + 1):
            bar.before_step(step)
            with tuner.step():
                res = _one_step(s, step)
            elapsed = s.elapsed0 + time.perf_counter() - t0
            evaluated = step % cfg.eval_every == 0 or step == cfg.steps
            if evaluated:
                metric = _evaluate(s, step, res, elapsed)
            bar.after_step(step, res.loss, metric, evaluated)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                s.run.save_checkpoint(model=s.model, opt=s.opt, meta=s.meta(step, elapsed))
                s.saved = step
            if interrupted:
                _plot_curve(s)  # the folder shows the curve so far
                raise TrainingInterrupted(
                    f"interrupted after step {step}: checkpoint saved to {s.run.file(s.run.CHECKPOINT)}; "
                    f"continue with --resume {s.run.path}"
                )
    finally:
        bar.close()
        tuner.close()
        _restore_sigint(previous)
    return _finish(s, metric, s.elapsed0 + time.perf_counter() - t0, log)


def _one_step(s: _Run, step: int) -> StepResult:
    """Draw a batch and take a step; a non-finite loss or gradient ends the run as diverged."""
    if hasattr(s.schedule, "lr_at"):
        s.opt.lr = s.schedule.lr_at(step - 1)
    with section("data"):
        x, y = s.task.train_batch(s.data_rng, s.cfg.batch)
    res = train_step(
        s.model,
        s.opt,
        x,
        y,
        loss_forward=s.task.loss_forward,
        loss_backward=s.task.loss_backward,
        clip_value=s.cfg.clip_value,
        clip_norm=s.cfg.clip_norm,
    )
    if not res.finite:
        what, value = ("loss", res.loss) if not np.isfinite(res.loss) else ("gradient norm", res.grad_norm)
        _diverged(s, step, f"the {what} became {value} (lr {s.opt.lr:g})")
    s.acc["loss_sum"] += res.loss
    s.acc["count"] += 1
    return res


def _evaluate(s: _Run, step: int, res: StepResult, elapsed: float) -> float:
    """Evaluate on the test data, let a plateau schedule see the training loss, and append a metrics row."""
    metric = float(s.task.evaluate(s.model)[s.task.metric])
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


def _diverged(s: _Run, step: int, what: str):
    kept = (
        f"the last good checkpoint (step {s.saved}) is kept in {s.run.file(s.run.CHECKPOINT)}"
        if s.saved is not None
        else "no checkpoint had been written yet"
    )
    message = f"step {step}: {what}; training stopped; {kept}"
    params = s.model.num_params()
    s.run.mark_diverged({"step": step, "params": params, "message": message, "config": s.cfg.to_dict()})
    raise TrainingDiverged(message, step=step, params=params)


def _finish(s: _Run, metric, wall: float, log) -> dict:
    if metric is None:
        metric = float(s.task.evaluate(s.model)[s.task.metric])
    summary = {
        s.task.metric: metric,
        "steps": s.cfg.steps,
        "wall_s": wall,
        "params": s.model.num_params(),
        "baseline": getattr(s.task, "baseline", None),
        "config": s.cfg.to_dict(),
    }
    s.run.write_summary(summary)
    _plot_curve(s)
    log(f"done: {s.task.metric} {metric:.5f} after {s.cfg.steps} steps in {wall:.1f} s; wrote {s.run.path}")
    return summary


def _plot_curve(s: _Run) -> None:
    from ..plots import plot_curve

    m = s.run.read_metrics(s.columns)
    if not len(m["step"]):
        return
    cfg = s.cfg
    plot_curve(
        s.run.curve_path(),
        m["step"],
        m[s.task.metric],
        metric=s.task.metric,
        baseline=getattr(s.task, "baseline", None),
        title=f"{cfg.task}, T = {cfg.T}: {model_label(cfg)}, {cfg.optimizer} lr {cfg.lr:g}",
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
    name, summary = run.path.name, run.read_summary()
    if run.is_diverged():
        log(f"{name}: diverged before, reusing {run}")
        return
    if summary is not None and summary["steps"] >= cfg.steps:
        log(f"{name}: done before, reusing {run}")
        return
    again = run.has_checkpoint()
    log(f"{name}: {'resuming' if again else 'training'} ({cfg.steps} steps, lr {cfg.lr:g})")
    t0 = time.perf_counter()
    quiet = lambda *a: None  # noqa: E731
    try:
        if again:
            resume(run.path, steps=cfg.steps, progress=progress, log=quiet)
        else:
            train(cfg, run.path, progress=progress, log=quiet)
    except TrainingDiverged as exc:
        log(f"  diverged: {exc}")
    log(f"  {time.perf_counter() - t0:.0f} s")
