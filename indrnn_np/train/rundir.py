"""A run folder: the one place that knows its files.

A run lives in one directory:

* ``metrics.csv``: one row per evaluation (step, train_loss, test metric,
  lr, max_abs_u, grad_norm, elapsed_s);
* ``checkpoint.npz``: everything needed to continue the run bit for bit.
  Arrays and one JSON text (``meta``), read with ``allow_pickle=False``;
  every metadata key and type is checked when it is read;
* ``summary.json``: the final metric, steps, wall time, parameter count and
  the configuration (``config``; None for a run of objects, whose settings are
  under ``run``: see :func:`indrnn_np.train.train_objects`);
* ``diverged.json``: written instead when the loss or a gradient became
  NaN or inf (the step, the parameter count and the message);
* ``run.json``: the run's record, written when it starts: its id and every
  setting that changes its numbers, in the words the run was started with
  (the command's flags, an estimator's keywords, ``train``'s arguments),
  the model, optimizer and schedule it trains, and its task and data. Every
  checkpoint carries the record's id: a resume refuses a checkpoint of
  another run, and any changed setting, naming each;
* ``curve.png``, ``evaluation.json`` and task files such as
  ``permutation.npy``;
* ``.lock`` while a process writes the run (:meth:`RunDir.writing`): one
  writer at a time, a second is refused naming the first.

Every file is written atomically (a temporary file in the same directory,
flushed and fsynced, then renamed over the old one: :mod:`indrnn_np.files`),
so a crash, a kill or Ctrl-C while saving leaves the previous version intact,
and the temporary files a kill leaves are removed when the run starts or
resumes; a metrics row is appended whole or not at all. A checkpoint carries a
SHA-256 of its own bytes: a damaged one is refused, never loaded. A write that
fails (a full disk, a quota, a file-size limit, lost permission) is one
:class:`indrnn_np.files.FileWriteError` naming the file. The files get the
user's usual permissions (0o666 less the umask, as ``open()`` gives).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..files import (
    CorruptFile,
    FileWriteError,
    FolderBusy,
    FolderLock,
    append_line,
    atomic_write,
    png_complete,
    read_checked_npz,
    remove_stale_temps,
    write_checked_npz,
)
from ..ops.device import to_host
from ..report import OutputError, check_writable_dir, check_writable_file, make_dir
from .config import ConfigError, TrainConfig

#: 2: checksummed (:func:`indrnn_np.files.npz_bytes`) and tied to its run (``run_id``). Format 1
#: (earlier versions, no checksum, no run record) is still read.
CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)
#: Format of ``run.json``.
RECORD_FORMAT = 1


class RunDirError(UserError):
    """A run folder that cannot be used as asked: printed as one line by the command line."""


class CheckpointError(RunDirError):
    """A checkpoint that cannot be read, or that does not fit the run."""


class RunBusyError(RunDirError):
    """Another live process is writing the run folder (it holds the folder's lock)."""


class RunChangedError(RunDirError):
    """A resume with settings, a model or data other than the run's; the message names each difference.

    Attributes
    ----------
    differences : list of str
        One entry per differing setting, in the caller's words.
    """

    def __init__(self, message: str, differences: list[str]):
        super().__init__(message)
        self.differences = differences


def metric_columns(metric: str) -> list[str]:
    """The columns of metrics.csv for a task whose test metric is ``metric``.

    Every test metric is read as lower-is-better (an error, an MSE, bits per character): the
    ``best`` of :func:`indrnn_np.experiments.curves.compare_runs` is the column's minimum.
    """
    return ["step", "train_loss", metric, "lr", "max_abs_u", "grad_norm", "elapsed_s"]


def metric_of_columns(columns) -> str:
    """The test metric named by metrics.csv's columns (the inverse of :func:`metric_columns`)."""
    columns = list(columns)
    if len(columns) < 3 or metric_columns(columns[2]) != columns:
        raise RunDirError(f"metrics.csv columns {columns} are not {metric_columns('<metric>')}")
    return columns[2]


#: The checkpoint's metadata: key -> allowed JSON types. ``config`` is None (JSON null) for a run
#: of objects (:func:`indrnn_np.train.train_objects`), which no TrainConfig can rebuild.
_META = {
    "format": (int,),
    "config": (dict, type(None)),
    "step": (int,),
    "elapsed_s": (int, float),
    "data_rng": (dict,),
    "acc": (dict,),
    "schedule": (dict,),
    "task": (dict,),
    "rng_layers": (dict,),
}
#: Keys a checkpoint may hold: ``run``, the loop's settings of a run of objects (steps, batch,
#: clipping, seed, the task's name, metric and description), which has no config; ``record``, the
#: run's record; ``stopped``, where and why a callback stopped the run (the checkpoint of its last step).
_OPTIONAL = {"run": (dict,), "record": (dict,), "stopped": (dict,)}
_STOPPED = {"step": (int,), "reason": (str,), "steps_asked": (int,)}
_ACC = {"loss_sum": (int, float), "count": (int,)}

#: What a command says when it is pointed at a run of objects.
OBJECT_RUN = (
    "{path} holds a run trained from Python objects (train(model, optimizer, task, run_dir, ...)): "
    "it has no TrainConfig to rebuild its task and model from; continue it from Python with the "
    "same objects and resume=True (an estimator's run_dir: fit again with it; predict with the "
    "estimator, or save and load it), or read its checkpoint with RunDir.load_checkpoint()"
)


class RunDir:
    """One run's folder. Nothing outside this class names its files.

    Parameters
    ----------
    path : path
        The folder (it need not exist yet).
    """

    #: The run's files outlive it (:class:`MemoryRun`: a run without a folder).
    persistent = True

    CHECKPOINT = "checkpoint.npz"
    METRICS = "metrics.csv"
    SUMMARY = "summary.json"
    DIVERGED = "diverged.json"
    CURVE = "curve.png"
    EVALUATION = "evaluation.json"
    RECORD = "run.json"
    #: Every file a run writes, besides its task's (:meth:`check_new` takes those).
    FILES = (CHECKPOINT, METRICS, SUMMARY, DIVERGED, CURVE, EVALUATION, RECORD)

    def __init__(self, path):
        if not str(path).strip():
            raise RunDirError("the run folder's path is empty: give a folder's name")
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    @contextlib.contextmanager
    def claim_first_free(cls, base):
        """A default run folder, claimed: the first of ``base``, ``base-2``, ... that this call creates.

        Each name is tried with ``os.mkdir``, which only one process can win: processes choosing a
        default at once (each still rehearsing its memory before it takes the folder's lock) get
        different folders. An existing folder is never taken (it may be another process's claim, still
        empty). On leaving the block the folder, and any parent this made, is removed again while it is
        empty: a run refused or stopped before it wrote anything leaves nothing behind.

        Parameters
        ----------
        base : path
            The default name (``runs/<task>_T<T>``).

        Yields
        ------
        RunDir
            The claimed (created, empty) folder.

        Raises
        ------
        OutputError
            The folder cannot be created.
        """
        base = Path(base)
        check_writable_dir(base.parent)
        missing = []
        p = base.absolute().parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        run, k = cls(base), 1
        try:
            make_dir(base.parent)
            while True:
                try:
                    os.mkdir(run.path)
                    break
                except FileExistsError:  # a run, a user's folder or file, or another process's claim
                    k += 1
                    run = cls(f"{base}-{k}")
                except OSError as exc:
                    raise OutputError(f"cannot create the folder {run.path}: {exc.strerror or exc}") from None
        except BaseException:
            _remove_made(missing)
            raise
        try:
            yield run
        finally:
            _remove_made([run.path.absolute(), *missing])

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------
    # What the folder holds
    # ------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return self.file(self.CHECKPOINT).exists()

    def is_diverged(self) -> bool:
        return self.file(self.DIVERGED).exists()

    def metric_rows(self) -> int:
        """How many evaluation rows metrics.csv holds (0 without the file)."""
        path = self.file(self.METRICS)
        if not path.exists():
            return 0
        with open(path, newline="") as fh:
            return max(0, sum(1 for row in csv.reader(fh) if row) - 1)

    def holds_run(self) -> bool:
        """True when the folder holds a step of a run: a checkpoint, metrics rows, a summary or a divergence."""
        return (
            self.has_checkpoint()
            or self.is_diverged()
            or self.file(self.SUMMARY).exists()
            or self.metric_rows() > 0
        )

    def check_not_diverged(self) -> None:
        """Raise RunDirError when the folder records a diverged run (it can neither resume nor restart)."""
        if self.is_diverged():
            raise RunDirError(
                f"{self.path}: the run diverged at step {self.read_diverged().get('step')} and cannot be "
                "continued; start over in another folder (train ... --out NEW_DIR), e.g. with a lower --lr"
            )

    def check_new(self, also=(), *, python: bool = False) -> None:
        """Raise RunDirError unless a new run may start here.

        A folder that does not exist may, and so may a run's folder with no completed step (a
        header-only metrics.csv: the files there are its own). Any other folder that holds a
        file the run would write (:data:`FILES`, or ``also``: the task's files) is refused
        rather than written over: the file is the user's. ``python``: the messages name the
        Python call's arguments (``resume=True``, ``run_dir``) rather than the command's flags.
        """
        self.check_not_diverged()
        resume, other = ("resume=True", "another run_dir") if python else (None, "another --out")
        holder = FolderLock.live_holder(self.path)
        if holder is not None:
            raise RunBusyError(
                f"{self.path} is being written by {holder}: wait for it to end, or choose {other}"
            )
        if self.has_checkpoint():
            raise RunDirError(
                f"{self.path} already holds a run; continue it with {resume or self.resume_command()}, "
                f"or choose {other}"
            )
        if self.holds_run():
            raise RunDirError(
                f"{self.path} holds metrics of a run but no checkpoint to continue it from; "
                f"choose {other}, or delete the folder to start over there"
            )
        if not self.path.is_dir() or self._started():
            return
        for name in (*self.FILES, *also):
            if self.file(name).exists():
                raise RunDirError(
                    f"{self.path} is not a run's folder and holds {name}, which a run would write over; "
                    f"choose {other} (a new or empty folder)"
                )

    def resume_command(self) -> str:
        """The whole command that continues the run here, ``python -m indrnn_np train TASK --resume PATH``
        with the run's recorded task (run.json's flags, else the checkpoint's configuration); without
        TASK, which the command then reads from the checkpoint, when neither names one."""
        task = None
        record = self.read_record()
        if record is not None and record.get("words") == "flags":
            task = record.get("settings", {}).get("task")
        if not isinstance(task, str):
            try:
                task = self.read_config().task
            except RunDirError:
                task = None
        return f"python -m indrnn_np train {task + ' ' if task else ''}--resume {self.path}"

    def _started(self) -> bool:
        """True when the folder holds a run that stopped before its first step: metrics.csv a run's header
        and nothing more, or no metrics.csv yet beside the run's record (a start that failed writing it,
        on a full disk, say)."""
        if not self.file(self.METRICS).exists():
            return self.read_record() is not None and not self.has_checkpoint()
        try:
            header, body = self._rows(None)
            metric_of_columns(header)
        except RunDirError:
            return False
        return not body

    def check_writable(self, name: str | None = None, *, also=()) -> None:
        """OutputError unless the folder can be created or written, and each of the run's files that
        exists there (and ``name``, and the task's files ``also``) can be rewritten in place; creates
        and changes nothing (:meth:`make` creates the folder). Checked before anything is rewritten."""
        check_writable_dir(self.path)
        if not self.path.is_dir():
            return
        names = [*self.FILES, *also] + ([name] if name is not None else [])
        for n in dict.fromkeys(names):
            if n == name or self.file(n).exists():
                check_writable_file(self.file(n))

    def make(self) -> None:
        """Create the folder (and its parents) if needed; OutputError when it cannot be."""
        make_dir(self.path)

    # ------------------------------------------------------------------
    # One writer
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, *, python: bool = False, resuming: bool = False, log=print):
        """Hold the folder's lock while a run writes it (created if needed; removed again, with the
        folder when this made it and nothing was written, when the block ends).

        On entry the temporary files of writers that were killed are removed (a one-line notice
        through ``log``), as is a lock a dead process left (a notice too).

        Raises
        ------
        OutputError
            The folder cannot be created or written.
        RunBusyError
            A live process holds the lock: one line naming it (pid, command, start time) and what to do.
        """
        self.check_writable()
        missing = []
        p = self.path.absolute()
        while not p.exists():
            missing.append(p)
            p = p.parent
        lock = FolderLock(self.path)
        try:
            for attempt in range(5):
                self.make()
                try:
                    notice = lock.acquire()
                    break
                except FileWriteError as exc:  # the folder went between make and lock (another
                    if exc.errno != errno.ENOENT or attempt == 4:  # process's check removed its probe)
                        raise
        except FolderBusy as exc:
            _remove_made(missing)
            other = "run_dir" if python else "--out"
            what = (
                "wait for it to end (or stop it with Ctrl-C, which saves a checkpoint) before resuming"
                if resuming
                else f"wait for it to end, or choose another {other}"
            )
            raise RunBusyError(f"{self.path} is being written by {exc}: {what}") from None
        except FileWriteError:
            _remove_made(missing)
            raise
        try:
            if notice:
                log(notice)
            removed = remove_stale_temps(self.path)
            if removed:
                log(
                    f"{self.path}: removed {len(removed)} temporary file(s) that a killed writer left "
                    f"({', '.join(p.name for p in removed[:3])}{', ...' if len(removed) > 3 else ''})"
                )
            yield self
        finally:
            lock.release()
            _remove_made(missing)

    # ------------------------------------------------------------------
    # The run's record
    # ------------------------------------------------------------------
    def write_record(self, record: dict) -> None:
        """Write ``run.json`` (the run's id and settings: :func:`indrnn_np.train.loop` builds it)."""
        self.write_json(self.RECORD, {"format": RECORD_FORMAT, **record})

    def read_record(self) -> dict | None:
        """``run.json``, or None when the folder has none (a run of an earlier version) or it cannot
        be read (the checkpoint's copy then stands in for it)."""
        if not self.file(self.RECORD).exists():
            return None
        try:
            record = self.read_json(self.RECORD)
        except RunDirError:
            return None
        if record.get("format") != RECORD_FORMAT or not isinstance(record.get("id"), str):
            return None
        return record

    # ------------------------------------------------------------------
    # Metrics
    # ------------------------------------------------------------------
    def start_metrics(self, columns: list[str]) -> None:
        """Write metrics.csv with its header only."""
        self._write_rows([columns])

    def append_metrics(self, row: list) -> None:
        """Append one evaluation row, whole or not at all (:func:`indrnn_np.files.append_line`); floats
        are written with repr (exact round trip)."""
        text = io.StringIO()
        csv.writer(text).writerow([repr(float(v)) if isinstance(v, float) else v for v in row])
        append_line(self.file(self.METRICS), text.getvalue())

    def read_metrics(self, columns: list[str] | None = None) -> dict[str, np.ndarray]:
        """metrics.csv as columns of floats, every row checked.

        Raises
        ------
        RunDirError
            Missing file, a header other than ``columns`` (when given), or a row
            that is not numbers in the header's columns with increasing steps;
            the message names the file and the line.
        """
        header, body = self._rows(columns)
        return {name: np.array([r[i] for r in body], dtype=np.float64) for i, name in enumerate(header)}

    def truncate_metrics(self, step: int, columns: list[str], *, recomputed: bool = True) -> str | None:
        """Keep the rows up to ``step`` (a resumed run recomputes the rest, unless ``recomputed`` is
        False: the run ends there), dropping a torn last row too; atomic. Returns a one-line notice of
        what was dropped (None: nothing)."""
        header, body, torn = self._rows(columns, torn_ok=True)
        keep = [r for r in body if r[0] <= step]
        dropped = len(body) - len(keep)
        if not dropped and not torn:
            return None
        self._write_rows([header] + [[int(r[0])] + [repr(v) for v in r[1:]] for r in keep])
        parts = []
        if dropped:
            why = "they are computed again" if recomputed else "no step after it"
            parts.append(f"{dropped} row(s) after the checkpoint's step {step} ({why})")
        if torn:
            parts.append("a torn last row (a write cut short)")
        return f"{self.file(self.METRICS)}: dropped {' and '.join(parts)}"

    def _rows(self, columns, *, torn_ok: bool = False):
        """``(header, rows)``; a last line without its newline (a row being written, or one a crash
        cut short) is not a row. ``torn_ok``: also pass over a last row that does not parse, and
        return ``(header, rows, torn)``."""
        path = self.file(self.METRICS)
        try:
            with open(path, newline="") as fh:
                text = fh.read()
        except FileNotFoundError:
            raise RunDirError(f"{path}: no metrics file there") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RunDirError(f"{path}: cannot be read ({exc})") from None
        torn = bool(text) and not text.endswith("\n")
        if torn and "\n" in text:
            text = text[: text.rindex("\n") + 1]
        try:
            rows = [r for r in csv.reader(io.StringIO(text))]
        except csv.Error as exc:
            raise RunDirError(f"{path}: cannot be read ({exc})") from None
        if not rows or (columns is not None and rows[0] != columns):
            want = ",".join(columns) if columns else "a header"
            got = ",".join(rows[0]) if rows else "an empty file"
            raise RunDirError(f"{path}, line 1: expected the header {want}; got {got}")
        header, body, last = rows[0], [], -1
        for i, r in enumerate(rows[1:], start=2):
            if not r:
                continue
            try:
                if len(r) != len(header):
                    raise ValueError(f"{len(r)} fields, expected {len(header)}")
                step = int(r[0])
                values = [float(v) for v in r[1:]]
                if step <= last:
                    raise ValueError(f"step {step} does not follow step {last}")
            except ValueError as exc:
                if torn_ok and i == len(rows):  # the last row, cut short before its newline was written
                    torn = True
                    break
                raise RunDirError(
                    f"{path}, line {i}: not a metrics row ({exc}): {','.join(r)[:80]}"
                ) from None
            body.append([step, *values])
            last = step
        return (header, body, torn) if torn_ok else (header, body)

    def _write_rows(self, rows) -> None:
        def write(fh):
            text = io.StringIO()
            csv.writer(text).writerows(rows)
            fh.write(text.getvalue().encode())

        atomic_write(self.file(self.METRICS), write)

    # ------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------
    def save_checkpoint(self, *, model, opt, meta: dict) -> None:
        """Write the model's parameters and buffers, the optimizer state and ``meta`` (with the run's
        ``record``, whose id ties the checkpoint to its run), atomically and checksummed."""
        # to_host: a model training on the GPU is copied back here, at the checkpoint only
        arrays = {f"param/{k}": to_host(v) for k, v in model.params.items()}
        arrays.update({f"buffer/{k}": to_host(v) for k, v in model.buffers.items()})
        arrays.update({f"opt/{k}": np.asarray(to_host(v)) for k, v in opt.state_dict().items()})
        full = {**meta, "format": CHECKPOINT_FORMAT, "rng_layers": model.rng_states()}
        arrays["meta"] = np.array(json.dumps(full))
        write_checked_npz(self.file(self.CHECKPOINT), arrays)

    def load_checkpoint(self) -> tuple[dict, dict]:
        """``(arrays, meta)``, with every metadata key and type checked and the config validated.

        Raises
        ------
        CheckpointError
            Missing, unreadable, or with metadata that is not what this
            version writes; the message names the file and the key.
        """
        arrays = self._read_checkpoint()
        return arrays, self._meta(arrays)

    def read_meta(self) -> dict:
        """The checkpoint's metadata alone (config validated), without decoding its arrays (the file's
        bytes are read once, for its checksum): what a command checks before it loads a model. Raises
        CheckpointError as :meth:`load_checkpoint`."""
        return self._meta(self._read_checkpoint(keys=("meta",)))

    def read_config(self) -> TrainConfig:
        """The run's TrainConfig, from the checkpoint's metadata (:meth:`config_of`)."""
        return self.config_of(self.read_meta())

    def config_of(self, meta: dict) -> TrainConfig:
        """``meta["config"]``, the TrainConfig that rebuilds the run's task and model.

        Raises
        ------
        RunDirError
            The run was trained from objects (:func:`indrnn_np.train.train_objects`): it has none.
        """
        if meta["config"] is None:
            raise RunDirError(OBJECT_RUN.format(path=self.path))
        return meta["config"]

    def _read_checkpoint(self, keys=None) -> dict:
        """The checkpoint's arrays (``keys``, or all), with ``"__checksum__"`` as
        :func:`indrnn_np.files.read_checked_npz` gives it; CheckpointError for anything unreadable."""
        path = self.file(self.CHECKPOINT)
        if self.path.exists() and not self.path.is_dir():
            raise CheckpointError(f"{self.path} is a file, not a run folder")
        try:
            return read_checked_npz(path, what="a readable indrnn-np checkpoint", keys=keys)
        except FileNotFoundError:
            if not self.path.exists():
                raise CheckpointError(f"{self.path}: no such folder, so no checkpoint there") from None
            raise CheckpointError(f"{path}: no checkpoint there") from None
        except CorruptFile as exc:
            raise CheckpointError(f"{exc}; it was not loaded, and is left as it is") from None

    def _meta(self, arrays: dict) -> dict:
        """The checked metadata of :meth:`_read_checkpoint`'s ``arrays``, taking ``meta`` and
        ``__checksum__`` out of them (what is left: the model's and optimizer's arrays)."""
        path = self.file(self.CHECKPOINT)
        text, checksum = arrays.pop("meta", None), arrays.pop("__checksum__")
        if text is None or text.dtype.kind != "U" or text.ndim != 0:
            raise CheckpointError(f"{path}: not an indrnn-np checkpoint (no metadata text)")
        try:
            meta = json.loads(str(text))
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: the metadata is not JSON ({exc.msg})") from None
        _check_meta(meta, path)
        if meta["format"] >= 2 and checksum != "ok":
            raise CheckpointError(
                f"{path}: damaged (a format-{meta['format']} checkpoint without its checksum); it was not "
                "loaded, and is left as it is"
            )
        return meta

    # ------------------------------------------------------------------
    # Summary, divergence, evaluation and other files
    # ------------------------------------------------------------------
    def write_json(self, name: str, obj) -> None:
        text = json.dumps(obj, indent=2, allow_nan=True).encode()
        atomic_write(self.file(name), lambda fh: fh.write(text))

    def read_json(self, name: str) -> dict:
        path = self.file(name)
        try:
            obj = json.loads(path.read_text())
        except FileNotFoundError:
            raise RunDirError(f"{path}: not there") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{path}: cannot be read ({exc})") from None
        if not isinstance(obj, dict):
            raise RunDirError(f"{path}: expected a JSON object; got {type(obj).__name__}")
        return obj

    def write_summary(self, summary: dict) -> None:
        self.write_json(self.SUMMARY, summary)

    def read_summary(self) -> dict | None:
        """summary.json, or None when the run has not finished."""
        return self.read_json(self.SUMMARY) if self.file(self.SUMMARY).exists() else None

    def summary_readable(self) -> bool:
        """True when summary.json is there and reads as a JSON object."""
        try:
            return self.read_summary() is not None
        except RunDirError:
            return False

    def mark_diverged(self, record: dict) -> None:
        self.write_json(self.DIVERGED, record)

    def read_diverged(self) -> dict:
        return self.read_json(self.DIVERGED)

    def write_evaluation(self, result: dict) -> None:
        self.write_json(self.EVALUATION, result)

    def save_array(self, name: str, array: np.ndarray) -> None:
        atomic_write(self.file(name), lambda fh: np.save(fh, array))

    def curve_path(self) -> Path:
        return self.file(self.CURVE)

    def curve_complete(self) -> bool:
        """True when curve.png is there and whole (a kill while it was drawn by an earlier version
        could leave it cut short)."""
        return png_complete(self.curve_path())


