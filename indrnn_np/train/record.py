"""Layer 4: a run's record (``run.json``): what makes it the same run, and the refusal of a changed one.

A new run records an id and every setting that changes its numbers, in the caller's words (the
command's flags, an estimator's keywords, ``train``'s arguments), with the objects it trains and its
task; a resume compares its own settings with the record and refuses any difference, naming each.
"""

from __future__ import annotations

import json
import numbers
import secrets
import time
from typing import TYPE_CHECKING

import numpy as np

from ..nn.models import leaf_layers
from .config import TrainConfig, flag, options
from .rundir import CheckpointError, RunChangedError, RunDir, RunDirError

if TYPE_CHECKING:
    from .state import RunState

#: Options that may change when a run resumes, the numbers staying what they would have been: more
#: steps, and the evaluation and checkpoint cadence (with the plateau schedule the evaluations
#: steer the learning rate, so there eval_every must stay). Declared on each option (``on_resume``).
MAY_DIFFER = tuple(f.name for f, opt in options() if opt.on_resume)

_SKIP = object()


def may_differ(plateau: bool) -> tuple[str, ...]:
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


def record_of(s: RunState) -> dict:
    """run.json of a new run: an id, and every setting that changes its numbers in the words the
    caller gave them (the command's flags, an estimator's keywords, ``train``'s arguments), the objects
    it trains and the task with its data."""
    differ = may_differ(hasattr(s.schedule, "observe"))
    if s.cfg is not None:
        words, settings = "flags", {k: v for k, v in s.cfg.to_dict().items() if k not in differ}
    elif s.words is not None:
        words, settings = "keywords", {k: v for k, v in s.words.items() if k not in differ}
    else:
        words, settings = "arguments", {}
    loop = {k: v for k, v in s.settings.items() if k not in (*differ, "steps", "task")}
    return jsonable(
        {
            "id": secrets.token_hex(8),
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "words": words,
            "settings": settings,
            "loop": loop,
            "task": s.settings["task"],
            "objects": _objects_record(s.model, s.optimizer, s.schedule),
        }
    )


def jsonable(obj):
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


def refuse_config_changes(run: RunDir, before: TrainConfig, now: TrainConfig) -> None:
    """RunChangedError naming each option (as its flag) in which ``now`` differs from the run's ``before``,
    the options that may change on a resume aside."""
    b, n = before.to_dict(), now.to_dict()
    differ = may_differ(before.schedule == "plateau")
    diffs = _changes(b, n, [k for k in n if k not in differ], flag)
    if diffs:
        _raise_changed(run, diffs, "Train with the run's settings, or in another folder")


def _refuse_changes(s: RunState, before: dict) -> None:
    """RunChangedError naming each difference between the run's record and these settings/objects."""
    diffs = _differences(before, s.record)
    if not diffs:
        return
    hint = {
        "flags": "Train with the run's settings (--resume takes them from it), or choose another --out",
        "keywords": "Fit with the run's values, or give another run_dir",
        "arguments": "Pass the run's values and objects built as before, or another run_dir",
    }[s.record["words"]]
    _raise_changed(s.folder, diffs, hint)


def _raise_changed(run: RunDir, diffs: list[str], hint: str):
    raise RunChangedError(
        f"{run.path} holds a run with other settings, so it was not continued: {'; '.join(diffs)}. {hint}",
        diffs,
    )


def check_belongs(s: RunState, meta: dict, log) -> None:
    """Refuse a checkpoint of another run and any changed setting; adopt the checkpoint's record.

    The folder's ``run.json`` and the checkpoint each carry the run's record: a checkpoint whose
    record id is not the folder's (copied in from another run) is refused and never loaded; one
    of an earlier version (no record) is accepted only in a folder without a record. Then these
    settings and objects are compared with the run's, naming each difference. ``s.record``
    becomes the run's (its id, kept by the checkpoints this run writes).
    """
    run = s.folder
    where = run.file(run.CHECKPOINT)
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
