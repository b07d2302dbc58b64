"""Layer 4: the training loop's callbacks: one small protocol, and the built-in callbacks.

Everything the loop does around a step (the progress bar, the thread tuner, checkpoints, Ctrl-C,
the curve and the divergence record) is a :class:`Callback`; ``train(..., callbacks=[...])`` adds
a user's own after the built-ins (:func:`builtin_callbacks` gives their order). The how-to page
"Callbacks: early stopping and your own logging" shows two.
"""

from __future__ import annotations

import signal
import threading

from ..threads import ThreadTuner
from .progress import Progress
from .state import TrainingDiverged, TrainingInterrupted

#: The hooks of the protocol, in the order a run calls them.
HOOKS = ("on_train_begin", "on_step_begin", "on_evaluation", "on_step_end", "on_train_end", "on_exception")


class Callback:
    """A hook into the training loop: subclass it and define the hooks you need (the others do nothing).

    Each hook is given ``run``, the run's live state (:class:`indrnn_np.train.RunState`: its
    folder, model, optimizer, task, settings, the last completed ``step``, the last test
    ``metric``...). A hook may stop the run early with ``run.stop(reason)``. The loop calls,
    in this process (a resumed run starts at the checkpoint's step + 1)::

        on_train_begin(run)                    # before the first step
        for each step:
            on_step_begin(run, step)           # before the step's batch is drawn
            ...the step: forward, loss, backward, update...
            on_evaluation(run, step, metrics)  # every eval_every steps and at the last one
            on_step_end(run, step, result)     # the step done; checkpoints are written here
        on_train_end(run, summary)             # after summary.json is written
        on_exception(run, error)               # instead, when the run ends by an exception

    Callbacks are called in list order for every hook: the built-ins
    (:func:`builtin_callbacks`), then the caller's. An exception raised in a hook ends the run
    (``on_exception`` is called for every callback, then the exception goes on to the caller,
    with a note of the checkpoint kept): the folder keeps its last checkpoint, from which the run
    resumes as if it had not stopped. A run that has reached its steps, or stopped early, calls no
    hook when it is resumed: it returns its summary.
    """

    def on_train_begin(self, run) -> None:
        """Before the first step this process trains (``run.step`` is the step it resumes from, or 0)."""

    def on_step_begin(self, run, step: int) -> None:
        """Before step ``step`` (1-based) draws its batch."""

    def on_evaluation(self, run, step: int, metrics: dict) -> None:
        """After an evaluation on the test data: ``metrics`` is the row appended to metrics.csv
        (``step``, ``train_loss``, the task's metric by its name, ``lr``, ``max_abs_u``,
        ``grad_norm``, ``elapsed_s``); ``run.metric`` is the test metric."""

    def on_step_end(self, run, step: int, result) -> None:
        """After step ``step`` and its evaluation, if any: ``result`` is its
        :class:`indrnn_np.train.StepResult` (``loss``, ``grad_norm``); ``run.step == step``."""

    def on_train_end(self, run, summary: dict) -> None:
        """After the run reached its steps or was stopped (``run.stop``): ``summary`` is what
        summary.json holds (with ``stopped``: the step and reason, when a callback stopped it)."""

    def on_exception(self, run, error: BaseException) -> None:
        """The run ends by ``error`` instead (:class:`TrainingInterrupted` for Ctrl-C,
        :class:`TrainingDiverged`, a failed write, an error in a hook); it is raised again after
        every callback's ``on_exception`` (an error raised in an ``on_exception`` is raised
        instead, from it)."""


def check_callbacks(callbacks) -> list:
    """The caller's callbacks as a list, checked: TypeError naming ``callbacks`` for anything else.

    Each must define at least one hook of :data:`HOOKS` (a :class:`Callback` subclass, or any
    object with such methods); a method ``on_...`` that is no hook (a misspelt one) is refused
    rather than never called.
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, list | tuple):
        raise TypeError(
            f"callbacks must be a list or tuple of callbacks (indrnn_np.train.Callback); "
            f"got {type(callbacks).__name__}"
        )
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(
                f"callbacks[{i}] is the class {cb.__name__}, not a callback: pass an instance, {cb.__name__}()"
            )
        hooks = [h for h in HOOKS if callable(getattr(cb, h, None))]
        unknown = sorted(
            n for n in dir(cb) if n.startswith("on_") and n not in HOOKS and callable(getattr(cb, n))
        )
        uncallable = [h for h in HOOKS if hasattr(cb, h) and not callable(getattr(cb, h))]
        if not hooks or unknown or uncallable:
            if unknown:
                why = f"it has {', '.join(unknown)}, which is no hook"
            elif uncallable:
                why = f"its {', '.join(uncallable)} is {getattr(cb, uncallable[0])!r}, not a method"
            else:
                why = "it has none"
            raise TypeError(
                f"callbacks[{i}] ({type(cb).__name__}) must define hooks of {', '.join(HOOKS)}; {why}"
            )
    return list(callbacks)


class CallbackList:
    """Calls one hook of every callback in order (a callback without that hook is skipped)."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)

    def call(self, hook: str, *args) -> None:
        """``hook(*args)`` of each callback that has it, in order; an exception stops the round."""
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    def on_exception(self, run, error: BaseException) -> None:
        """Every callback's ``on_exception``, even when one raises; then the first such error, if any."""
        failed = None
        for cb in self.callbacks:
            method = getattr(cb, "on_exception", None)
            try:
                if method is not None:
                    method(run, error)
            except Exception as exc:  # noqa: PERF203 - each callback is given its turn
                failed = failed or exc
        if failed is not None:
            raise failed from error


