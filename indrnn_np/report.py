"""Plain-text output shared by the commands: Markdown tables and JSON files checked before the work."""

from __future__ import annotations

import json
import os
import tempfile

from .errors import UserError
from .files import FileWriteError, write_text


class OutputError(UserError):
    """An output path that cannot be written (a one-line error on the command line)."""


def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """``rows`` as a Markdown table; ``columns`` are (key, header, format). A missing value prints as —."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, rule]
    for r in rows:
        cells = ["—" if r.get(key) is None else format(r[key], fmt) for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_writable_file(path) -> None:
    """Raise OutputError unless ``path`` can be created or overwritten (checked before a long job).

    Nothing is left behind: the folder is tried with a temporary file that is removed at once, an
    existing file is opened for appending and closed unchanged.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: a folder is in the way")
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise OutputError(f"cannot write {path}: the folder {folder} {what}")
    try:
        if os.path.exists(path):
            with open(path, "ab"):
                pass
        else:
            _try_folder(folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_writable_dir(path) -> None:
    """Raise OutputError unless the folder ``path`` exists and is writable, or can be created.

    Checked before any work and without leaving anything behind: folders that had to be created
    for the check are removed again (:func:`make_dir` creates them when the output is written).
    """
    if not os.fspath(path):
        raise OutputError("cannot write into '': the output folder's path is empty")
    path = os.path.abspath(os.fspath(path))
    missing = []
    existing = path
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputError(
            f"cannot create the folder {path}: {existing} is a file, not a folder"
            if missing
            else f"cannot write into {path}: it is a file, not a folder"
        )
    made = []
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
                made.append(folder)
            except FileExistsError:  # another process made it meanwhile (a second run starting): fine
                if not os.path.isdir(folder):
                    raise
        _try_folder(path)
    except OSError as exc:
        what = "create the folder" if missing else "write into the folder"
        raise OutputError(f"cannot {what} {path}: {exc.strerror or exc}") from None
    finally:
        for folder in reversed(made):  # deepest first; only the ones this check made
            try:
                os.rmdir(folder)
            except OSError:
                pass


def make_dir(path) -> None:
    """Create the folder ``path`` (and its parents) when output is about to be written; OutputError if it cannot be."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path}: {exc.strerror or exc}") from None


def _try_folder(folder) -> None:
    """Create and remove a file in ``folder``: the one test of writing that also holds for root and
    read-only file systems (``os.access`` says yes to root on /proc)."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def write_json(obj, path) -> None:
    """Write ``obj`` as indented JSON; OutputError (one line) when the file cannot be written."""
    try:
        write_text(path, json.dumps(obj, indent=2))
    except FileWriteError as exc:
        raise OutputError(str(exc)) from None