def _remove_made(folders) -> None:
    """Remove the folders in ``folders`` (deepest first) that are empty: the ones a refused run made."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            break


def _check_meta(meta, path) -> None:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: the metadata must be a JSON object; got a JSON {type(meta).__name__}")
    for key, types in _META.items():
        if key not in meta:
            raise CheckpointError(f"{path}: the metadata lacks the key {key!r}")
        if not isinstance(meta[key], types) or isinstance(meta[key], bool):
            raise CheckpointError(
                f"{path}: metadata key {key!r} must be {' or '.join(t.__name__ for t in types)}; "
                f"got {type(meta[key]).__name__}"
            )
    for key, types in _OPTIONAL.items():
        if key in meta and not isinstance(meta[key], types):
            raise CheckpointError(
                f"{path}: metadata key {key!r} must be {' or '.join(t.__name__ for t in types)}; "
                f"got {type(meta[key]).__name__}"
            )
    unknown = sorted(set(meta) - set(_META) - set(_OPTIONAL))
    if unknown:
        raise CheckpointError(f"{path}: the metadata has an unknown key {unknown[0]!r}")
    if meta["format"] not in READABLE_FORMATS:
        raise CheckpointError(
            f"{path}: checkpoint format {meta['format']}, expected one of {', '.join(map(str, READABLE_FORMATS))}"
        )
    if meta["step"] < 0 or not math.isfinite(meta["elapsed_s"]):
        raise CheckpointError(
            f"{path}: metadata step {meta['step']} / elapsed_s {meta['elapsed_s']} out of range"
        )
    stopped = meta.get("stopped", {"step": meta["step"], "reason": "", "steps_asked": meta["step"]})
    if stopped["step"] != meta["step"] or any(not isinstance(stopped.get(k), t) for k, t in _STOPPED.items()):
        raise CheckpointError(
            f"{path}: metadata key 'stopped' must hold the step {meta['step']}, a reason and steps_asked; "
            f"got {stopped!r}"
        )
    for key, types in _ACC.items():
        v = meta["acc"].get(key)
        if not isinstance(v, types) or isinstance(v, bool):
            raise CheckpointError(f"{path}: metadata key 'acc.{key}' missing or not a number")
    if meta["config"] is None:  # a run of objects
        return
    try:
        meta["config"] = TrainConfig.from_dict(meta["config"], where="the config")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


class MemoryRun:
    """A run without a folder: the loop's metrics rows kept in memory, nothing written.

    What :func:`indrnn_np.train.train` uses when ``run_dir`` is None (an estimator's ``fit``
    without ``run_dir``, say): no checkpoint, so Ctrl-C keeps nothing and a run cannot be
    resumed. The same methods as :class:`RunDir` that a new run calls.
    """

    persistent = False
    path = None

    def __init__(self):
        self.rows: list[list] = []
        self.columns: list[str] = []

    def __str__(self) -> str:
        return "no run folder"

    def has_checkpoint(self) -> bool:
        return False

    def check_new(self, also=None, *, python: bool = False) -> None:
        pass

    def check_writable(self, *names) -> None:
        pass

    def make(self) -> None:
        pass

    def start_metrics(self, columns: list[str]) -> None:
        self.columns = list(columns)

    def save_array(self, name: str, array) -> None:
        pass

    def append_metrics(self, row: list) -> None:
        self.rows.append(list(row))

    def read_metrics(self, columns: list[str] | None = None) -> dict[str, np.ndarray]:
        """The rows so far as columns of floats, as :meth:`RunDir.read_metrics`."""
        return {c: np.array([r[i] for r in self.rows], dtype=np.float64) for i, c in enumerate(self.columns)}

    def save_checkpoint(self, **kw) -> None:
        pass

    def mark_diverged(self, record: dict) -> None:
        pass

    def write_summary(self, summary: dict) -> None:
        pass
