"""Layer 4: training. Options declared once (``config``), per-task recipes (``recipes``),
the run folder (``rundir``), the objects of a run (``build``), the step (``step``), a run's state
(``state``) and record (``record``), the callbacks (``callbacks``) and the loop (``loop``):
``train(cfg, out_dir)`` from a configuration, or ``train(model, optimizer, task, run_dir,
steps=..., batch=...)`` on objects (a task as :class:`indrnn_np.tasks.Task` describes).
"""

from .build import load_model, model_label, model_of, optimizer_of, restore, schedule_of, task_of
from .callbacks import Callback, EarlyStopping
from .config import ConfigError, TrainConfig
from .loop import (
    RunState,
    StepResult,
    TrainingDiverged,
    TrainingInterrupted,
    TrainingOutOfMemory,
    complete_run,
    evaluate_run,
    mse_train_step,
    resume,
    train,
    train_config,
    train_objects,
    train_step,
)
from .recipes import RECIPES, recipe
from .rundir import CheckpointError, RunBusyError, RunChangedError, RunDir, RunDirError, metric_columns

__all__ = [
    "RECIPES",
    "Callback",
    "EarlyStopping",
    "CheckpointError",
    "ConfigError",
    "RunBusyError",
    "RunChangedError",
    "RunDir",
    "RunDirError",
    "RunState",
    "StepResult",
    "TrainConfig",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingOutOfMemory",
    "complete_run",
    "evaluate_run",
    "load_model",
    "metric_columns",
    "model_label",
    "model_of",
    "mse_train_step",
    "optimizer_of",
    "recipe",
    "restore",
    "resume",
    "schedule_of",
    "task_of",
    "train",
    "train_config",
    "train_objects",
    "train_step",
]