# --------------------------------------------------------------------------
# The built-ins
# --------------------------------------------------------------------------


class ThreadTuning(Callback):
    """Thread counts tuned to the machine's load, for a model on the ``cpu`` backend
    (:class:`indrnn_np.threads.ThreadTuner`; ``INDRNN_THREAD_TUNING=0`` turns it off). It times
    the step alone (``run.step_seconds``); the counts the process had are put back at the end."""

    def __init__(self):
        self.tuner, self.setting = None, None

    def on_train_begin(self, run):
        from ..ops.backend import resolve

        # the model's backend: only CPU threads are tuned
        self.tuner = ThreadTuner(enabled=None if resolve(run.backend).threads_tunable else False)

    def on_step_begin(self, run, step):
        self.setting = self.tuner.begin_step()

    def on_step_end(self, run, step, result):
        if self.setting is not None:
            self.tuner.record(self.setting, run.step_seconds)
            self.setting = None

    def on_train_end(self, run, summary):
        self._close()

    def on_exception(self, run, error):
        self._close()

    def _close(self):
        if self.tuner is not None:
            self.tuner.close()
            self.tuner = None


class ProgressBar(Callback):
    """The progress bar (:class:`indrnn_np.train.progress.Progress`): tqdm on a terminal or in a
    notebook, a line per evaluation in a log file; one-off lines go to ``log``. The train loss shown is
    the evaluation's metrics row's (the mean since the last row), not the last step's."""

    def __init__(self, log=print):
        self.log, self.bar, self.train_loss = log, None, None

    def on_train_begin(self, run):
        self.bar = Progress(True, run.step + 1, run.steps, run.task.metric, self.log, backend=run.backend)

    def on_step_begin(self, run, step):
        self.bar.before_step(step)

    def on_evaluation(self, run, step, metrics):
        self.train_loss = metrics["train_loss"]

    def on_step_end(self, run, step, result):
        evaluated = run.evaluated == step
        loss = self.train_loss if evaluated and self.train_loss is not None else result.loss
        self.bar.after_step(step, loss, run.metric, evaluated)

    def on_train_end(self, run, summary):
        self._close()

    def on_exception(self, run, error):
        self._close()

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Checkpoints(Callback):
    """A checkpoint every ``checkpoint_every`` steps and at the last step (a run with a folder)."""

    def on_step_end(self, run, step, result):
        if step % run.checkpoint_every == 0 or step == run.steps:
            run.save_checkpoint()


