"""Every training option, declared once.

Each field of :class:`TrainConfig` carries its type (the annotation), its
default, and an :class:`Option` in the field's metadata: the help text, the
allowed values or range, and whether ``--resume`` may change it. From these
declarations come the ``train`` command's options (:func:`add_train_options`,
with each task's real defaults in its ``--help``), the validation of a
configuration (:meth:`TrainConfig.validate`) and the strict reading of a
configuration stored in a checkpoint (:meth:`TrainConfig.from_dict`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Iterator

from ..errors import UserError
from ..kernels import ACTIVATIONS
from ..nn.layers import BN_MODES, BN_POSITIONS
from ..nn.models import MODELS
from ..ops import BACKENDS, POOLS
from ..ops.backend import resolve
from ..tasks import FIXED_T, STATEFUL, TASKS


class ConfigError(UserError, ValueError):
    """A configuration value that is not allowed; the message names the option.

    ``option`` is the field the message starts with (None when it names none first): the command line
    shows that field as the flag the user typed (:meth:`for_command_line`), the Python API as the field.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option

    def for_command_line(self) -> str:
        """The message with its leading field name as the flag: ``eval_every must be >= 1`` ->
        ``--eval-every must be >= 1``."""
        text = str(self)
        rest = text[len(self.option or "") :]
        if self.option and text.startswith(self.option) and not (rest[:1].isalnum() or rest[:1] == "_"):
            return flag(self.option) + rest
        return text


