"""Layer 4: a run's live state (:class:`RunState`, what the loop and its callbacks see) and the ways a
run ends other than at its last step (:class:`TrainingDiverged`, :class:`TrainingInterrupted`,
:class:`TrainingOutOfMemory`).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..errors import UserError
from ..ops.device import to_host
from ..tasks import TASK_MEMBERS
from .build import model_label
from .config import TrainConfig
from .record import record_of
from .rundir import RunDir, metric_columns


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


class TrainingOutOfMemory(UserError, MemoryError):
    """A step or evaluation ran out of memory (a :class:`MemoryError`; the command line prints it as one
    line, exit 2): where, the allocation that failed, and the options that lower the memory."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C: a checkpoint of the last completed step was saved.

    A :class:`KeyboardInterrupt`, as the Ctrl-C it stands for: ``except Exception`` does not swallow it
    (scikit-learn's ``cross_val_score`` records a failed fit as NaN and goes on; a Ctrl-C stops it).
    """


@dataclasses.dataclass(eq=False)
class RunState:
    """A run's live state: what the training loop works on and what its callbacks are given.

    Callbacks (:mod:`indrnn_np.train.callbacks`) read it, and may stop the run with :meth:`stop`;
    the model, optimizer and task are the run's own objects (changing them changes the run).

    Attributes
    ----------
    folder : RunDir or MemoryRun
        The run folder (``folder.persistent`` is False for a run without one).
    task, model, optimizer, schedule
        The run's objects (``schedule`` may be None).
    settings : dict
        The loop's settings: ``steps``, ``batch``, ``clip_value``, ``clip_norm``, ``eval_every``,
        ``checkpoint_every``, ``seed`` and ``task`` (its name, metric and description).
    cfg : TrainConfig or None
        The configuration of a run of the command line or ``train(cfg, ...)``; None for a run of objects.
    step : int
        The last completed step (0 before the first; the checkpoint's step on a resume).
    metric : float or None
        The test metric of the last evaluation in this process (None before one).
    evaluated : int or None
        The step of that evaluation.
    saved : int or None
        The step of the last checkpoint written or resumed from.
    elapsed : float
        Seconds of training, this process's and those before it.
    step_seconds : float
        Seconds the last step's forward, backward and update took (its hooks and evaluation aside).
    stopped : dict or None
        ``{"step", "reason", "steps_asked"}`` once a callback called :meth:`stop`.
    """

    folder: RunDir
    task: object
    model: object
    optimizer: object
    schedule: object
    settings: dict
    cfg: TrainConfig | None = None
    step: int = 0
    saved: int | None = None
    elapsed0: float = 0.0  # seconds spent before this process
    acc: dict = dataclasses.field(default_factory=lambda: {"loss_sum": 0.0, "count": 0})
    data_rng: np.random.Generator = None
    words: dict | None = None  # the caller's settings in its own words (an estimator's keywords)
    record: dict = None  # run.json: the run's id and everything that changes its numbers
    metric: float | None = None
    evaluated: int | None = None
    elapsed: float = 0.0
    step_seconds: float = 0.0
    stopped: dict | None = None

    def __post_init__(self):
        if self.data_rng is None:
            self.data_rng = np.random.default_rng(self.settings["seed"])
        if self.record is None:
            self.record = record_of(self)

    steps = property(lambda self: self.settings["steps"], doc="The step the run trains to.")
    batch = property(lambda self: self.settings["batch"])
    clip_value = property(lambda self: self.settings["clip_value"])
    clip_norm = property(lambda self: self.settings["clip_norm"])
    eval_every = property(lambda self: self.settings["eval_every"])
    checkpoint_every = property(lambda self: self.settings["checkpoint_every"])

    def stop(self, reason: str) -> None:
        """End the run after the current step, as complete (early stopping).

        Called from a callback's hook (``on_train_begin``, ``on_step_begin``, ``on_step_end`` or
        ``on_evaluation``): the step in progress, or the next one, ends (evaluated and checkpointed if it was not),
        then the run's summary is written with ``steps`` the step reached and ``stopped``
        recording where and why. A resume with no more steps than this run was asked for returns
        that summary; one asked for more steps continues from the step where it stopped.

        Parameters
        ----------
        reason : str
            Why, in words (recorded in ``summary.json`` and the checkpoint).
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"reason must be a non-empty str saying why the run stops; got {reason!r}")
        if self.stopped is None:  # the first reason given stands; the loop adds the step it ends at
            self.stopped = {"reason": reason, "steps_asked": self.steps}

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
        if self.stopped is not None and "step" in self.stopped:  # the run ended there (loop._stop)
            meta["stopped"] = dict(self.stopped)
        return meta

    def save_checkpoint(self) -> None:
        """Write the checkpoint of the last completed step (a run with a folder only)."""
        if self.folder.persistent:
            self.folder.save_checkpoint(
                model=self.model, opt=self.optimizer, meta=self.meta(self.step, self.elapsed)
            )
            self.saved = self.step

    def max_u(self) -> float:
        """The largest ``|u|`` of the model's recurrent weights (0 without any)."""
        return max(
            (float(np.max(np.abs(to_host(v)))) for k, v in self.model.params.items() if k.endswith(".u")),
            default=0.0,
        )

    def names(self) -> tuple[str, str, str]:
        """(the model, the task, the optimizer) in words, for the first log line and the curve's title."""
        if self.cfg is not None:
            cfg = self.cfg
            return model_label(cfg), f"{cfg.task}, T = {cfg.T}", f"{cfg.optimizer} lr {cfg.lr:g}"
        layers = getattr(self.model, "layers", None)
        model = type(self.model).__name__ + (f" of {len(layers)} layers" if layers is not None else "")
        return (
            model,
            self.settings["task"]["name"],
            f"{type(self.optimizer).__name__} lr {self.optimizer.lr:g}",
        )

    def resume_hint(self) -> str:
        if self.cfg is not None:  # the whole command: --resume alone is no command
            return f"python -m indrnn_np train {self.cfg.task} --resume {self.folder.path}"
        return f"train(model, optimizer, task, {str(self.folder.path)!r}, ..., resume=True)"

    def kept(self) -> str:
        """What a run that stops on an error keeps, in words."""
        if self.saved is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint (step {self.saved}) is kept in {self.folder.file(self.folder.CHECKPOINT)}"


def loop_settings(task, *, steps, batch, clip_value, clip_norm, eval_every, checkpoint_every, seed) -> dict:
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


def config_settings(cfg: TrainConfig, task) -> dict:
    # the config's seed seeds the model; the batches come from seed + 1, as always (the
    # checkpoint of a config run keeps its config, not these settings)
    return loop_settings(
        task,
        steps=cfg.steps,
        batch=cfg.batch,
        clip_value=cfg.clip_value,
        clip_norm=cfg.clip_norm,
        eval_every=cfg.eval_every,
        checkpoint_every=cfg.checkpoint_every,
        seed=cfg.seed + 1,
    )