class Interruption(Callback):
    """Ctrl-C (SIGINT, in the main thread) ends the run at the end of the step in progress, never
    inside it: the checkpoint of that step is written and :class:`TrainingInterrupted` raised,
    saying how to continue. The handler the process had is put back at the last step."""

    def __init__(self):
        self.signals, self.previous = [], None

    def on_train_begin(self, run):
        self.signals = []
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, lambda signum, frame: self.signals.append(signum))

    def on_step_end(self, run, step, result):
        if self.signals:
            self._restore()
            raise self._interrupted(run, step)
        if step == run.steps or run.stopped is not None:  # a Ctrl-C from here on stops what follows
            self._restore()

    def on_train_end(self, run, summary):
        self._restore()
        if self.signals:  # pressed as the run ended (a later callback stopped it): it ended whole
            raise TrainingInterrupted(
                f"interrupted as the run ended at step {run.step}: its summary and checkpoint are written"
            )

    def on_exception(self, run, error):
        self._restore()

    def _interrupted(self, run, step) -> TrainingInterrupted:
        if not run.folder.persistent:
            return TrainingInterrupted(
                f"interrupted after step {step}: without a run folder nothing was saved "
                "(give a run folder to keep checkpoints)"
            )
        if run.saved != step:
            run.save_checkpoint()
        return TrainingInterrupted(
            f"interrupted after step {step}: checkpoint saved to {run.folder.file(run.folder.CHECKPOINT)}; "
            f"continue with {run.resume_hint()}"
        )

    def _restore(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


class Curve(Callback):
    """curve.png, the test metric against the step: at the end, and on Ctrl-C (the curve so far)."""

    def on_train_end(self, run, summary):
        draw_curve(run)

    def on_exception(self, run, error):
        if isinstance(error, TrainingInterrupted):
            draw_curve(run)


class DivergenceRecord(Callback):
    """diverged.json when the loss, a gradient or the test metric became NaN or inf: the step, the
    message and the run's settings (a diverged run is not resumed: it says so)."""

    def on_exception(self, run, error):
        if isinstance(error, TrainingDiverged):
            record = {
                "step": error.step,
                "params": error.params,
                "message": str(error),
                "config": run.config(),
            }
            if run.cfg is None:
                record["run"] = dict(run.settings)
            run.folder.mark_diverged(record)


class EarlyStopping(Callback):
    """Stop when the test metric has not improved for a while, and keep the best evaluation's weights.

    scikit-learn's rule and names (``MLPClassifier(early_stopping=True)``): an evaluation improves
    when its metric (lower is better: a test error or MSE) is below the best so far by more than
    ``tol``; after ``n_iter_no_change`` evaluations in a row that do not, the run stops
    (``run.stop``, the reason recorded in summary.json and the checkpoint). With ``restore_best``
    the weights (parameters and batch norm's running statistics) of the best evaluation are put
    back before the last checkpoint is written, also when the run reaches its steps after its best
    evaluation (the reason then says so), and ``run.metric``, which the summary reports, is that
    evaluation's. A resumed run starts counting afresh from its checkpoint.

    Parameters
    ----------
    n_iter_no_change : int
        Evaluations without improvement before stopping (>= 1).
    tol : float
        The least decrease of the metric that counts as an improvement (>= 0).
    restore_best : bool
        Put the best evaluation's weights back at the end.
    """

    def __init__(self, n_iter_no_change: int = 10, tol: float = 1e-4, restore_best: bool = True):
        if (
            not isinstance(n_iter_no_change, int)
            or isinstance(n_iter_no_change, bool)
            or n_iter_no_change < 1
        ):
            raise ValueError(f"n_iter_no_change must be an integer >= 1; got {n_iter_no_change!r}")
        if not isinstance(tol, int | float) or isinstance(tol, bool) or not tol >= 0:
            raise ValueError(f"tol must be a number >= 0; got {tol!r}")
        if not isinstance(restore_best, bool):
            raise TypeError(f"restore_best must be True or False; got {restore_best!r}")
        self.n_iter_no_change, self.tol, self.restore_best = n_iter_no_change, float(tol), restore_best
        self.best, self.best_step, self.waited, self.weights = float("inf"), None, 0, None

    def on_train_begin(self, run):
        self.best, self.best_step, self.waited, self.weights = float("inf"), None, 0, None

    def on_evaluation(self, run, step, metrics):
        value = metrics[run.task.metric]
        if value < self.best - self.tol:
            self.best, self.best_step, self.waited = float(value), step, 0
            if self.restore_best:
                self.weights = _weights_of(run.model)
            return
        self.waited += 1
        if self.waited >= self.n_iter_no_change:
            metric = run.task.metric
            reason = (
                f"{metric} has not improved on {self.best:.6g} (step {self.best_step}) by more than tol "
                f"{self.tol:g} for {self.n_iter_no_change} evaluations"
            )
            run.stop(reason + self._restore(run))

    def on_step_end(self, run, step, result):
        if step == run.steps and run.stopped is None and self.best_step not in (None, step):
            restored = self._restore(run)
            if restored:
                run.stop(f"reached its {run.steps} steps after its best evaluation{restored}")

    def _restore(self, run) -> str:
        """Put the best weights back (with ``restore_best``); say so, or nothing."""
        if not self.restore_best or self.weights is None or self.best_step == run.step:
            return ""
        from ..ops.device import assign

        params, buffers = run.model.params, run.model.buffers
        for name, value in self.weights.items():
            assign(params[name] if name in params else buffers[name], value)
        run.metric = self.best
        return f"; the weights of step {self.best_step} ({run.task.metric} {self.best:.6g}) were restored"


def _weights_of(model) -> dict:
    """Copies of a model's parameters and buffers, by name (where they live)."""
    from ..ops.device import copy

    return {name: copy(a) for name, a in {**model.params, **model.buffers}.items() if a is not None}


def builtin_callbacks(*, progress: bool, log=print) -> list[Callback]:
    """The loop's own callbacks, in the order they are called: :class:`ThreadTuning`,
    :class:`ProgressBar` (with ``progress``), :class:`Checkpoints`, :class:`Interruption`,
    :class:`Curve`, :class:`DivergenceRecord`. A caller's callbacks follow them."""
    bar = [ProgressBar(log)] if progress else []
    return [ThreadTuning(), *bar, Checkpoints(), Interruption(), Curve(), DivergenceRecord()]


def draw_curve(run) -> None:
    """Draw the run's curve.png from its metrics.csv (nothing for a run without a folder or rows)."""
    from ..plots import plot_curve

    if not run.folder.persistent:
        return
    m = run.folder.read_metrics(run.columns)
    if not len(m["step"]):
        return
    model, task, opt = run.names()
    plot_curve(
        run.folder.curve_path(),
        m["step"],
        m[run.task.metric],
        metric=run.task.metric,
        baseline=getattr(run.task, "baseline", None),
        title=f"{task}: {model}, {opt}",
    )