@dataclasses.dataclass(frozen=True)
class Option:
    """How one option of :class:`TrainConfig` is given and checked.

    Attributes
    ----------
    help : str
        One line for ``--help``.
    choices : tuple, optional
        The allowed values.
    low, high : float, optional
        Allowed range, inclusive unless ``low_open`` / ``high_open``.
    cli : bool
        False: not a ``--flag`` (the task is the command's positional argument).
    on_resume : bool
        True: ``--resume`` may give it, and a resumed run may differ in it without changing its
        numbers (``steps``, to extend a run; the evaluation and checkpoint cadence).
    off_flag : str, optional
        A flag that sets the option to None (``--no-clip``).
    tasks : tuple, optional
        The tasks the option applies to (None: all). Other tasks' ``train TASK`` commands do not offer
        it, and :meth:`TrainConfig.validate` refuses a value other than the default for them.
    task_help : dict, optional
        Task -> the whole help line, default included, for that task's ``train TASK --help`` (else
        ``help`` and the task's default).
    flag : str, optional
        The command-line flag when it is not the field's name as ``--kebab-case`` (``--task`` of
        ``task_type``: the field ``task`` is the command's positional argument).
    task_low : dict, optional
        Task -> ``(minimum, what)``: a larger minimum for that task, checked in place of ``low`` so that
        the first refusal already says it (``T`` of the adding problem: 2, two marked steps).
    """

    help: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    cli: bool = True
    on_resume: bool = False
    off_flag: str | None = None
    tasks: tuple | None = None
    task_help: dict | None = None
    flag: str | None = None
    task_low: dict | None = None

    def applies_to(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


def option(default, help: str, **kw):
    """A dataclass field whose metadata holds its :class:`Option`."""
    return dataclasses.field(default=default, metadata={"option": Option(help=help, **kw)})


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run.

    The defaults solve the adding problem at T = 100 (test MSE below 0.01) in
    under a minute on 2 CPU cores, with the paper's settings. Per-task
    defaults live in :mod:`indrnn_np.train.recipes`.
    """

    task: str = option("adding", "the task", choices=tuple(TASKS), cli=False)
    model: str = option(
        "indrnn",
        "the recurrent network: IndRNN, or a baseline (tanh RNN, IRNN: a ReLU RNN with U = I, LSTM), "
        "stacked --layers deep",
        choices=MODELS,
    )
    T: int = option(100, "sequence length", low=1, task_low={"adding": (2, "the adding problem")})
    steps: int = option(
        3000, "total training steps (with --resume: extend the run to this many)", low=1, on_resume=True
    )
    batch: int = option(50, "batch size", low=1)
    layers: int = option(
        2, "recurrent layers (IndRNN, or stacked baselines), or the residual network's depth", low=1
    )
    hidden: int = option(128, "neurons per layer", low=1)
    widths: str | None = option(
        None,
        "neurons of each recurrent layer, comma-separated, e.g. 128,1 (a one-neuron second layer); "
        "replaces --hidden and --layers (not with --residual)",
    )
    residual: bool = option(False, "residual IndRNN (pre-activation blocks)")
    bidirectional: bool = option(
        False,
        "bidirectional IndRNN: each recurrent layer also reads every sequence in reverse (outputs "
        "concatenated)",
    )
    pool: str = option(
        "last",
        "how the head reads each sequence (one output per sequence): its last step, or the mean or the "
        "maximum of every real step; auto: max for one target per sequence, each step's own output for "
        "a target at every step",
        choices=(*POOLS, "auto"),
        tasks=("adding", "mnist", "pmnist", "rowmnist", "arrays"),
    )
    dense_blocks: str | None = option(
        None,
        "dense IndRNN: dense layers of each block, comma-separated, e.g. 3,3,3 (21 recurrent layers); "
        "--hidden is then the input unit's width",
    )
    growth: int = option(16, "dense IndRNN: features each dense layer adds (k; bottleneck 4k)", low=1)
    bn: str = option("none", "batch norm: none, over time, or frame-wise", choices=BN_MODES)
    bn_position: str = option(
        "before",
        "batch norm before the recurrence (Weight-BN-IndRec) or after the layer",
        choices=BN_POSITIONS,
    )
    dropout: float = option(
        0.0, "dropout, one mask per sequence shared over time", low=0.0, high=1.0, high_open=True
    )
    shift: int = option(
        0,
        "move each training image by up to this many whole pixels (0: no augmentation)",
        low=0,
        high=8,
        tasks=("mnist", "pmnist", "rowmnist"),
    )
    activation: str = option("relu", "the recurrent activation", choices=tuple(ACTIVATIONS))
    optimizer: str = option("adam", "the optimizer", choices=("adam", "sgd"))
    lr: float = option(2e-4, "learning rate (the paper's for ReLU models: 2e-4)", low=0.0, low_open=True)
    momentum: float = option(0.9, "SGD momentum", low=0.0, high=1.0, high_open=True)
    weight_decay: float = option(0.0, "L2 on weights, not on u or biases", low=0.0)
    schedule: str = option(
        "step",
        "learning-rate schedule: step multiplies lr by 0.1 every --decay-every steps; plateau "
        "multiplies it by 0.1 when the mean training loss between evaluations has not fallen for "
        "--plateau-patience evaluations (the test metric is never used); none keeps lr fixed",
        choices=("step", "plateau", "none"),
    )
    decay_every: int = option(20000, "steps between lr x0.1 of the step schedule (the paper: 20000)", low=1)
    plateau_patience: int = option(
        5, "evaluations without improvement before the plateau schedule cuts lr", low=0
    )
    u_constraint: str = option(
        "symmetric",
        "project u into [-u_max, u_max], [0, u_max], or not at all",
        choices=("symmetric", "nonnegative", "none"),
    )
    gamma: float = option(2.0, "largest gradient growth γ; u_max = γ^(1/T)", low=1.0)
    clip_value: float | None = option(
        10.0, "element-wise gradient clamp", low=0.0, low_open=True, off_flag="--no-clip"
    )
    clip_norm: float | None = option(
        None, "global gradient-norm clipping (off unless given)", low=0.0, low_open=True
    )
    eval_every: int = option(
        100,
        "steps between evaluations (with --resume: a new cadence; not with --schedule plateau)",
        low=1,
        on_resume=True,
    )
    test_size: int = option(1000, "test sequences (adding), monitored test images or characters", low=1)
    checkpoint_every: int = option(
        500, "steps between checkpoints (with --resume: a new cadence)", low=1, on_resume=True
    )
    seed: int = option(0, "random seed of the model, the data and dropout", low=0, high=2**63 - 1)
    backend: str = option("cpu", "kernels of the recurrence", choices=BACKENDS)
    dtype: str = option(
        "float32", "floating-point type of parameters and activations", choices=("float32", "float64")
    )
    data: str | None = option(
        None,
        "the data: a folder of data files, or for task arrays the .npz file",
        tasks=("mnist", "pmnist", "rowmnist", "ptb-char", "arrays"),
        task_help={
            **dict.fromkeys(
                ("mnist", "pmnist", "rowmnist"),
                "folder of the MNIST IDX files (default: $INDRNN_MNIST_DIR, else the copy in the data extra)",
            ),
            "ptb-char": "folder of the PTB text files (default: $INDRNN_PTB_DIR, else the copy in the data "
            "extra)",
            "arrays": "the .npz file of your sequences: keys x, y, optional lengths, x_test, y_test, "
            "lengths_test (required)",
        },
    )
    task_type: str | None = option(
        None,
        "classification or regression of the data file's y",
        choices=("classification", "regression"),
        tasks=("arrays",),
        flag="--task",
        task_help={
            "arrays": "classification or regression of the file's y (default: from y: integer or string "
            "labels are classes, non-integral floats values to regress; floats that are all whole "
            "numbers, 0.0/1.0/2.0, are refused unless this says which)"
        },
    )

    # ------------------------------------------------------------------
    def validate(self) -> TrainConfig:
        """Check every option against its declaration, then the rules between options.

        Returns self; raises :class:`ConfigError` naming the first bad option.
        """
        for f, opt in options():
            _check_value(f.name, getattr(self, f.name), _field_type(f), opt, self.task)
        fixed_T = FIXED_T.get(self.task)
        _need(
            fixed_T is None or self.T == fixed_T,
            f"T is {fixed_T} for {self.task} (the image's sequence); got {self.T}",
            "T",
        )
        _need(
            self.shift == 0 or fixed_T is not None,
            f"shift (random translation of training images) is for the MNIST tasks; got task {self.task}",
            "shift",
        )
        for f, opt in options():
            _need(
                opt.applies_to(self.task) or getattr(self, f.name) == f.default,
                f"{f.name} is an option of task{'s' if len(opt.tasks or ()) > 1 else ''} "
                f"{', '.join(opt.tasks or ())}, not of {self.task}; got {getattr(self, f.name)!r}",
                f.name,
            )
        _need(
            self.task not in STATEFUL or self.model == "indrnn",
            f"{self.task} trains stateful IndRNNs only; got model {self.model}",
        )
        _need(
            not resolve(self.backend).on_device or self.model == "indrnn",
            "backend cuda trains the IndRNN networks only: the baselines (LSTM, RNN) have no "
            f"CUDA kernels; got model {self.model}",
            "backend",
        )
        _need(
            not self.bidirectional or (self.model == "indrnn" and self.dense_blocks is None),
            "bidirectional is an option of the IndRNN networks (plain, residual, with batch norm): "
            f"not of --dense-blocks or a baseline model; got model {self.model}"
            + (f", dense_blocks {self.dense_blocks}" if self.dense_blocks is not None else ""),
            "bidirectional",
        )
        _need(
            not self.bidirectional or self.task not in STATEFUL,
            f"{self.task} carries its state forward from batch to batch: a bidirectional network "
            "cannot read its future",
        )
        _need(
            self.task != "arrays" or self.data is not None,
            "task arrays trains on your own arrays: give the .npz file with --data FILE.npz",
        )
        if self.dense_blocks is not None:
            parse_widths(self.dense_blocks, "dense_blocks")
            _need(
                self.model == "indrnn" and not self.residual and self.widths is None,
                "dense_blocks builds a dense IndRNN: not with --residual, --widths or a baseline model",
                "dense_blocks",
            )
        if self.widths is not None:
            widths = parse_widths(self.widths)
            _need(
                not self.residual or len(set(widths)) == 1,
                f"a residual network's layers all have one width; got widths {self.widths}",
            )
        return self

    def layer_widths(self) -> list[int]:
        """The neurons of each recurrent layer: ``widths``, else ``layers`` times ``hidden``."""
        return parse_widths(self.widths) if self.widths is not None else [self.hidden] * self.layers

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d, where: str = "config") -> TrainConfig:
        """A validated config from a dict with exactly the declared keys (a checkpoint's, say).

        Options added after runs were saved (:data:`ADDED_OPTIONS`) take the
        value that reproduces those runs when they are absent; any other key
        that is missing, unknown or of the wrong type raises
        :class:`ConfigError` naming ``where`` and the key.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"{where} must be a JSON object; got {type(d).__name__}")
        if "widths" not in d and d.get("model", "indrnn") != "indrnn":
            d = {**d, "layers": 1}  # saved before baselines could be stacked: they had one layer
        if "task_type" not in d and d.get("task") == "arrays":  # saved when float y meant regression
            d = {**d, "task_type": _legacy_arrays_kind(d.get("data"))}
        d = {**{k: v for k, v in ADDED_OPTIONS.items() if k not in d}, **d}
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        missing = [n for n in names if n not in d]
        if unknown:
            raise ConfigError(f"{where} has unknown key {unknown[0]!r}")
        if missing:
            raise ConfigError(f"{where} lacks key {missing[0]!r}")
        try:
            return cls(**d).validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None


#: Options added after runs of this project were saved, with the value that behaves as before they existed
#: (the committed study runs predate ``data`` and ``shift``).
ADDED_OPTIONS = {
    "data": None,
    "shift": 0,
    "widths": None,
    "dense_blocks": None,
    "growth": 16,
    "bidirectional": False,
    "task_type": None,
    "pool": "last",
}


def _legacy_arrays_kind(path) -> str | None:
    """``task_type`` of a ``train arrays`` run saved before the option existed: ``"regression"`` when its
    file's ``y`` holds floats (all floats were then regressed, whole numbers too), else None (from y)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as f:
            kind = f["y"].dtype.kind
    except Exception:  # noqa: BLE001 - no readable file: the task's loading says what is wrong
        return None
    return "regression" if kind == "f" else None


def parse_widths(text: str, name: str = "widths") -> list[int]:
    """``"128,1"`` -> ``[128, 1]``; ConfigError naming ``name`` unless every entry is a positive integer."""
    try:
        widths = [int(w) for w in str(text).split(",")]
    except ValueError:
        widths = []
    _need(
        len(widths) >= 1 and all(w >= 1 for w in widths),
        f"{name} must be positive integers separated by commas, e.g. 128,1; got {text!r}",
        name,
    )
    return widths


def options() -> Iterator[tuple[dataclasses.Field, Option]]:
    """Every (field, Option) of :class:`TrainConfig`, in declaration order."""
    for f in dataclasses.fields(TrainConfig):
        yield f, f.metadata["option"]


_HINTS: dict | None = None


def _field_type(f: dataclasses.Field):
    """(base type, nullable) of a field from its annotation."""
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(TrainConfig)
    hint = _HINTS[f.name]
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _need(cond: bool, message: str, option: str | None = None) -> None:
    if not cond:
        raise ConfigError(message, option)


def _check_value(name: str, value, kind_nullable, opt: Option, task: str | None = None) -> None:
    kind, nullable = kind_nullable
    if value is None:
        _need(nullable, f"{name} must be given; got None", name)
        return
    if kind is bool:
        _need(isinstance(value, bool), f"{name} must be true or false; got {value!r}", name)
    elif kind is int:
        _need(
            isinstance(value, int) and not isinstance(value, bool),
            f"{name} must be an integer; got {value!r}",
            name,
        )
    elif kind is float:
        _need(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            f"{name} must be a finite number; got {value!r}",
            name,
        )
    elif kind is str:
        _need(isinstance(value, str), f"{name} must be a string; got {value!r}", name)
    if opt.choices is not None:
        _need(
            value in opt.choices,
            f"{name} must be one of {', '.join(map(str, opt.choices))}; got {value!r}",
            name,
        )
    if opt.task_low is not None and task in opt.task_low:
        low, what = opt.task_low[task]
        _need(value >= low, f"{name} must be >= {low:g} for {what}; got {value!r}", name)
    elif opt.low is not None:
        ok = value > opt.low if opt.low_open else value >= opt.low
        _need(ok, f"{name} must be {'>' if opt.low_open else '>='} {opt.low:g}; got {value!r}", name)
    if opt.high is not None:
        ok = value < opt.high if opt.high_open else value <= opt.high
        _need(ok, f"{name} must be {'<' if opt.high_open else '<='} {opt.high:g}; got {value!r}", name)


# --------------------------------------------------------------------------
# The command line's view of the declarations
# --------------------------------------------------------------------------


def flag(name: str) -> str:
    """The command-line flag of an option: ``bn_position`` -> ``--bn-position`` (or its Option's ``flag``:
    ``task_type`` -> ``--task``)."""
    own = next((opt.flag for f, opt in options() if f.name == name and opt.flag), None)
    return own or "--" + name.replace("_", "-")


def add_train_options(
    parser: argparse.ArgumentParser, defaults: TrainConfig, shown: dict | None = None
) -> None:
    """Add one ``--flag`` per declared option, its help showing ``defaults``' value (or ``shown[name]``,
    for an option the task's data decide). Options of other tasks than ``defaults.task`` are hidden.

    Options not given on the command line are absent from the parsed
    namespace (``argparse.SUPPRESS``), so :func:`given_options` tells what
    the user typed from what a recipe supplies.
    """
    task = defaults.task
    for f, opt in options():
        if not opt.cli:
            continue
        kind, _ = _field_type(f)
        default = getattr(defaults, f.name)
        text = (shown or {}).get(f.name, "off" if default is None else default)
        least = (opt.task_low or {}).get(task)
        at_least = f", at least {least[0]:g} for {least[1]}" if least else ""
        line = (opt.task_help or {}).get(task, f"{opt.help}{at_least} (default: {text})")
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=line)
        if not opt.applies_to(task):
            # not offered (hidden from --help), but parsed, so that the configuration's check refuses it
            # in one line naming the tasks it is for, rather than argparse's "unrecognized arguments"
            kw["help"] = argparse.SUPPRESS
        if kind is bool:
            parser.add_argument(flag(f.name), action="store_const", const=True, **kw)
            continue
        if opt.choices is not None:
            kw["choices"] = opt.choices
        parser.add_argument(flag(f.name), type=kind, metavar=None if opt.choices else f.name.upper(), **kw)
        if opt.off_flag:
            parser.add_argument(
                opt.off_flag,
                dest=f.name,
                action="store_const",
                const=None,
                default=argparse.SUPPRESS,
                help=f"no {opt.help}",
            )


def given_options(namespace: argparse.Namespace) -> dict:
    """The declared options present in a parsed namespace (the ones the user gave)."""
    return {
        f.name: getattr(namespace, f.name) for f, opt in options() if opt.cli and hasattr(namespace, f.name)
    }


def fixed_on_resume(given: dict) -> list[str]:
    """The flags among ``given`` that ``--resume`` does not take (the run keeps its own)."""
    on_resume = {f.name for f, opt in options() if opt.on_resume}
    return [flag(k) for k in given if k not in on_resume]
